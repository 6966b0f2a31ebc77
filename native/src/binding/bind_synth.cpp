// Binding for synth.h: `synth(spec, onProgress?)`, an AsyncWorker returning a Promise (the event
// loop never blocks on writing). Progress may come from any writer thread: synth.cpp serialises it.
// Types on the JS side: src/engine/addon.ts, section "synthetic models".
#include <napi.h>

#include "bind_args.h"
#include "engine/synth.h"

namespace {

using moerig::SynthProgress;
using moerig::SynthResult;
using moerig::SynthSpec;

// ---------------------------------------------------------------- JS object -> SynthSpec

uint32_t get_u32(const Napi::Object& o, const char* key, bool required = true, uint32_t dflt = 0) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw Napi::TypeError::New(o.Env(), std::string("synth spec: missing ") + key);
    return dflt;
  }
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("synth spec: ") + key + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw Napi::TypeError::New(o.Env(), std::string("synth spec: ") + key + " must be a non-negative integer");
  }
  return static_cast<uint32_t>(d);
}

constexpr const char * kSpec = "synth spec";

float get_f32(const Napi::Object& o, const char* key, float dflt) {
  return static_cast<float>(moerig::args::get_num(o, key, dflt, kSpec));
}

bool get_bool(const Napi::Object& o, const char* key, bool dflt) { return moerig::args::get_bool(o, key, dflt, kSpec); }

std::string get_str(const Napi::Object& o, const char* key, bool required = true) {
  return required ? moerig::args::require_str(o, key, kSpec) : moerig::args::get_str(o, key, "", kSpec);
}

SynthSpec spec_from_js(const Napi::Object& o) {
  SynthSpec s;
  s.arch = get_str(o, "arch");
  s.name = get_str(o, "name");
  s.preset = get_str(o, "preset");
  s.vocab_path = get_str(o, "vocabPath");
  s.out_path = get_str(o, "outPath");
  s.work_path = get_str(o, "workPath", false);
  s.pipeline = get_str(o, "pipeline", false);
  if (s.pipeline.empty()) s.pipeline = "direct";
  s.quant = get_str(o, "quant");
  Napi::Value seed = o.Get("seed");
  if (!seed.IsNumber()) throw Napi::TypeError::New(o.Env(), "synth spec: seed must be a number");
  s.seed = static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value());
  s.threads = static_cast<int>(get_u32(o, "threads", false, 0));
  s.n_ctx_train = get_u32(o, "nCtxTrain");
  s.n_layer = get_u32(o, "nLayer");
  s.n_embd = get_u32(o, "nEmbd");
  s.n_head = get_u32(o, "nHead");
  s.n_head_kv = get_u32(o, "nHeadKv", false);
  s.head_dim = get_u32(o, "headDim", false);
  s.n_ff = get_u32(o, "nFf", false);
  s.n_ff_exp = get_u32(o, "nFfExp");
  s.n_expert = get_u32(o, "nExpert");
  s.n_expert_used = get_u32(o, "nExpertUsed");
  s.n_expert_shared = get_u32(o, "nExpertShared", false);
  s.n_dense_lead = get_u32(o, "nDenseLead", false);
  s.n_group = get_u32(o, "nGroup", false);
  s.n_group_used = get_u32(o, "nGroupUsed", false);
  s.q_lora = get_u32(o, "qLoraRank", false);
  s.kv_lora = get_u32(o, "kvLoraRank", false);
  s.rope_dim = get_u32(o, "ropeDim", false);
  s.nope_dim = get_u32(o, "nopeDim", false);
  s.v_dim = get_u32(o, "vHeadDim", false);
  s.mla = get_str(o, "kvLayout", false) != "legacy";
  s.gating_func = get_u32(o, "gatingFunc", false, 2);
  s.expert_weights_scale = get_f32(o, "expertWeightsScale", 1.0f);
  s.expert_weights_norm = get_bool(o, "expertWeightsNorm", true);
  s.rope_freq_base = get_f32(o, "ropeFreqBase", 10000.0f);
  s.rms_eps = get_f32(o, "rmsEps", 1e-6f);
  s.yarn_factor = get_f32(o, "yarnFactor", 0.0f);
  s.yarn_orig_ctx = get_u32(o, "yarnOrigCtx", false);
  s.yarn_log_mul = get_f32(o, "yarnLogMul", 0.0f);
  return s;
}

// ---------------------------------------------------------------- synth

class SynthWorker : public Napi::AsyncProgressQueueWorker<SynthProgress> {
 public:
  SynthWorker(Napi::Env env, SynthSpec spec, Napi::Function on_progress)
      : Napi::AsyncProgressQueueWorker<SynthProgress>(env, "moerig.synth"), spec_(std::move(spec)), deferred_(Napi::Promise::Deferred::New(env)) {
    if (!on_progress.IsEmpty()) progress_cb_ = Napi::Persistent(on_progress);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& ep) override {
    try {
      // Each tensor is one update; OnProgress only forwards the newest of a batch to JS.
      result_ = moerig::synth_model(spec_, [&](const SynthProgress& p) { ep.Send(&p, 1); });
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnProgress(const SynthProgress* data, size_t count) override {
    if (progress_cb_.IsEmpty() || count == 0) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    const SynthProgress& p = data[count - 1];
    Napi::Object o = Napi::Object::New(env);
    o.Set("phase", p.phase);
    o.Set("done", p.done);
    o.Set("total", p.total);
    o.Set("tensor", p.tensor);
    progress_cb_.Call({o});
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("fileBytes", Napi::Number::New(env, static_cast<double>(result_.file_bytes)));
    o.Set("tensorCount", result_.tensor_count);
    o.Set("params", Napi::Number::New(env, static_cast<double>(result_.params)));
    o.Set("nVocab", result_.n_vocab);
    o.Set("seconds", result_.seconds);
    o.Set("writeSeconds", result_.write_seconds);
    Napi::Object types = Napi::Object::New(env);
    for (const auto& [name, n] : result_.type_counts) types.Set(name, n);
    o.Set("typeCounts", types);
    deferred_.Resolve(o);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  SynthSpec spec_;
  SynthResult result_;
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference progress_cb_;
};

Napi::Value Synth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "synth(spec, onProgress?): spec must be an object");
  SynthSpec spec = spec_from_js(info[0].As<Napi::Object>());
  Napi::Function cb;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "synth(spec, onProgress?): onProgress must be a function");
    cb = info[1].As<Napi::Function>();
  }
  auto* w = new SynthWorker(env, std::move(spec), cb);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void RegisterSynth(Napi::Env env, Napi::Object exports) {
  exports.Set("synth", Napi::Function::New(env, Synth, "synth"));
  exports.Set("synthStop", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    moerig::synth_request_stop();
    return info.Env().Undefined();
  }, "synthStop"));
}
