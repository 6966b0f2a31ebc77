// The bindings addon.cpp registers, one per bind_*.cpp file. Each adds its functions to the
// addon's exports; the TS side types them all in src/engine/addon.ts.
#pragma once
#include <napi.h>

namespace moerig::binding {

void register_llama(Napi::Env env, Napi::Object exports);   // bind_llama.cpp: llamaInit, llamaLoadModel, …
void register_membw(Napi::Env env, Napi::Object exports);   // bind_membw.cpp: memBandwidth, memBandwidthStop
void register_synth(Napi::Env env, Napi::Object exports);   // bind_synth.cpp: synth, synthStop
void register_kernels(Napi::Env env, Napi::Object exports); // bind_kernels.cpp: decodeKernels, decodeKernelsStop

} // namespace moerig::binding
