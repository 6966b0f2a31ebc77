// Readers of JS arguments and option objects, the only ones the bind_*.cpp files use. TS validates
// every option first; these are the C++ re-check: a missing field (undefined or null) takes its
// default, a field of the wrong type is a TypeError that names it ("synth spec: rmsEps must be a
// number"). `what` prefixes the message ("synth spec", "memBandwidth"); "" leaves it bare.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace moerig::binding {

inline bool missing(const Napi::Value & v) { return v.IsUndefined() || v.IsNull(); }

inline std::string prefixed(const char * what, const std::string & msg) {
    return *what ? std::string(what) + ": " + msg : msg;
}

[[noreturn]] inline void type_error(Napi::Env env, const char * what, const std::string & msg) {
    throw Napi::TypeError::New(env, prefixed(what, msg));
}

// "undefined", "a number", "an array", … for messages that say what came instead.
inline std::string js_type_name(const Napi::Value & v) {
    if (v.IsUndefined()) return "undefined";
    if (v.IsNull()) return "null";
    if (v.IsBoolean()) return "a boolean";
    if (v.IsNumber()) return "a number";
    if (v.IsString()) return "a string";
    if (v.IsFunction()) return "a function";
    if (v.IsArray()) return "an array";
    if (v.IsExternal()) return "a native handle of another kind";
    return "an object";
}

// ---------------------------------------------------------------- fields of an option object

inline double get_num(const Napi::Object & o, const char * key, double dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsNumber()) type_error(o.Env(), what, std::string(key) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
}

inline int get_int(const Napi::Object & o, const char * key, int dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsNumber()) type_error(o.Env(), what, std::string(key) + " must be a number");
    return v.As<Napi::Number>().Int32Value();
}

inline bool get_bool(const Napi::Object & o, const char * key, bool dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsBoolean()) type_error(o.Env(), what, std::string(key) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
}

inline std::string get_str(const Napi::Object & o, const char * key, const std::string & dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsString()) type_error(o.Env(), what, std::string(key) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
}

// A string that must be present: "synth spec: missing arch".
inline std::string require_str(const Napi::Object & o, const char * key, const char * what = "") {
    if (missing(o.Get(key))) type_error(o.Env(), what, std::string("missing ") + key);
    return get_str(o, key, "", what);
}

// A non-negative integer below 2^32: "synth spec: nLayer must be a non-negative integer".
inline uint32_t get_u32(const Napi::Object & o, const char * key, uint32_t dflt, const char * what = "") {
    Napi::Value v = o.Get(key);
    if (missing(v)) return dflt;
    if (!v.IsNumber()) type_error(o.Env(), what, std::string(key) + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint64_t>(d)))
        type_error(o.Env(), what, std::string(key) + " must be a non-negative integer");
    return static_cast<uint32_t>(d);
}

// get_u32 of a field that must be present: "synth spec: missing nLayer".
inline uint32_t require_u32(const Napi::Object & o, const char * key, const char * what = "") {
    if (missing(o.Get(key))) type_error(o.Env(), what, std::string("missing ") + key);
    return get_u32(o, key, 0, what);
}

// An integral JS number within [lo, hi], named `name` in messages ("memBandwidth: nodes[0].id must
// be an integer, got 1.5"). Callers pass ranges wider than the engine's own so that the engine's
// validation gives the message for values that are merely out of range.
inline double to_integer(const Napi::Value & v, const std::string & name, double lo, double hi,
                         const char * what = "") {
    if (!v.IsNumber()) type_error(v.Env(), what, name + " must be an integer");
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(x) || std::trunc(x) != x)
        type_error(v.Env(), what, name + " must be an integer, got " + v.ToString().Utf8Value());
    if (x < lo || x > hi) type_error(v.Env(), what, name + " is out of range (" + v.ToString().Utf8Value() + ")");
    return x;
}

// ---------------------------------------------------------------- positional arguments

inline Napi::Value arg(const Napi::CallbackInfo & info, size_t i) {
    return info.Length() > i ? info[i] : info.Env().Undefined();
}

inline Napi::Object arg_object(const Napi::CallbackInfo & info, size_t i, const char * what) {
    Napi::Value v = arg(info, i);
    if (!v.IsObject()) type_error(info.Env(), "", std::string(what) + " must be an object");
    return v.As<Napi::Object>();
}

inline Napi::Function arg_function(const Napi::CallbackInfo & info, size_t i, const char * what) {
    Napi::Value v = arg(info, i);
    if (!v.IsFunction()) type_error(info.Env(), "", std::string(what) + " must be a function");
    return v.As<Napi::Function>();
}

// An optional callback: undefined gives an empty Napi::Function, anything else but a function is
// a TypeError.
inline Napi::Function arg_optional_function(const Napi::CallbackInfo & info, size_t i, const char * what) {
    Napi::Value v = arg(info, i);
    return v.IsUndefined() ? Napi::Function() : arg_function(info, i, what);
}

// A handle made by Napi::External<H> and tagged with H::tag (napi_type_tag_object), so a model
// handle passed where a context handle belongs is a TypeError, not a cast of the wrong pointer.
template <typename H>
Napi::External<H> make_handle(Napi::Env env, H * h) {
    auto e = Napi::External<H>::New(env, h, [](Napi::Env, H * x) { delete x; });
    e.TypeTag(&H::tag);
    return e;
}

template <typename H>
H * arg_handle(const Napi::CallbackInfo & info, size_t i) {
    Napi::Value v = arg(info, i);
    if (!v.IsExternal() || !v.As<Napi::External<H>>().CheckTypeTag(&H::tag))
        type_error(info.Env(), "",
                   std::string(H::kind) + " handle expected (from " + H::made_by + "), got " + js_type_name(v));
    return v.As<Napi::External<H>>().Data();
}

} // namespace moerig::binding
