// Binding of the runner engine (engine.h): JS values ⇄ plain structs, slow calls on worker threads.
// Handles are Napi::External over shared_ptr holders so that dispose() frees deterministically
// while a call still in flight keeps what it uses alive until it returns.
// Typed on the TS side in src/engine/addon.ts (llama section).
#include <napi.h>

#include <functional>
#include <memory>

#include "binding/args.h"
#include "binding/bindings.h"
#include "binding/workers.h"
#include "engine/engine.h"

namespace moerig::binding {
namespace {

// Handles: JS holds an External over one of these; the type tag (args.h make_handle) tells a
// model handle from a context handle.
struct ModelHandle {
    static constexpr const char * kind    = "model";
    static constexpr const char * made_by = "llamaLoadModel";
    static const napi_type_tag    tag;
    std::shared_ptr<Model>        m;
};
struct CtxHandle {
    static constexpr const char * kind    = "context";
    static constexpr const char * made_by = "llamaCreateContext";
    static const napi_type_tag    tag;
    std::shared_ptr<Model>        m; // declared first: destroyed after the context
    std::shared_ptr<Context>      c;
};
// arbitrary 128-bit values, unique to this addon (napi_type_tag_object compares them)
const napi_type_tag ModelHandle::tag = {0x6d6f65726967a11cULL, 0x8c3e5b0f2d4a7e91ULL};
const napi_type_tag CtxHandle::tag   = {0x6d6f65726967c7e5ULL, 0x1f9b2c6d83a4e057ULL};

Napi::Array str_array(Napi::Env env, const std::vector<std::string> & v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t) i, Napi::String::New(env, v[i]));
    return a;
}

// nanoseconds as JS numbers (exact below 2^53 ns, 104 days)
Napi::Array ns_array(Napi::Env env, const std::vector<uint64_t> & v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (size_t i = 0; i < v.size(); i++) a.Set((uint32_t) i, (double) v[i]);
    return a;
}

constexpr const char * kAsyncName  = "moerig:llama";
constexpr const char * kStreamName = "moerig:llama-stream";

// ---------------------------------------------------------------- init

Napi::Value js_llama_init(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "libDir must be a string");
    std::string              lib_dir = info[0].As<Napi::String>().Utf8Value();
    std::vector<std::string> extra;
    if (info.Length() > 1 && !missing(info[1])) {
        if (!info[1].IsArray()) throw Napi::TypeError::New(env, "extraLibs must be an array of strings");
        Napi::Array a = info[1].As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
            if (!a.Get(i).IsString()) throw Napi::TypeError::New(env, "extraLibs must be an array of strings");
            extra.push_back(a.Get(i).As<Napi::String>().Utf8Value());
        }
    }
    std::string variant;
    if (info.Length() > 2 && !missing(info[2])) {
        if (!info[2].IsString()) throw Napi::TypeError::New(env, "cpuVariant must be a string");
        variant = info[2].As<Napi::String>().Utf8Value();
    }
    RpcSetup rpc;
    if (info.Length() > 3 && !missing(info[3])) {
        if (!info[3].IsString()) throw Napi::TypeError::New(env, "rpcLib must be a string");
        rpc.lib = info[3].As<Napi::String>().Utf8Value();
    }
    if (info.Length() > 4 && !missing(info[4])) {
        if (!info[4].IsArray()) throw Napi::TypeError::New(env, "rpcServers must be an array of strings");
        Napi::Array a = info[4].As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
            if (!a.Get(i).IsString()) throw Napi::TypeError::New(env, "rpcServers must be an array of strings");
            rpc.servers.push_back(a.Get(i).As<Napi::String>().Utf8Value());
        }
    }
    if (!rpc.servers.empty() && rpc.lib.empty()) throw Napi::TypeError::New(env, "rpcServers need rpcLib");
    auto st = std::make_shared<EngineState>();
    return run_async(
        env, kAsyncName, [=] { *st = engine_init(lib_dir, extra, variant, rpc); },
        [st](Napi::Env env) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("loaded", str_array(env, st->loaded));
            o.Set("failed", str_array(env, st->failed));
            Napi::Array devs = Napi::Array::New(env, st->devices.size());
            for (size_t i = 0; i < st->devices.size(); i++) {
                const DeviceInfo & d = st->devices[i];
                Napi::Object       x = Napi::Object::New(env);
                x.Set("name", d.name);
                x.Set("description", d.description);
                x.Set("type", d.type);
                x.Set("backend", d.backend);
                x.Set("freeBytes", (double) d.free_bytes);
                x.Set("totalBytes", (double) d.total_bytes);
                devs.Set((uint32_t) i, x);
            }
            o.Set("devices", devs);
            Napi::Array vs = Napi::Array::New(env, st->cpu_variants.size());
            for (size_t i = 0; i < st->cpu_variants.size(); i++) {
                const CpuVariant & v = st->cpu_variants[i];
                Napi::Object       x = Napi::Object::New(env);
                x.Set("name", v.name);
                x.Set("score", v.score);
                x.Set("loadable", v.score > 0);
                vs.Set((uint32_t) i, x);
            }
            o.Set("cpuVariants", vs);
            o.Set("cpuVariant", st->cpu_variant);
            o.Set("cpuVariantBest", st->cpu_variant_best);
            o.Set("cpuExtraBufferTypes", str_array(env, st->extra_bufts));
            return o;
        });
}

