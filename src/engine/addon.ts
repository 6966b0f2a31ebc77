/**
 * The one TS file that types the whole native addon (build/native/Release/moerig.node).
 * Everything else imports `loadAddon()` from here; nobody `require`s the .node directly.
 * Slow calls are AsyncWorkers on the native side and return Promises here.
 *
 * Sections: engine info · memory bandwidth (probe) · llama.cpp runner.
 * Each section's functions are registered by its own native/src/bind_*.cpp file.
 */
import {createRequire} from 'node:module'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {nativeBuildDir} from '../lib/paths.js'
import type {SynthHparams} from '../schemas/synth.js'

export const addonPath = join(nativeBuildDir, 'Release', 'moerig.node')
const engineJsonPath = join(nativeBuildDir, 'engine.json')

// ---------------------------------------------------------------- engine info

/** What scripts/build-native.mjs recorded about the llama.cpp the addon was built against. */
export interface EngineBuild {
  release: string
  libDir: string
  libs: string[]
  source: string
  origin: string
}

// ---------------------------------------------------------------- memory bandwidth

/** One NUMA node to measure: its id and the CPUs to run on (one per physical core). */
export interface MemBwNode {
  id: number
  cpus: number[]
}

export interface MemBwOptions {
  nodes: MemBwNode[]
  /** Bytes per array per thread (three arrays a, b, c per thread). */
  arrayBytesPerThread: number
  /** Timed repetitions per kernel; the best is kept (STREAM convention). */
  repetitions: number
  /** Also measure every node alone (per-node figures) before all together. */
  perNode: boolean
  /**
   * Store kind: "auto" (default) = non-temporal on x86-64, what tuned STREAM builds use;
   * "temporal" = plain stores (each pays a write-allocate read that STREAM does not count).
   */
  stores?: 'auto' | 'temporal' | 'nontemporal'
}

export interface MemBwKernels {
  copyGBs: number
  scaleGBs: number
  addGBs: number
  triadGBs: number
}

/** GB/s = 1e9 bytes/s of STREAM's counted bytes, best of `repetitions` after one warm-up. */
export interface MemBwResult extends MemBwKernels {
  threads: number
  /** As run: rounded down to whole 4 KiB pages. */
  arrayBytesPerThread: number
  repetitions: number
  /** What ran, e.g. "avx512f, non-temporal stores". */
  kernels: string
  /** madvise(MADV_HUGEPAGE) accepted for every array; the kernel then uses huge pages unless THP is "never". */
  hugePages: boolean
  /** mbind(MPOL_PREFERRED) to the thread's node accepted for every array. */
  numaBind: boolean
  /** One entry per node given, in that order (a single node repeats the all-nodes figures); empty without perNode. */
  perNode: Array<MemBwKernels & {node: number; threads: number}>
}

/** Sent after each repetition (all four kernels) of each run; done/total count across all runs. */
export interface MemBwProgress {
  /** "node 0", "all nodes" */
  phase: string
  done: number
  total: number
}

// ---------------------------------------------------------------- llama.cpp runner
// native/src/binding/bind_llama.cpp over native/src/engine/engine.h. Handles are opaque; free them with the
// dispose functions (src/engine/engine.ts wraps them in classes with dispose()).

/** Opaque native handles. */
export type LlamaModelHandle = {readonly __brand: 'LlamaModel'}
export type LlamaContextHandle = {readonly __brand: 'LlamaContext'}

/** A device as ggml's backends see it. */
export interface LlamaDevice {
  /** "CPU", "Vulkan0", "CUDA0" */
  name: string
  description: string
  type: 'cpu' | 'gpu' | 'igpu' | 'accel'
  /** backend registry: "CPU", "Vulkan", "CUDA" */
  backend: string
  freeBytes: number
  totalBytes: number
}

/** One libggml-cpu-<name>.so beside the engine: ggml's score for this CPU (0 = cannot run here). */
export interface LlamaCpuVariant {
  name: string
  score: number
  loadable: boolean
}

export interface LlamaInitResult {
  /** GPU backend libraries loaded by path */
  loaded: string[]
  /** "path: reason" for each that failed */
  failed: string[]
  devices: LlamaDevice[]
  /** every CPU variant of the engine's library folder, best score first */
  cpuVariants: LlamaCpuVariant[]
  /** the variant loaded ("sapphirerapids", "zen4" …) */
  cpuVariant: string
  /** the variant ggml picks on its own (the highest score) */
  cpuVariantBest: string
  /** the CPU backend's extra buffer types ("AMX", "CPU_REPACK"): used unless useExtraBufts is false */
  cpuExtraBufferTypes: string[]
}

