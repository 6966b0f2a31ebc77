// memBandwidth(opts, onProgress?) -> Promise<MemBwResult>: converts the JS options to
// membw::Options, runs membw::run on a libuv worker thread (AsyncProgressQueueWorker, so the event
// loop never blocks and every progress report arrives, in order, before the promise settles) and
// converts the result back. Types: src/engine/addon.ts. Engine: membw.h.
#include "bind_membw.h"

#include <cmath>
#include <string>
#include <utility>

#include "engine/membw.h"

namespace {

// ---------------------------------------------------------------- JS -> options
// Shape errors are TypeErrors naming the field; ranges and machine facts (CPUs that exist, memory)
// are checked by membw::validate, which runs before the worker is queued.

[[noreturn]] void typeError(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, "memBandwidth: " + msg);
}

// An integral JS number within [lo, hi]; wider than the engine's ranges so that membw::validate
// gives the message for values that are merely out of range.
double integer(Napi::Env env, const Napi::Value& v, const std::string& where, double lo, double hi) {
  if (!v.IsNumber()) typeError(env, where + " must be an integer");
  const double x = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(x) || std::trunc(x) != x) typeError(env, where + " must be an integer, got " + v.ToString().Utf8Value());
  if (x < lo || x > hi) typeError(env, where + " is out of range (" + v.ToString().Utf8Value() + ")");
  return x;
}

constexpr double kIntRange = 2147483647.0;
constexpr double kMaxSafeInteger = 9007199254740991.0; // Number.MAX_SAFE_INTEGER

membw::Node parseNode(Napi::Env env, const Napi::Value& v, const std::string& where) {
  if (!v.IsObject() || v.IsArray()) typeError(env, where + " must be an object {id, cpus}");
  Napi::Object o = v.As<Napi::Object>();
  membw::Node node;
  node.id = int(integer(env, o.Get("id"), where + ".id", -kIntRange, kIntRange));
  Napi::Value cpus = o.Get("cpus");
  if (!cpus.IsArray()) typeError(env, where + ".cpus must be an array of CPU ids");
  Napi::Array arr = cpus.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    node.cpus.push_back(int(integer(env, arr.Get(i), where + ".cpus[" + std::to_string(i) + "]", -kIntRange, kIntRange)));
  }
  return node;
}

membw::Options parseOptions(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray()) typeError(env, "options must be an object {nodes, arrayBytesPerThread, repetitions, perNode}");
  Napi::Object o = v.As<Napi::Object>();
  membw::Options opt;
  Napi::Value nodes = o.Get("nodes");
  if (!nodes.IsArray()) typeError(env, "nodes must be an array of {id, cpus}");
  Napi::Array arr = nodes.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) opt.nodes.push_back(parseNode(env, arr.Get(i), "nodes[" + std::to_string(i) + "]"));
  opt.arrayBytes = size_t(integer(env, o.Get("arrayBytesPerThread"), "arrayBytesPerThread", 0, kMaxSafeInteger));
  opt.repetitions = int(integer(env, o.Get("repetitions"), "repetitions", -kIntRange, kIntRange));
  Napi::Value perNode = o.Get("perNode");
  if (!perNode.IsUndefined()) {
    if (!perNode.IsBoolean()) typeError(env, "perNode must be a boolean");
    opt.perNode = perNode.As<Napi::Boolean>().Value();
  }
  Napi::Value stores = o.Get("stores");
  if (!stores.IsUndefined()) {
    const std::string s = stores.IsString() ? stores.As<Napi::String>().Utf8Value() : "";
    if (s == "auto") opt.stores = membw::Stores::Auto;
    else if (s == "temporal") opt.stores = membw::Stores::Temporal;
    else if (s == "nontemporal") opt.stores = membw::Stores::NonTemporal;
    else typeError(env, "stores must be \"auto\", \"temporal\" or \"nontemporal\"");
  }
  return opt;
}

// ---------------------------------------------------------------- result -> JS

