// Binding for native/src/engine/synth.h: `synth(spec, onProgress?)` returns a Promise and writes on
// a worker thread (the event loop never blocks on writing). Progress may come from any writer
// thread: synth.cpp serialises it. Types on the JS side: src/engine/addon.ts, section "synthetic
// models".
#include <memory>
#include <string>

#include "binding/args.h"
#include "binding/bindings.h"
#include "binding/workers.h"
#include "engine/synth.h"

namespace moerig::binding {
namespace {

// ---------------------------------------------------------------- JS object -> SynthSpec

constexpr const char * kSpec = "synth spec";

SynthSpec spec_from_js(const Napi::Object & o) {
    SynthSpec s;
    s.arch       = require_str(o, "arch", kSpec);
    s.name       = require_str(o, "name", kSpec);
    s.preset     = require_str(o, "preset", kSpec);
    s.vocab_path = require_str(o, "vocabPath", kSpec);
    s.out_path   = require_str(o, "outPath", kSpec);
    s.work_path  = get_str(o, "workPath", "", kSpec);
    s.pipeline   = get_str(o, "pipeline", "", kSpec);
    if (s.pipeline.empty()) s.pipeline = "direct";
    s.quant          = require_str(o, "quant", kSpec);
    Napi::Value seed = o.Get("seed");
    if (!seed.IsNumber()) type_error(o.Env(), kSpec, "seed must be a number");
    s.seed                 = static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value());
    s.threads              = static_cast<int>(get_u32(o, "threads", 0, kSpec));
    s.n_ctx_train          = require_u32(o, "nCtxTrain", kSpec);
    s.n_layer              = require_u32(o, "nLayer", kSpec);
    s.n_embd               = require_u32(o, "nEmbd", kSpec);
    s.n_head               = require_u32(o, "nHead", kSpec);
    s.n_head_kv            = get_u32(o, "nHeadKv", 0, kSpec);
    s.head_dim             = get_u32(o, "headDim", 0, kSpec);
    s.n_ff                 = get_u32(o, "nFf", 0, kSpec);
    s.n_ff_exp             = require_u32(o, "nFfExp", kSpec);
    s.n_expert             = require_u32(o, "nExpert", kSpec);
    s.n_expert_used        = require_u32(o, "nExpertUsed", kSpec);
    s.n_expert_shared      = get_u32(o, "nExpertShared", 0, kSpec);
    s.n_dense_lead         = get_u32(o, "nDenseLead", 0, kSpec);
    s.n_group              = get_u32(o, "nGroup", 0, kSpec);
    s.n_group_used         = get_u32(o, "nGroupUsed", 0, kSpec);
    s.q_lora               = get_u32(o, "qLoraRank", 0, kSpec);
    s.kv_lora              = get_u32(o, "kvLoraRank", 0, kSpec);
    s.rope_dim             = get_u32(o, "ropeDim", 0, kSpec);
    s.nope_dim             = get_u32(o, "nopeDim", 0, kSpec);
    s.v_dim                = get_u32(o, "vHeadDim", 0, kSpec);
    s.mla                  = get_str(o, "kvLayout", "", kSpec) != "legacy";
    s.gating_func          = get_u32(o, "gatingFunc", 2, kSpec);
    s.expert_weights_scale = static_cast<float>(get_num(o, "expertWeightsScale", 1.0, kSpec));
    s.expert_weights_norm  = get_bool(o, "expertWeightsNorm", true, kSpec);
    s.rope_freq_base       = static_cast<float>(get_num(o, "ropeFreqBase", 10000.0, kSpec));
    s.rms_eps              = static_cast<float>(get_num(o, "rmsEps", 1e-6, kSpec));
    s.yarn_factor          = static_cast<float>(get_num(o, "yarnFactor", 0.0, kSpec));
    s.yarn_orig_ctx        = get_u32(o, "yarnOrigCtx", 0, kSpec);
    s.yarn_log_mul         = static_cast<float>(get_num(o, "yarnLogMul", 0.0, kSpec));
    return s;
}

// ---------------------------------------------------------------- result -> JS

Napi::Value progress_js(Napi::Env env, const SynthProgress * p, size_t) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("phase", p->phase);
    o.Set("done", p->done);
    o.Set("total", p->total);
    o.Set("tensor", p->tensor);
    return o;
}

Napi::Value result_js(Napi::Env env, const SynthResult & r) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("fileBytes", Napi::Number::New(env, static_cast<double>(r.file_bytes)));
    o.Set("tensorCount", r.tensor_count);
    o.Set("params", Napi::Number::New(env, static_cast<double>(r.params)));
    o.Set("nVocab", r.n_vocab);
    o.Set("seconds", r.seconds);
    o.Set("writeSeconds", r.write_seconds);
    Napi::Object types = Napi::Object::New(env);
    for (const auto & [name, n] : r.type_counts) types.Set(name, n);
    o.Set("typeCounts", types);
    return o;
}

// ---------------------------------------------------------------- synth

Napi::Value js_synth(const Napi::CallbackInfo & info) {
    Napi::Env      env  = info.Env();
    SynthSpec      spec = spec_from_js(arg_object(info, 0, "synth(spec, onProgress?): spec"));
    Napi::Function cb   = arg_optional_function(info, 1, "synth(spec, onProgress?): onProgress");
    synth_clear_stop(); // on the JS thread, before the worker exists: a synthStop() from now on counts
    auto result = std::make_shared<SynthResult>();
    using W     = StreamWorker<SynthProgress>;
    return W::start(
        env, "moerig.synth", cb,
        [spec, result](const W::Send & send) {
            // one update per tensor, each delivered to JS
            *result = synth_model(spec, [&send](const SynthProgress & p) {
                if (send) send(&p, 1);
            });
        },
        progress_js, [result](Napi::Env env) { return result_js(env, *result); });
}

Napi::Value js_synth_stop(const Napi::CallbackInfo & info) {
    synth_request_stop();
    return info.Env().Undefined();
}

} // namespace

void register_synth(Napi::Env env, Napi::Object exports) {
    exports.Set("synth", Napi::Function::New(env, js_synth, "synth"));
    exports.Set("synthStop", Napi::Function::New(env, js_synth_stop, "synthStop"));
}

} // namespace moerig::binding
