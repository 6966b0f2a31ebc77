// decodeKernels(opts, onProgress?) -> Promise<KernelResult[]>: converts the JS options to
// kernels::Options, runs kernels::run on a libuv worker thread (a StreamWorker: progress arrives in
// order before the promise settles) and converts the results back. decodeKernelsStop() ends a run
// after its current graph. Types: src/engine/addon.ts. Engine: native/src/engine/kernels.h.
#include <memory>
#include <string>
#include <utility>

#include "binding/args.h"
#include "binding/bindings.h"
#include "binding/workers.h"
#include "engine/kernels.h"

namespace moerig::binding {
namespace {

constexpr const char * kWhat     = "decodeKernels";
constexpr double       kIntRange = 2147483647.0;
constexpr double       kMaxRows  = 9007199254740991.0; // Number.MAX_SAFE_INTEGER

struct Progress {
    size_t done  = 0;
    size_t total = 0;
};

kernels::Case parse_case(const Napi::Value & v, const std::string & at) {
    if (!v.IsObject() || v.IsArray())
        type_error(v.Env(), kWhat,
                   at + " must be an object {type, k, rows, ops, repeat, cols?, experts?, used?, heads?, kvHeads?, "
                        "dv?, latent?}");
    Napi::Object  o = v.As<Napi::Object>();
    kernels::Case c;
    Napi::Value   t = o.Get("type");
    if (!t.IsString()) type_error(v.Env(), kWhat, at + ".type must be a string");
    c.type           = t.As<Napi::String>().Utf8Value();
    c.k              = int64_t(to_integer(o.Get("k"), at + ".k", 0, kMaxRows, kWhat));
    c.rows           = int64_t(to_integer(o.Get("rows"), at + ".rows", 0, kMaxRows, kWhat));
    c.ops            = int(to_integer(o.Get("ops"), at + ".ops", 0, kIntRange, kWhat));
    c.repeat         = int(to_integer(o.Get("repeat"), at + ".repeat", 0, kIntRange, kWhat));
    Napi::Value cols = o.Get("cols");
    if (!cols.IsUndefined()) c.cols = int64_t(to_integer(cols, at + ".cols", 0, kIntRange, kWhat));
    Napi::Value experts = o.Get("experts");
    if (!experts.IsUndefined()) c.experts = int(to_integer(experts, at + ".experts", 0, kIntRange, kWhat));
    Napi::Value used = o.Get("used");
    if (!used.IsUndefined()) c.used = int(to_integer(used, at + ".used", 0, kIntRange, kWhat));
    Napi::Value heads = o.Get("heads");
    if (!heads.IsUndefined()) c.heads = int(to_integer(heads, at + ".heads", 0, kIntRange, kWhat));
    Napi::Value kv_heads = o.Get("kvHeads");
    if (!kv_heads.IsUndefined()) c.kv_heads = int(to_integer(kv_heads, at + ".kvHeads", 0, kIntRange, kWhat));
    Napi::Value dv = o.Get("dv");
    if (!dv.IsUndefined()) c.dv = int64_t(to_integer(dv, at + ".dv", 0, kMaxRows, kWhat));
    Napi::Value latent = o.Get("latent");
    if (!latent.IsUndefined()) {
        if (!latent.IsBoolean()) type_error(v.Env(), kWhat, at + ".latent must be a boolean");
        c.latent = latent.As<Napi::Boolean>().Value();
    }
    return c;
}

kernels::Options parse_options(Napi::Env env, const Napi::Value & v) {
    if (!v.IsObject() || v.IsArray())
        type_error(env, kWhat, "options must be an object {cases, threads, minSeconds, minIters, extraBufts}");
    Napi::Object     o = v.As<Napi::Object>();
    kernels::Options opt;
    Napi::Value      cases = o.Get("cases");
    if (!cases.IsArray()) type_error(env, kWhat, "cases must be an array");
    Napi::Array ca = cases.As<Napi::Array>();
    for (uint32_t i = 0; i < ca.Length(); i++)
        opt.cases.push_back(parse_case(ca.Get(i), "cases[" + std::to_string(i) + "]"));
    Napi::Value threads = o.Get("threads");
    if (!threads.IsArray()) type_error(env, kWhat, "threads must be an array of thread counts");
    Napi::Array ta = threads.As<Napi::Array>();
    for (uint32_t i = 0; i < ta.Length(); i++)
        opt.threads.push_back(
            int(to_integer(ta.Get(i), "threads[" + std::to_string(i) + "]", -kIntRange, kIntRange, kWhat)));
    opt.min_seconds = get_num(o, "minSeconds", opt.min_seconds, kWhat);
    opt.min_iters   = get_int(o, "minIters", opt.min_iters, kWhat);
    opt.extra_bufts = get_bool(o, "extraBufts", opt.extra_bufts, kWhat);
    return opt;
}

Napi::Array results_js(Napi::Env env, const std::vector<kernels::Result> & rs) {
    Napi::Array out = Napi::Array::New(env, rs.size());
    for (size_t i = 0; i < rs.size(); i++) {
        const kernels::Result & r = rs[i];
        Napi::Object            o = Napi::Object::New(env);
        o.Set("type", r.type);
        o.Set("k", double(r.k));
        o.Set("rows", double(r.rows));
        o.Set("ops", r.ops);
        o.Set("repeat", r.repeat);
        o.Set("cols", double(r.cols));
        if (r.heads > 0) o.Set("heads", r.heads);
        if (r.kv_heads > 0) {
            o.Set("kvHeads", r.kv_heads);
            o.Set("dv", double(r.dv));
            o.Set("latent", r.latent);
        }
        if (r.experts > 0) {
            o.Set("experts", r.experts);
            o.Set("used", r.used);
        }
        o.Set("weightBytes", r.weight_bytes);
        o.Set("buffer", r.buffer);
        Napi::Array ts = Napi::Array::New(env, r.timings.size());
        for (size_t j = 0; j < r.timings.size(); j++) {
            Napi::Object t = Napi::Object::New(env);
            t.Set("threads", r.timings[j].threads);
            t.Set("iters", r.timings[j].iters);
            t.Set("bestS", r.timings[j].best_s);
            t.Set("medianS", r.timings[j].median_s);
            ts.Set(uint32_t(j), t);
        }
        o.Set("timings", ts);
        out.Set(uint32_t(i), o);
    }
    return out;
}

// Bad options reject the promise (never throw synchronously), as memBandwidth does.
Napi::Value js_decode_kernels(const Napi::CallbackInfo & info) {
    Napi::Env        env = info.Env();
    kernels::Options opt;
    Napi::Function   on_progress;
    try {
        on_progress = arg_optional_function(info, 1, "decodeKernels: onProgress");
        opt         = parse_options(env, arg(info, 0));
        kernels::validate(opt);
    } catch (const Napi::Error & e) {
        return rejected(env, e.Value());
    } catch (const std::exception & e) {
        return rejected(env, Napi::Error::New(env, std::string(kWhat) + ": " + e.what()).Value());
    }
    kernels::clear_stop();
    auto result = std::make_shared<std::vector<kernels::Result>>();
    using W     = StreamWorker<Progress>;
    return W::start(
        env, "moerig.decodeKernels", on_progress,
        [opt, result](const W::Send & send) {
            *result = kernels::run(opt, kernels::stop_requested, [&send](size_t done, size_t total) {
                if (!send) return;
                Progress p{done, total};
                send(&p, 1);
            });
        },
        [](Napi::Env env, const Progress * p, size_t) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("done", double(p->done));
            o.Set("total", double(p->total));
            return (Napi::Value) o;
        },
        [result](Napi::Env env) { return (Napi::Value) results_js(env, *result); });
}

Napi::Value js_decode_kernels_stop(const Napi::CallbackInfo & info) {
    kernels::request_stop();
    return info.Env().Undefined();
}

} // namespace

void register_kernels(Napi::Env env, Napi::Object exports) {
    exports.Set("decodeKernels", Napi::Function::New(env, js_decode_kernels, "decodeKernels"));
    exports.Set("decodeKernelsStop", Napi::Function::New(env, js_decode_kernels_stop, "decodeKernelsStop"));
}

} // namespace moerig::binding