/** How a model is placed, in llama.cpp's own terms (-ngl, -ot, -sm, -ts, -mg, --n-cpu-moe, --numa). */
export interface LlamaModelParams {
  path: string
  /** -ngl; -1 = all; default 0 */
  nGpuLayers?: number
  splitMode?: 'none' | 'layer' | 'row'
  mainGpu?: number
  tensorSplit?: number[]
  /** -ot pattern=device, first match wins; device "CPU", "Vulkan0" … */
  tensorOverrides?: Array<{pattern: string; device: string}>
  nCpuMoe?: number
  mmap?: boolean
  mlock?: boolean
  numa?: 'disabled' | 'distribute' | 'isolate' | 'numactl' | 'mirror'
  /** llama.cpp's use_extra_bufts (false = -nr/--no-repack); default true */
  useExtraBufts?: boolean
  /** -dev/--device: offload only to these devices ("CUDA0", "Vulkan1"); [] = none (CPU only); absent = every GPU */
  devices?: string[]
}

export interface LlamaModelInfo {
  /** llama_model_desc: "deepseek2 16B Q4_K - Medium" */
  desc: string
  arch: string
  name: string
  sizeBytes: number
  nParams: number
  nLayer: number
  nExpert: number
  nExpertUsed: number
  nVocab: number
  nCtxTrain: number
}

export interface LlamaContextParams {
  nCtx?: number
  nBatch?: number
  nUbatch?: number
  typeK?: string
  typeV?: string
  flashAttn?: 'auto' | 'on' | 'off'
  /** false: llama.cpp --no-op-offload (no GPU takes big-batch ops on weights in RAM); default true */
  opOffload?: boolean
  threads?: number
  /** install the routing-trace eval callback (ffn_moe_topk / ffn_moe_weights_*) */
  trace?: boolean
}

/** llamaCheckDecode: one prompt decode and a few greedy single-token steps. */
export interface LlamaDecodeCheck {
  nTokens: number
  tokens: number[]
  nSteps: number
  logitsFinite: boolean
  /** mean |logit| after the prompt; 0 means the model computed nothing */
  promptMeanAbs: number
  /** the first 16 logits after the prompt (to compare configurations of one model) */
  promptHead: number[]
  topToken: number
  topPiece: string
  promptSeconds: number
  stepsSeconds: number
}

export interface LlamaBenchSpec {
  nPrompt: number
  nGen: number
  /** tokens in the context before each timed repetition (llama-bench -d), untimed; default 0 */
  nDepth?: number
  reps: number
  warmup?: boolean
}

export interface LlamaGenerateSpec {
  prompt: string
  nPredict: number
  /** <= 0: greedy */
  temperature?: number
  seed?: number
  topK?: number
  topP?: number
}

export interface LlamaTraceData {
  /** MoE block indices, ascending */
  layers: number[]
  k: number
  nTokens: number
  /** (nTokens, layers, k) expert ids in gate order */
  ids: Uint16Array
  /** same shape: final gate weights; absent when the graph had none */
  weights?: Float32Array
}

export interface LlamaGenerateResult {
  nPrompt: number
  nGen: number
  nDecode: number
  promptNs: number
  decodeNs: number
  stopReason: 'length' | 'eog' | 'stopped' | 'context'
  trace?: LlamaTraceData
}

// ---------------------------------------------------------------- synthetic models

/**
 * One synthetic model, fully resolved: a preset's hyper-parameters (src/schemas/synth.ts) plus
 * paths and run options (src/runner/synth.ts builds it after validating; native/src/engine/synth.cpp
 * re-checks). Field meanings: native/src/engine/synth.h `SynthSpec`.
 */
export interface SynthNativeSpec extends SynthHparams {
  name: string
  preset: string
  vocabPath: string
  /** Where the native side writes the finished file (a temp path; TS renames it into place). */
  outPath: string
  /**
   * Scratch file: the sparse F16 header llama.cpp's quantizer types in a dry run (direct and header
   * pipelines), or the full F16 intermediate of the reference pipeline; deleted afterwards.
   */
  workPath?: string
  /** direct (default): random valid blocks written in place; header: types only, data left a hole (tests of big presets); quantize: F16 + llama_model_quantize (the tests' reference) */
  pipeline?: 'direct' | 'quantize' | 'header'
  quant: string
  seed: number
  threads?: number
}