// ---------------------------------------------------------------- model

Napi::Value js_llama_load_model(const Napi::CallbackInfo & info) {
    Napi::Env    env = info.Env();
    Napi::Object o   = arg_object(info, 0, "model params");
    ModelParams  p;
    p.path = get_str(o, "path", "");
    if (p.path.empty()) throw Napi::TypeError::New(env, "model params: path is required");
    p.n_gpu_layers    = get_int(o, "nGpuLayers", 0);
    p.split_mode      = get_str(o, "splitMode", "layer");
    p.main_gpu        = get_int(o, "mainGpu", 0);
    p.n_cpu_moe       = get_int(o, "nCpuMoe", 0);
    p.use_mmap        = get_bool(o, "mmap", true);
    p.use_mlock       = get_bool(o, "mlock", false);
    p.numa            = get_str(o, "numa", "disabled");
    p.use_extra_bufts = get_bool(o, "useExtraBufts", true);
    Napi::Value dv    = o.Get("devices");
    if (!missing(dv)) {
        if (!dv.IsArray()) throw Napi::TypeError::New(env, "model params: devices must be an array of device names");
        Napi::Array a = dv.As<Napi::Array>();
        p.has_devices = true;
        for (uint32_t i = 0; i < a.Length(); i++) {
            if (!a.Get(i).IsString())
                throw Napi::TypeError::New(env, "model params: devices must be an array of device names");
            p.devices.push_back(a.Get(i).As<Napi::String>().Utf8Value());
        }
    }
    Napi::Value ts = o.Get("tensorSplit");
    if (!missing(ts)) {
        if (!ts.IsArray()) throw Napi::TypeError::New(env, "model params: tensorSplit must be an array of numbers");
        Napi::Array a = ts.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
            if (!a.Get(i).IsNumber())
                throw Napi::TypeError::New(env, "model params: tensorSplit must be an array of numbers");
            p.tensor_split.push_back(a.Get(i).As<Napi::Number>().FloatValue());
        }
    }
    Napi::Value ov = o.Get("tensorOverrides");
    if (!missing(ov)) {
        if (!ov.IsArray()) throw Napi::TypeError::New(env, "model params: tensorOverrides must be an array");
        Napi::Array a = ov.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
            if (!a.Get(i).IsObject())
                throw Napi::TypeError::New(env, "model params: tensorOverrides entries must be {pattern, device}");
            Napi::Object x = a.Get(i).As<Napi::Object>();
            p.overrides.push_back(
                {require_str(x, "pattern", "tensor override"), require_str(x, "device", "tensor override")});
        }
    }
    auto holder = std::make_shared<std::shared_ptr<Model>>();
    return run_async(
        env, kAsyncName, [=] { *holder = std::shared_ptr<Model>(model_load(p)); },
        [holder](Napi::Env env) {
            const Model & m = **holder;
            auto *        h = new ModelHandle{*holder};
            Napi::Object  o = Napi::Object::New(env);
            o.Set("handle", make_handle(env, h));
            Napi::Object i = Napi::Object::New(env);
            i.Set("desc", m.info.desc);
            i.Set("arch", m.info.arch);
            i.Set("name", m.info.name);
            i.Set("sizeBytes", (double) m.info.size_bytes);
            i.Set("nParams", (double) m.info.n_params);
            i.Set("nLayer", m.info.n_layer);
            i.Set("nExpert", m.info.n_expert);
            i.Set("nExpertUsed", m.info.n_expert_used);
            i.Set("nVocab", m.info.n_vocab);
            i.Set("nCtxTrain", m.info.n_ctx_train);
            o.Set("info", i);
            o.Set("log", str_array(env, m.load_log));
            o.Set("amxGuarded", str_array(env, m.amx_guarded));
            return o;
        });
}

