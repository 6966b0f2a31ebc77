// Binding layer: converts JS values to plain structs (args.h), runs engine code on worker threads
// (workers.h), converts results back. No engine logic here: that is native/src/engine/.
#include <napi.h>

#include "binding/bindings.h"
#include "llama.h"

namespace moerig::binding {
namespace {

Napi::Value js_engine_info(const Napi::CallbackInfo & info) {
    Napi::Env    env = info.Env();
    Napi::Object o   = Napi::Object::New(env);
    o.Set("llamaSystemInfo", Napi::String::New(env, llama_print_system_info()));
    return o;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
    exports.Set("engineInfo", Napi::Function::New(env, js_engine_info));
    register_membw(env, exports);
    register_synth(env, exports);
    register_kernels(env, exports);
    register_llama(env, exports);
    return exports;
}

} // namespace
} // namespace moerig::binding

using moerig::binding::init;
NODE_API_MODULE(moerig, init)