export interface SynthNativeProgress {
  phase: 'write' | 'quantize'
  done: number
  total: number
  tensor: string
}

export interface SynthNativeResult {
  fileBytes: number
  tensorCount: number
  params: number
  nVocab: number
  seconds: number
  /** seconds spent writing the tensor data (the MB/s line) */
  writeSeconds: number
  /** ggml type name (f32, f16, q4_K, q6_K …) → tensors of that type in the written file. */
  typeCounts: Record<string, number>
}

// ---------------------------------------------------------------- decode kernels (kernels.h)

/** One kernel case: `ops` weight matrices [k × rows] of `type`, a graph of ops × repeat matrix × vector products. */
export interface KernelCase {
  /** ggml type name, any case ("Q4_K", "f32") */
  type: string
  k: number
  rows: number
  ops: number
  repeat: number
  /** activation columns (default 1: matrix × vector, decode; n: a prefill ubatch of n tokens) */
  cols?: number
  /** > 0: each matrix a stack of this many [k × rows] experts, run as MUL_MAT_ID (routed experts) */
  experts?: number
  /** experts each column is routed to (1..experts, default 1), spread evenly */
  used?: number
  /**
   * > 0: each matrix a stack of this many [k × rows] matrices, each times its own head's columns (a
   * 3-D MUL_MAT, as MLA's attn_k_b/attn_v_b run; the activations a permuted view, as llama.cpp's q_nope).
   * With kvHeads: the query heads of a flash-attention case.
   */
  heads?: number
  /**
   * > 0: a flash-attention case (FLASH_ATTN_EXT as llama.cpp runs it with -fa): `heads` query heads
   * of `k` dims attend `rows` cached keys of `type` (F16: llama.cpp's default cache), kvHeads of
   * them; the `cols` queries are the last positions, causally masked
   */
  kvHeads?: number
  /** flash attention: value dims (≤ k when latent) */
  dv?: number
  /** flash attention: V is K's first dv dims (MLA's latent cache; one kv head) */
  latent?: boolean
}

export interface KernelOptions {
  cases: KernelCase[]
  threads: number[]
  /** per case and thread count (default 0.2 s) */
  minSeconds?: number
  minIters?: number
  /** place weights as llama.cpp does (CPU_REPACK, AMX; default true) */
  extraBufts?: boolean
}

export interface KernelResult {
  /** ggml's type name ("q4_K") */
  type: string
  k: number
  rows: number
  ops: number
  repeat: number
  /** activation columns the case ran with (1 or absent: decode) */
  cols?: number
  /** a MUL_MAT_ID case: experts per matrix and per column (absent: MUL_MAT) */
  experts?: number
  used?: number
  /** a stacked case: matrices per weight (absent: 2-D); flash attention: query heads */
  heads?: number
  /** a flash-attention case: kv heads, value dims, V part of K */
  kvHeads?: number
  dv?: number
  latent?: boolean
  /** all matrices of the case (flash attention: its K/V caches) */
  weightBytes: number
  /** buffer type the weights went to ("CPU_REPACK", "CPU") */
  buffer: string
  /** per thread count: graph seconds, fastest and median */
  timings: Array<{threads: number; iters: number; bestS: number; medianS: number}>
}

// ---------------------------------------------------------------- the addon