Napi::Value js_llama_dispose_model(const Napi::CallbackInfo & info) {
    arg_handle<ModelHandle>(info, 0)->m.reset();
    return info.Env().Undefined();
}

// ---------------------------------------------------------------- context

Napi::Value js_llama_create_context(const Napi::CallbackInfo & info) {
    Napi::Env     env = info.Env();
    ModelHandle * mh  = arg_handle<ModelHandle>(info, 0);
    if (!mh->m) throw Napi::Error::New(env, "the model has been disposed");
    Napi::Object  o = arg_object(info, 1, "context params");
    ContextParams p;
    p.n_ctx      = get_int(o, "nCtx", 0);
    p.n_batch    = get_int(o, "nBatch", 2048);
    p.n_ubatch   = get_int(o, "nUbatch", 512);
    p.type_k     = get_str(o, "typeK", "f16");
    p.type_v     = get_str(o, "typeV", "f16");
    p.flash_attn = get_str(o, "flashAttn", "auto");
    p.op_offload = get_bool(o, "opOffload", true);
    p.threads    = get_int(o, "threads", 0);
    p.trace      = get_bool(o, "trace", false);
    auto model   = mh->m;
    auto holder  = std::make_shared<std::shared_ptr<Context>>();
    return run_async(
        env, kAsyncName, [=] { *holder = std::shared_ptr<Context>(context_create(*model, p)); },
        [holder, model](Napi::Env env) {
            const Context & c = **holder;
            auto *          h = new CtxHandle{model, *holder};
            Napi::Object    o = Napi::Object::New(env);
            o.Set("handle", make_handle(env, h));
            o.Set("nCtx", c.n_ctx);
            o.Set("nBatch", c.n_batch);
            o.Set("nUbatch", c.n_ubatch);
            o.Set("threads", c.threads);
            o.Set("log", str_array(env, c.create_log));
            return o;
        });
}

Napi::Value js_llama_dispose_context(const Napi::CallbackInfo & info) {
    CtxHandle * h = arg_handle<CtxHandle>(info, 0);
    if (h->c) h->c->stop = true; // a call in flight stops at its next step, then frees
    h->c.reset();
    h->m.reset();
    return info.Env().Undefined();
}

Napi::Value js_llama_stop(const Napi::CallbackInfo & info) {
    CtxHandle * h = arg_handle<CtxHandle>(info, 0);
    if (h->c) h->c->stop = true;
    return info.Env().Undefined();
}

