// Binding layer: converts JS values to plain structs, runs engine code on worker threads
// (Napi::AsyncWorker / AsyncProgressWorker), converts results back. No engine logic here.
#include <napi.h>
#include "llama.h"
#include "bind_membw.h"
void RegisterSynth(Napi::Env env, Napi::Object exports);  // bind_synth.cpp
void RegisterLlama(Napi::Env env, Napi::Object exports);  // bind_llama.cpp

static Napi::Value EngineInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("llamaSystemInfo", Napi::String::New(env, llama_print_system_info()));
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("engineInfo", Napi::Function::New(env, EngineInfo));
  RegisterMembw(env, exports);
  RegisterSynth(env, exports);
  RegisterLlama(env, exports);
  return exports;
}

NODE_API_MODULE(moerig, Init)
