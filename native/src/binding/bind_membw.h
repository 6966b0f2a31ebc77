// memBandwidth binding: registered on the addon's exports by addon.cpp.
#pragma once
#include <napi.h>

// Adds exports.memBandwidth(opts, onProgress?) -> Promise<MemBwResult> (see src/engine/addon.ts).
void RegisterMembw(Napi::Env env, Napi::Object exports);