std::shared_ptr<Context> live_context(const Napi::CallbackInfo & info) {
    CtxHandle * h = arg_handle<CtxHandle>(info, 0);
    if (!h->c) throw Napi::Error::New(info.Env(), "the context has been disposed");
    return h->c;
}

// ---------------------------------------------------------------- bench

struct RepMsg {
    int      index;
    uint64_t ns;
};

Napi::Value js_llama_bench(const Napi::CallbackInfo & info) {
    Napi::Env    env = info.Env();
    auto         ctx = live_context(info);
    Napi::Object o   = arg_object(info, 1, "bench spec");
    BenchSpec    s;
    s.n_prompt = get_int(o, "nPrompt", 0);
    s.n_gen    = get_int(o, "nGen", 0);
    s.n_depth  = get_int(o, "nDepth", 0);
    s.reps     = get_int(o, "reps", 5);
    s.warmup   = get_bool(o, "warmup", true);
    if (s.n_prompt < 0 || s.n_gen < 0 || s.n_prompt + s.n_gen == 0)
        throw Napi::RangeError::New(env, "bench: nPrompt or nGen must be > 0");
    if (s.n_depth < 0) throw Napi::RangeError::New(env, "bench: nDepth must be >= 0");
    if (s.reps < 1) throw Napi::RangeError::New(env, "bench: reps must be >= 1");
    Napi::Function on_rep  = arg_function(info, 2, "onRep");
    auto           samples = std::make_shared<std::vector<uint64_t>>();
    auto           tokens  = std::make_shared<std::vector<uint64_t>>();
    using W                = StreamWorker<RepMsg>;
    return W::start(
        env, kStreamName, on_rep,
        [ctx, s, samples, tokens](const W::Send & send) {
            *samples = bench_run(
                *ctx, s,
                [&](int i, uint64_t ns) {
                    RepMsg m{i, ns};
                    send(&m, 1);
                },
                tokens.get());
        },
        [](Napi::Env env, const RepMsg * msg, size_t) {
            const RepMsg & m = *msg;
            Napi::Object   x = Napi::Object::New(env);
            x.Set("index", m.index);
            x.Set("ns", (double) m.ns);
            return (Napi::Value) x;
        },
        [samples, tokens, ctx](Napi::Env env) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("samplesNs", ns_array(env, *samples));
            o.Set("tokenNs", ns_array(env, *tokens));
            o.Set("stopped", ctx->stop.load());
            return (Napi::Value) o;
        });
}

// ---------------------------------------------------------------- generate

Napi::Value js_llama_generate(const Napi::CallbackInfo & info) {
    Napi::Env    env = info.Env();
    auto         ctx = live_context(info);
    Napi::Object o   = arg_object(info, 1, "generate spec");
    GenerateSpec s;
    s.prompt      = get_str(o, "prompt", "");
    s.n_predict   = get_int(o, "nPredict", 128);
    s.temperature = (float) get_num(o, "temperature", 0.0);
    s.seed        = (uint32_t) get_num(o, "seed", 0);
    s.top_k       = get_int(o, "topK", 40);
    s.top_p       = (float) get_num(o, "topP", 0.95);
    if (s.n_predict < 1) throw Napi::RangeError::New(env, "generate: nPredict must be >= 1");
    Napi::Function on_piece = arg_function(info, 2, "onPiece");
    auto           res      = std::make_shared<GenerateResult>();
    using W                 = StreamWorker<char>;
    return W::start(
        env, kStreamName, on_piece,
        [ctx, s, res](const W::Send & send) {
            *res = generate(*ctx, s, [&](const std::string & piece) { send(piece.data(), piece.size()); });
        },
        [](Napi::Env env, const char * text, size_t n) { return (Napi::Value) Napi::String::New(env, text, n); },
        [res](Napi::Env env) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("nPrompt", res->n_prompt);
            o.Set("nGen", res->n_gen);
            o.Set("nDecode", res->n_decode);
            o.Set("promptNs", (double) res->prompt_ns);
            o.Set("decodeNs", (double) res->decode_ns);
            o.Set("stopReason", res->stop_reason);
            if (res->has_trace) {
                const TraceResult & t      = res->trace;
                Napi::Object        tr     = Napi::Object::New(env);
                Napi::Array         layers = Napi::Array::New(env, t.layers.size());
                for (size_t i = 0; i < t.layers.size(); i++) layers.Set((uint32_t) i, t.layers[i]);
                tr.Set("layers", layers);
                tr.Set("k", t.k);
                tr.Set("nTokens", t.n_tokens);
                auto ids = Napi::Uint16Array::New(env, t.ids.size());
                std::copy(t.ids.begin(), t.ids.end(), ids.Data());
                tr.Set("ids", ids);
                if (!t.weights.empty()) {
                    auto w = Napi::Float32Array::New(env, t.weights.size());
                    std::copy(t.weights.begin(), t.weights.end(), w.Data());
                    tr.Set("weights", w);
                }
                o.Set("trace", tr);
            }
            return (Napi::Value) o;
        });
}

