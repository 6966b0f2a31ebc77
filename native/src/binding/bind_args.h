// Readers of JS option objects, shared by the bind_*.cpp files. TS validates every option first;
// these are the C++ re-check: a missing field (undefined or null) takes its default, a field of the
// wrong type is a TypeError that names it ("synth spec: rmsEps must be a number").
#pragma once
#include <napi.h>

#include <string>

namespace moerig::args {

inline bool missing(const Napi::Value & v) { return v.IsUndefined() || v.IsNull(); }

[[noreturn]] inline void wrong_type(const Napi::Object & o, const char * what, const char * key, const char * type) {
    throw Napi::TypeError::New(o.Env(), (*what ? std::string(what) + ": " : std::string()) + key + " must be " + type);
}

inline double get_num(const Napi::Object & o, const char * key, double dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsNumber()) wrong_type(o, what, key, "a number");
    return v.As<Napi::Number>().DoubleValue();
}

inline int get_int(const Napi::Object & o, const char * key, int dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsNumber()) wrong_type(o, what, key, "a number");
    return v.As<Napi::Number>().Int32Value();
}

inline bool get_bool(const Napi::Object & o, const char * key, bool dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsBoolean()) wrong_type(o, what, key, "a boolean");
    return v.As<Napi::Boolean>().Value();
}

inline std::string get_str(const Napi::Object & o, const char * key, const std::string & dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsString()) wrong_type(o, what, key, "a string");
    return v.As<Napi::String>().Utf8Value();
}

/** A string that must be present: "synth spec: missing arch". */
inline std::string require_str(const Napi::Object & o, const char * key, const char * what = "") {
    if (missing(o.Get(key))) throw Napi::TypeError::New(o.Env(), (*what ? std::string(what) + ": " : std::string()) + "missing " + key);
    return get_str(o, key, "", what);
}

} // namespace moerig::args