void setKernels(Napi::Object o, const membw::Kernels& k) {
  o.Set("copyGBs", k.copyGBs);
  o.Set("scaleGBs", k.scaleGBs);
  o.Set("addGBs", k.addGBs);
  o.Set("triadGBs", k.triadGBs);
}

Napi::Object toJs(Napi::Env env, const membw::Result& r) {
  Napi::Object o = Napi::Object::New(env);
  setKernels(o, r.all);
  o.Set("threads", r.threads);
  o.Set("arrayBytesPerThread", double(r.arrayBytes));
  o.Set("repetitions", r.repetitions);
  o.Set("kernels", r.kernels);
  o.Set("hugePages", r.hugePages);
  o.Set("numaBind", r.numaBind);
  Napi::Array per = Napi::Array::New(env, r.perNode.size());
  for (size_t i = 0; i < r.perNode.size(); i++) {
    Napi::Object n = Napi::Object::New(env);
    n.Set("node", r.perNode[i].node);
    n.Set("threads", r.perNode[i].threads);
    setKernels(n, r.perNode[i].gbs);
    per.Set(uint32_t(i), n);
  }
  o.Set("perNode", per);
  return o;
}

// ---------------------------------------------------------------- worker

class MembwWorker : public Napi::AsyncProgressQueueWorker<membw::Progress> {
 public:
  MembwWorker(Napi::Env env, membw::Options opt, Napi::Value onProgress)
      : Napi::AsyncProgressQueueWorker<membw::Progress>(env, "moerig.memBandwidth"),
        deferred_(Napi::Promise::Deferred::New(env)),
        opt_(std::move(opt)),
        wantProgress_(onProgress.IsFunction()) {
    if (wantProgress_) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    membw::ProgressFn fn;
    if (wantProgress_) fn = [&progress](const membw::Progress& p) { progress.Send(&p, 1); };
    result_ = membw::run(opt_, fn); // exceptions become OnError (NAPI_CPP_EXCEPTIONS)
  }

  void OnProgress(const membw::Progress* data, size_t count) override {
    Napi::Env env = Env();
    for (size_t i = 0; i < count && callbackError_.IsEmpty(); i++) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("phase", data[i].node < 0 ? std::string("all nodes") : "node " + std::to_string(data[i].node));
      p.Set("done", data[i].done);
      p.Set("total", data[i].total);
      try {
        onProgress_.Call({p});
      } catch (const Napi::Error& e) {
        // The benchmark cannot be stopped mid-kernel; it finishes and the promise rejects with this.
        callbackError_ = Napi::Persistent(e.Value());
      }
    }
  }

  void OnOK() override {
    if (callbackError_.IsEmpty()) deferred_.Resolve(toJs(Env(), result_));
    else deferred_.Reject(callbackError_.Value());
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  membw::Options opt_;
  bool wantProgress_;
  Napi::FunctionReference onProgress_;
  Napi::ObjectReference callbackError_;
  membw::Result result_;
};

// Bad options reject the promise (never throw synchronously), so callers handle one failure path.
Napi::Value MemBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  membw::Options opt;
  try {
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsFunction()) typeError(env, "onProgress must be a function");
    opt = parseOptions(env, info[0]);
    membw::validate(opt);
  } catch (const Napi::Error& e) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(e.Value());
    return d.Promise();
  } catch (const std::exception& e) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Reject(Napi::Error::New(env, e.what()).Value());
    return d.Promise();
  }
  auto* worker = new MembwWorker(env, std::move(opt), info[1]);
  Napi::Promise promise = worker->Promise();
  worker->Queue(); // the worker deletes itself after OnOK/OnError
  return promise;
}

} // namespace

void RegisterMembw(Napi::Env env, Napi::Object exports) {
  exports.Set("memBandwidth", Napi::Function::New(env, MemBandwidth, "memBandwidth"));
  exports.Set("memBandwidthStop", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    membw::request_stop();
    return info.Env().Undefined();
  }, "memBandwidthStop"));
}
