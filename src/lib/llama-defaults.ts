/**
 * llama.cpp's context defaults: the one place moerig states them. The planner (plan sizes and
 * commands), the runner (bench, run) and the engine boundary (context creation) import them from
 * here. Values are those of the pinned llama.cpp release (the source bundled in node-llama-cpp
 * 3.21.1, release "v0.4.0" in build/native/engine.json; scripts/build-native.mjs extracts it to
 * build/llama-src/), checked in these files of that source:
 *   common/common.h                    struct common_params: n_batch 2048, n_ubatch 512,
 *                                      cache_type_k/v GGML_TYPE_F16, flash_attn_type AUTO
 *   tools/llama-bench/llama-bench.cpp  cmd_params_defaults: the same four, n_prompt 512, n_gen 128,
 *                                      reps 5, n_threads common_cpu_get_num_math()
 * native/src/binding/bind_llama.cpp repeats them as the C++ side's fallbacks (LlamaCreateContext).
 */

/** A llama.cpp context's settings when the user gives none. */
export const LLAMA_DEFAULTS = {
  /** logical batch (-b): common/common.h n_batch = 2048 */
  nBatch: 2048,
  /** physical batch (-ub): common/common.h n_ubatch = 512 */
  nUbatch: 512,
  /** K cache type (-ctk): common/common.h cache_type_k = GGML_TYPE_F16 */
  typeK: 'f16',
  /** V cache type (-ctv): common/common.h cache_type_v = GGML_TYPE_F16 */
  typeV: 'f16',
  /** flash attention (-fa): common/common.h flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO */
  flashAttn: 'auto',
} as const

/**
 * Threads (-t) when none are given: the machine's physical cores, as llama-bench counts them
 * (common_cpu_get_num_math in common/common.cpp: the physical cores on x86 Linux, fewer on hybrid
 * CPUs). llama.h's own context default is GGML_DEFAULT_N_THREADS = 4 (ggml/include/ggml.h), which
 * moerig never relies on: this machine's count is physicalCores() (lib/threads.ts), a planned
 * machine's is its hardware profile's cpu.cores.
 */
export const DEFAULT_THREADS_RULE = 'physical cores'

/** `p` with every context setting it leaves out filled from LLAMA_DEFAULTS. */
export function withContextDefaults<
  T extends {nBatch?: number; nUbatch?: number; typeK?: string; typeV?: string; flashAttn?: 'auto' | 'on' | 'off'},
>(p: T): T & {nBatch: number; nUbatch: number; typeK: string; typeV: string; flashAttn: 'auto' | 'on' | 'off'} {
  return {
    ...p,
    nBatch: p.nBatch ?? LLAMA_DEFAULTS.nBatch,
    nUbatch: p.nUbatch ?? LLAMA_DEFAULTS.nUbatch,
    typeK: p.typeK ?? LLAMA_DEFAULTS.typeK,
    typeV: p.typeV ?? LLAMA_DEFAULTS.typeV,
    flashAttn: p.flashAttn ?? LLAMA_DEFAULTS.flashAttn,
  }
}