// ---------------------------------------------------------------- decode check

Napi::Value js_llama_check_decode(const Napi::CallbackInfo & info) {
    Napi::Env    env    = info.Env();
    auto         ctx    = live_context(info);
    Napi::Object o      = arg_object(info, 1, "check spec");
    std::string  prompt = require_str(o, "prompt", "check spec");
    int          steps  = get_int(o, "steps", 4, "check spec");
    if (steps < 0 || steps > 1024) throw Napi::RangeError::New(env, "check spec: steps must be 0..1024");
    auto r = std::make_shared<DecodeCheck>();
    return run_async(
        env, kAsyncName, [=] { *r = check_decode(*ctx, prompt, steps); },
        [r](Napi::Env env) {
            Napi::Object x = Napi::Object::New(env);
            x.Set("nTokens", r->n_tokens);
            Napi::Array toks = Napi::Array::New(env, r->tokens.size());
            for (size_t i = 0; i < r->tokens.size(); i++) toks.Set((uint32_t) i, r->tokens[i]);
            x.Set("tokens", toks);
            x.Set("nSteps", r->n_steps);
            x.Set("logitsFinite", r->logits_finite);
            x.Set("promptMeanAbs", r->prompt_mean_abs);
            Napi::Array head = Napi::Array::New(env, r->prompt_head.size());
            for (size_t i = 0; i < r->prompt_head.size(); i++) head.Set((uint32_t) i, (double) r->prompt_head[i]);
            x.Set("promptHead", head);
            x.Set("topToken", r->top_token);
            x.Set("topPiece", r->top_piece);
            x.Set("promptSeconds", r->prompt_seconds);
            x.Set("stepsSeconds", r->steps_seconds);
            return (Napi::Value) x;
        });
}

} // namespace

void register_llama(Napi::Env env, Napi::Object exports) {
    exports.Set("llamaInit", Napi::Function::New(env, js_llama_init));
    exports.Set("llamaLoadModel", Napi::Function::New(env, js_llama_load_model));
    exports.Set("llamaDisposeModel", Napi::Function::New(env, js_llama_dispose_model));
    exports.Set("llamaCreateContext", Napi::Function::New(env, js_llama_create_context));
    exports.Set("llamaDisposeContext", Napi::Function::New(env, js_llama_dispose_context));
    exports.Set("llamaStop", Napi::Function::New(env, js_llama_stop));
    exports.Set("llamaBench", Napi::Function::New(env, js_llama_bench));
    exports.Set("llamaGenerate", Napi::Function::New(env, js_llama_generate));
    exports.Set("llamaCheckDecode", Napi::Function::New(env, js_llama_check_decode));
}

} // namespace moerig::binding
