// Binding layer: converts JS values to plain structs, runs engine code on worker threads
// (Napi::AsyncWorker / AsyncProgressWorker), converts results back. No engine logic here.
#include <napi.h>
#include "llama.h"

static Napi::Value EngineInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("llamaSystemInfo", Napi::String::New(env, llama_print_system_info()));
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineInfo", Napi::Function::New(env, EngineInfo));
  return exports;
}

NODE_API_MODULE(moerig, Init)