export interface MoerigAddon {
  engineInfo(): {llamaSystemInfo: string}
  /**
   * STREAM copy/scale/add/triad (native/src/engine/membw.h); runs on worker threads, never blocks the
   * event loop. Bad options reject (TypeError for shapes, Error for ranges), never throw.
   */
  memBandwidth(opts: MemBwOptions, onProgress?: (p: MemBwProgress) => void): Promise<MemBwResult>
  /** Stop a memBandwidth run after its current repetition (it then rejects with "stopped"). */
  memBandwidthStop(): void
  /**
   * ggml's CPU matrix × vector kernels per case and thread count (native/src/engine/kernels.h), on a
   * worker thread; needs llamaInit first. Bad options reject (TypeError for shapes, Error naming the
   * field for ranges and types).
   */
  decodeKernels(opts: KernelOptions, onProgress?: (p: {done: number; total: number}) => void): Promise<KernelResult[]>
  /** End a decodeKernels run after its current graph: it resolves with the cases finished. */
  decodeKernelsStop(): void
  // llama.cpp runner (bind_llama.cpp). Every slow call is an AsyncWorker; errors reject.
  /**
   * Load a CPU backend variant from libDir (cpuVariant by name, else ggml's pick), then each extra
   * (GPU) backend library; once per process. A variant this CPU cannot execute rejects.
   * rpcLib + rpcServers: load libggml-rpc.so and add each llama.cpp RPC server ("host:port") before
   * the devices are listed, so its devices (RPC0, RPC1 …, backend "RPC", description = endpoint)
   * take -ngl/-ts/-ot like local GPUs. llama.cpp aborts on a server it cannot reach: the caller
   * checks each with a handshake first (src/runner/rpc-engine.ts).
   */
  llamaInit(
    libDir: string,
    extraLibs: string[],
    cpuVariant?: string,
    rpcLib?: string,
    rpcServers?: string[],
  ): Promise<LlamaInitResult>
  /** amxGuarded: 3-D weights kept out of the AMX buffer type (native/src/engine/engine.cpp, AMX guard) */
  llamaLoadModel(
    params: LlamaModelParams,
  ): Promise<{handle: LlamaModelHandle; info: LlamaModelInfo; log: string[]; amxGuarded: string[]}>
  llamaDisposeModel(model: LlamaModelHandle): void
  llamaCreateContext(
    model: LlamaModelHandle,
    params: LlamaContextParams,
  ): Promise<{
    handle: LlamaContextHandle
    nCtx: number
    nBatch: number
    nUbatch: number
    threads: number
    log: string[]
  }>
  /** Stops a call in flight at its next step, then frees. */
  llamaDisposeContext(ctx: LlamaContextHandle): void
  /** Ask a running bench/generate to stop after the current step (Ctrl-C). */
  llamaStop(ctx: LlamaContextHandle): void
  /**
   * llama-bench semantics; onRep after each finished repetition; resolves with raw ns per
   * repetition and, for a tg test, per timed single-token decode step (reps × nGen, in order).
   */
  llamaBench(
    ctx: LlamaContextHandle,
    spec: LlamaBenchSpec,
    onRep: (r: {index: number; ns: number}) => void,
  ): Promise<{samplesNs: number[]; tokenNs: number[]; stopped: boolean}>
  /** Streams text pieces (whole UTF-8 characters) through onPiece. */
  llamaGenerate(
    ctx: LlamaContextHandle,
    spec: LlamaGenerateSpec,
    onPiece: (text: string) => void,
  ): Promise<LlamaGenerateResult>
  /** Decode `prompt`, then `steps` greedy single tokens; checks the logits (synth --check, variant tests). */
  llamaCheckDecode(ctx: LlamaContextHandle, spec: {prompt: string; steps: number}): Promise<LlamaDecodeCheck>
  // synthetic models (bind_synth.cpp). An AsyncWorker; errors reject with one-line messages.
  /** Write a synthetic GGUF: llama.cpp's own per-tensor types (a quantizer dry run), random valid blocks written directly. */
  synth(spec: SynthNativeSpec, onProgress?: (p: SynthNativeProgress) => void): Promise<SynthNativeResult>
  /** Stop a synth in flight between write jobs: it removes the files it made and rejects with "stopped". */
  synthStop(): void
}

let cached: MoerigAddon | undefined

/** Load the addon once; a missing or broken binary is one clear line with how to rebuild. */
export function loadAddon(): MoerigAddon {
  if (cached) return cached
  if (!existsSync(addonPath)) {
    throw new MoerigError(
      'E_ADDON_MISSING',
      `native addon not built (${addonPath} is missing); run: npm run build:native`,
    )
  }
  try {
    cached = createRequire(import.meta.url)(addonPath) as MoerigAddon
  } catch (e) {
    const first = String((e as Error).message).split('\n')[0]
    throw new MoerigError('E_ADDON_LOAD', `native addon failed to load (${first}); run: npm run build:native`)
  }
  return cached
}

export function engineBuild(): EngineBuild {
  if (!existsSync(engineJsonPath)) {
    throw new MoerigError(
      'E_ADDON_MISSING',
      `native addon not built (${engineJsonPath} is missing); run: npm run build:native`,
    )
  }
  return JSON.parse(readFileSync(engineJsonPath, 'utf8')) as EngineBuild
}
