/**
 * Speed model (issue 13): decode and prefill per device and phase, built from named parts, each a
 * low / mid / high range ("low" = the slow end of every constant).
 *
 * Decode, per token (layers run one after another: llama.cpp, ik_llama.cpp and ktransformers
 * without expert deferral):
 *   CPU     max(memory, compute) + attention + layers × barrier
 *             memory   bytes read on the CPU (non-routed weights it holds, k/n of its routed
 *                      experts, KV at depth) ÷ (bandwidth × η by socket/channel class × NUMA mode)
 *             compute  2 × weights read × cost of their ggml type ÷ (threads × GHz × ops/cycle)
 *                      — at few threads a small model is compute-bound
 *   GPU     Σ_gpu bytes ÷ (bandwidth × η by vendor/backend) + MLA attention + layers × launch
 *   hops    CPU↔GPU round trips × t_sync + GPU→GPU boundaries × t_hop + RPC hops × t_rpc
 *   MLA attention at depth d: 2 × heads × d × (2·kv_lora + rope) FLOPs per layer on the device
 *   that holds the layer (the latent KV bytes are also charged); per-head caches: KV bytes only.
 * Prefill, per ubatch: FLOPs (2 × active weights + attention over half the context) ÷ effective
 * throughput per device, run in layer order (a layer split does not add GPUs' FLOPS); routed
 * experts batch only ubatch·k/n rows each, so their matmuls lose efficiency below
 * PREFILL_EXPERT_ROWS_FULL rows; CPU weights are streamed at least once per ubatch.
 *
 * Constants marked "fitted" were fitted on the fit set of bench/data/published-speeds.json only
 * (`npm run bench:speed-published`; the held-out boxes are reported, never fitted). A profile's
 * `calibration` section (moerig calibrate) replaces the class constants it measures.
 */
import type {HardwareProfile} from '../schemas/hardware.js'
import type {Engine} from '../schemas/plan.js'
import {DEFAULT_CPU_GHZ, type PlanGpu, type PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import type {KvModel} from './kv.js'
import {attnHeadDims} from './memory.js'
import type {Assignment} from './placement.js'

export type Range = {low: number; mid: number; high: number}
const KEYS = ['low', 'mid', 'high'] as const
type K = (typeof KEYS)[number]

// ------------------------------------------------------------------------------------------------
// Memory terms

/**
 * CPU bandwidth efficiency, fraction of the theoretical peak (channels × MT/s × 8 B) reached in
 * MoE decode, one socket (or one NUMA node's share), by channel count:
 *   ≤ 4 channels per socket (desktop): ik_llama.cpp on a Ryzen 7950X, 2 × DDR5-4000 (64 GB/s):
 *     DeepSeek-Lite tg128 28.7 t/s CPU-only (ikawrakow/ik_llama.cpp PR #232) → 0.73–0.81 implied;
 *     ik measures 55.5 of 64 GB/s in that PR (0.87 for the high end).
 *   > 4 channels (server): EPYC 9654 12 ch ktransformers 1K 14 t/s (kvcache-ai/ktransformers #314)
 *     → 0.62; one Xeon 6454S socket, ktransformers V0.2 (DeepseekR1_V3_tutorial.md) → 0.46.
 *     Fitted mid on those (fit set); the 7965WX 8-channel figure (held out) implies 0.57.
 */
export const CPU_BW_EFF_DESKTOP: Range = {low: 0.62, mid: 0.75, high: 0.88}
export const CPU_BW_EFF_SERVER: Range = {low: 0.42, mid: 0.56, high: 0.7}
/** Channels per socket at or below which a CPU counts as a desktop part. */
export const DESKTOP_MAX_CHANNELS = 4
/**
 * Against a measured STREAM triad (probe --measure) instead of the theoretical peak: Xeon 6980P
 * ik_llama.cpp R1 Q8_0 at 128 threads (PR #259) implies 0.60 of its mlc triad; EPYC 9V45 R1 and
 * Kimi Q2 (ik #1752) 0.71–0.78 with the catalog's Q2_K (≤ 15 % larger than the file run). Fitted.
 */
export const CPU_BW_EFF_TRIAD: Range = {low: 0.5, mid: 0.66, high: 0.82}
/**
 * Several NUMA nodes: fraction of the sum of all sockets' bandwidth that decode reaches.
 *   replicate  ktransformers USE_NUMA (weights copied per node): 2 × 6454S V0.2/0.2.1 decode
 *              12.2–13.5 t/s vs 8.73 on one socket → 0.37–0.44 of the two-socket peak ≈ 0.7 × the
 *              one-socket η (tutorial); fitted.
 *   interleave llama.cpp --numa distribute / numactl --interleave: no published figure in the
 *              set; between the two, wide (an assumption).
 *   unaware    plain llama.cpp on 2 sockets (Feb 2025, "4.51 tokens/s … with 2×32 cores",
 *              tutorial) → 0.19 of the peak; ktransformers 0.2.1 without USE_NUMA on 2 × Gold 6330
 *              4 t/s (#824) → 0.15: fitted ≈ 0.3 × the one-socket η.
 */
export const NUMA_BW_FACTOR: Record<'single' | 'replicate' | 'interleave' | 'unaware', Range> = {
  single: {low: 1, mid: 1, high: 1},
  replicate: {low: 0.58, mid: 0.7, high: 0.85},
  interleave: {low: 0.3, mid: 0.45, high: 0.7},
  unaware: {low: 0.2, mid: 0.28, high: 0.4},
}
/**
 * GPU bandwidth efficiency in decode, by backend (vendor × engine):
 *   CUDA   llama.cpp gpt-oss-120b on GB10 implies 0.73–0.79 (benches/dgx-spark.md — held out, so
 *          not fitted on); llama.cpp's CUDA scoreboard (ggml-org/llama.cpp discussion #15013:
 *          RTX 4090 llama 7B Q4_0 tg128 ≈ 190 t/s × 3.56 GiB ≈ 0.72 of 1008 GB/s). 0.65–0.88.
 *   SYCL   Arc A770 llama.cpp SYCL llama-2-7B Q4_0 ≈ 25 %, neural-speed INT4 ≈ 45–48 %, 60 % as the
 *          optimistic row (shared/reference/expert_reuse.md §3.4) — unchanged.
 *   other  Vulkan / ROCm: no figure in the set; an assumption, wide.
 */
export const GPU_BW_EFF: Record<'cuda' | 'sycl' | 'other', Range> = {
  cuda: {low: 0.62, mid: 0.76, high: 0.88},
  sycl: {low: 0.25, mid: 0.45, high: 0.6},
  other: {low: 0.3, mid: 0.5, high: 0.75},
}

// ------------------------------------------------------------------------------------------------
// Compute terms

/**
 * Effective decode (matrix × vector) throughput, int8-dot ops per cycle per thread at the base
 * clock, Q4_K weights, by CPU vendor (AVX-512 VNNI; AVX-512F ×0.75, AVX2 ×0.5, none ×0.15).
 * Fitted: Intel — Xeon 6980P ik_llama.cpp R1 Q4_K_M at 64 threads 10.0 t/s where its memory
 * term gives ≈ 13 (PR #259) and one 6454S socket under ktransformers (tutorial) → ≈ 6; AMD — EPYC
 * 9V45 R1 Q2 at 32 threads 9.8 t/s (ik #1752) needs ≥ 10 at its (unknown) clock. The gap is
 * larger than the ISA explains: Intel server parts run AVX-512 well below their rated turbo and
 * their base clock is far from it; this is a fitted class constant, not a physical peak.
 * This project's 2-vCPU guest decodes r1-mini at 38.3 t/s on one thread (issue 13) —
 * compute-bound at few threads, which is why decode depends on the thread count.
 */
export const DECODE_OPS_PER_CYCLE: Record<'intel' | 'amd' | 'other', Range> = {
  intel: {low: 4.5, mid: 6.5, high: 9.5},
  amd: {low: 8, mid: 12, high: 18},
  other: {low: 4.5, mid: 8, high: 14},
}
export const DECODE_ISA_FACTOR: Record<PlanHost['isa'], number> = {
  amx: 1,
  avx512_vnni: 1,
  avx512f: 0.75,
  avx2: 0.5,
  base: 0.15,
}

/**
 * Relative cost per weight of a ggml type in CPU dot products (Q4_K = 1). Q2_K fitted: on the same
 * 6980P socket ik decodes UD-Q2_K_XL at 9.9 t/s and Q4_K_M at 10.0 (half the bytes, the same time;
 * PR #259). Others: from the unpacking work per block (an assumption, ±30 %).
 */
export const TYPE_COST: Record<string, number> = {
  F32: 0.6,
  F16: 0.8,
  BF16: 0.8,
  Q8_0: 0.8,
  Q4_0: 0.8,
  Q4_1: 0.85,
  Q5_0: 1,
  Q5_1: 1,
  MXFP4: 1,
  Q4_K: 1,
  Q5_K: 1.15,
  Q6_K: 1.3,
  Q3_K: 1.6,
  Q2_K: 2,
}
/** Types not in TYPE_COST (i-quants, ternary): their unpacking is table look-ups; an assumption. */
export const TYPE_COST_OTHER = 2.5
/**
 * Effective prefill (matrix × matrix) ops per cycle per thread, by engine build, for AVX-512 VNNI
 * cores (AVX2: half; AVX-512F without VNNI: 0.75; no AVX2: 0.15):
 *   ik_llama.cpp (-rtr repacked, -fmoe): Xeon 6980P pp512 93 t/s at 64 threads and 153 at 128
 *     (PR #259) → 44–54; Ryzen 7950X DeepSeek-Lite 631 t/s at 16 threads (PR #232) → 42. Fitted.
 *   llama.cpp (current, CPU repack extra buffers): this project's guest prefills r1-mini at
 *     159 t/s on one thread (issue 13 table) ≈ 35 ops/cycle; no published DRAM-bound figure, so
 *     the range is wide (an assumption anchored there).
 *   llama.cpp-2025-02 (pre-MLA mainline, no repack): 2 × 6454S pp 10.3 t/s (tutorial) → ≈ 7. Fitted.
 *   ktransformers 0.2/0.2.1 (GGUF weights, llamafile AVX-512 kernels): 6454S 54–88 t/s with the
 *     routed experts on the CPU → 25–32. Fitted.
 *   flashmoe: experts run on the GPUs; the CPU figure is not used.
 */
export const PREFILL_OPS_PER_CYCLE: Record<EngineBuild, Range> = {
  'llama.cpp': {low: 8, mid: 24, high: 45},
  'llama.cpp-2025-02': {low: 3.5, mid: 7, high: 14},
  'ik_llama.cpp': {low: 32, mid: 46, high: 62},
  flashmoe: {low: 8, mid: 24, high: 45},
  'ktransformers-0.2': {low: 20, mid: 28, high: 38},
  'ktransformers-0.2.1': {low: 20, mid: 28, high: 38},
  'kt-kernel': {low: 20, mid: 28, high: 38},
}
export const PREFILL_ISA_FACTOR: Record<PlanHost['isa'], number> = {
  amx: 1,
  avx512_vnni: 1,
  avx512f: 0.75,
  avx2: 0.5,
  base: 0.15,
}
/**
 * Microarchitectures whose vector units are wider than the baseline above (Zen 4 and Sapphire /
 * Granite Rapids run 512-bit VNNI at about the same per-cycle rate): Zen 5 executes AVX-512 on
 * full 512-bit data paths where Zen 4 double-pumps 256-bit units (AMD Zen 5 software optimization
 * guide, 58455 §2.11). Fitted check: EPYC 9V45 pp512 106 t/s on 32 threads (ik #1752).
 */
export const UARCH_VECTOR_FACTOR: Record<string, number> = {'Zen 5': 2}
/**
 * AMX (ktransformers kt-kernel / V0.3 with BF16 or native INT4 weights only): 21.3 TFLOPS per
 * socket (KTransformers SOSP'25) ≈ 10–14 % of the AMX int8 peak → 0.07 / 0.1 / 0.14. ktransformers
 * 0.2.x on GGUF weights runs llamafile AVX-512 kernels and never uses AMX.
 */
export const AMX_PREFILL_EFF: Range = {low: 0.07, mid: 0.1, high: 0.14}
/**
 * Routed experts in prefill: each sees ubatch × k ÷ n rows; below this many rows its matmul is
 * weight-streaming bound and throughput falls in proportion. Fitted: EPYC 9V45 prefills Kimi-K2
 * (384 experts, 10.7 rows per expert at ub 512) at 0.66 × the FLOP rate of R1 (256, 16 rows;
 * ik #1752).
 */
export const PREFILL_EXPERT_ROWS_FULL = 16
/** Several sockets in prefill: compute scaling of the second socket (6454S ktransformers 2S 82.9 vs 1S 54.2 t/s → 0.76 per-core; fitted). */
export const NUMA_COMPUTE_FACTOR: Range = {low: 0.65, mid: 0.78, high: 0.92}
/** Hyper-threads beyond the physical cores add this fraction of a core (an assumption). */
export const SMT_GAIN = 0.1
/**
 * GPU prefill efficiency against the dense FP16 tensor peak, by backend. CUDA fitted: 16 × RTX 3090
 * layer split, R1 pp512 238.6 t/s (ik #263) → 0.25 of one 3090 (the GPUs take turns). SYCL/other:
 * the former assumption 0.2 / 0.35 / 0.5.
 */
export const GPU_PREFILL_EFF: Record<'cuda' | 'sycl' | 'other', Range> = {
  cuda: {low: 0.15, mid: 0.26, high: 0.42},
  sycl: {low: 0.2, mid: 0.35, high: 0.5},
  other: {low: 0.15, mid: 0.3, high: 0.5},
}
/**
 * MLA attention in decode on a GPU, fraction of the FP16 peak the latent-attention kernel reaches
 * (it is a [heads × 576] × [576 × depth] product per layer). Fitted: ktransformers V0.2-era on an
 * EPYC 9654 + 4090 falls from 14 to 10 t/s between 1K and 10K (#314) → ≈ 5 TFLOPS = 0.03 of peak;
 * V0.2.1's Triton MLA kernel 13.5 → 12.4 t/s between 1K and 8K (tutorial) → ≈ 17 TFLOPS = 0.1.
 * llama.cpp/ik CUDA MLA: taken as V0.2.1's (no depth sweep in the set).
 */
export const MLA_DECODE_GPU_EFF: Record<'old' | 'new', Range> = {
  old: {low: 0.022, mid: 0.032, high: 0.05},
  new: {low: 0.06, mid: 0.1, high: 0.16},
}
/** MLA attention on a CPU in decode: F16/F32 dot products, ops per cycle per thread (an assumption: AVX-512 FMA 64 peak × 0.25). */
export const MLA_DECODE_CPU_OPS_PER_CYCLE: Range = {low: 8, mid: 16, high: 24}
/** PCIe copies of CPU weights for llama.cpp's GPU op offload in prefill: 0.6 / 0.8 / 0.9 of the link. */
export const PCIE_EFF: Range = {low: 0.6, mid: 0.8, high: 0.9}

// ------------------------------------------------------------------------------------------------
// Synchronisation and hand-offs

/**
 * Per CPU↔GPU round trip of a layer (two small PCIe copies of the hidden state + CPU wake-up and
 * barrier + launches): 50–170 µs (expert_reuse.md §3.1, "3–10 ms per token" for R1's 58 layers).
 */
export const T_SYNC_S: Range = {low: 170e-6, mid: 100e-6, high: 50e-6}
/**
 * Per GPU→GPU boundary of a layer split in decode. Fitted on the one multi-GPU figure: 16 × RTX
 * 3090 R1 17.2 t/s while its GPUs' bandwidth terms give ≈ 25 ms of the 58 ms ("GPU utilisation is
 * only at 5-10% on avg.", ik #263); wide, since one figure.
 */
export const T_GPU_HOP_S: Range = {low: 2.5e-3, mid: 1.5e-3, high: 0.2e-3}
/**
 * Per layer on a CPU in decode: thread-pool barriers between the layer's ops (ggml syncs all
 * threads after every node, ≈ 15–25 nodes per MoE layer), base + per thread. An assumption sized
 * from ggml's barrier (a few hundred ns + tens of ns per thread per node).
 */
export const CPU_LAYER_SYNC_S: Range = {low: 40e-6, mid: 20e-6, high: 8e-6}
export const CPU_LAYER_SYNC_PER_THREAD_S: Range = {low: 0.6e-6, mid: 0.3e-6, high: 0.1e-6}
/** Per layer on a GPU in decode: kernel launches and the MoE id handling (an assumption, CUDA graphs off). */
export const GPU_LAYER_S: Range = {low: 120e-6, mid: 50e-6, high: 20e-6}
/**
 * Per hop to or from an llama.cpp RPC device: a TCP round trip on a LAN plus sending the hidden
 * state (7168 × 4 B for R1). An assumption: 0.3–2 ms.
 */
export const T_RPC_HOP_S: Range = {low: 2e-3, mid: 1e-3, high: 0.3e-3}
/** KV depth assumed for decode: the full context (low), half of it (mid), empty (high). */
export const KV_DEPTH: Range = {low: 1, mid: 0.5, high: 0}
/** An unknown CPU clock (GHz): a server part's all-core range (an assumption; DEFAULT_CPU_GHZ is the mid). */
export const UNKNOWN_GHZ: Range = {low: 1.8, mid: DEFAULT_CPU_GHZ, high: 3.2}
/** A calibration is trusted to ± this (repeat-to-repeat spread of llama-bench on a quiet machine; an assumption). */
export const CALIBRATED_SPREAD: Range = {low: 0.9, mid: 1, high: 1.1}

// ------------------------------------------------------------------------------------------------

/**
 * Engine build: which kernels run. Engines moerig plans (`engine`) run different kernels by
 * version and weight format; the default of each engine is what moerig's emitted commands run.
 *   llama.cpp            current mainline (MLA, CPU repack) — default for llama.cpp
 *   llama.cpp-2025-02    mainline before MLA and CPU repack (early 2025)
 *   ik_llama.cpp         ik's fork with -rtr/-fmoe (faster CPU kernels; CPU experts stay on the CPU in prefill)
 *   flashmoe             ipex-llm FlashMoE — default for flashmoe
 *   ktransformers-0.2    V0.2 (torch MLA), GGUF weights, llamafile CPU kernels
 *   ktransformers-0.2.1  V0.2.1–0.2.4 (Triton MLA), GGUF weights, llamafile kernels — default for ktransformers
 *   kt-kernel            kt-kernel / V0.3 with BF16 or native INT4 weights: AMX in prefill where the CPU has it
 */
export type EngineBuild =
  | 'llama.cpp'
  | 'llama.cpp-2025-02'
  | 'ik_llama.cpp'
  | 'flashmoe'
  | 'ktransformers-0.2'
  | 'ktransformers-0.2.1'
  | 'kt-kernel'
export const ENGINE_BUILDS: Record<EngineBuild, Engine> = {
  'llama.cpp': 'llama.cpp',
  'llama.cpp-2025-02': 'llama.cpp',
  'ik_llama.cpp': 'llama.cpp',
  flashmoe: 'flashmoe',
  'ktransformers-0.2': 'ktransformers',
  'ktransformers-0.2.1': 'ktransformers',
  'kt-kernel': 'ktransformers',
}
export function defaultBuild(engine: Engine): EngineBuild {
  return engine === 'ktransformers' ? 'ktransformers-0.2.1' : engine === 'flashmoe' ? 'flashmoe' : 'llama.cpp'
}

export type NumaSpeedMode = 'single' | 'replicate' | 'interleave' | 'unaware'

export interface SpeedOptions {
  /** CPU threads (llama.cpp -t, ktransformers --cpu_infer); default the host's cores */
  threads?: number
  build?: EngineBuild
  /** how the CPU weights sit on several NUMA nodes; default from the engine (replicate / interleave) */
  numa?: NumaSpeedMode
}

export interface SpeedResult {
  decode: Range
  prefill: Range
  bytesPerToken: Record<string, number>
  decodeMs: {
    cpu: number
    gpu: number
    handoff: number
    total: number
    cpuMemory: number
    cpuCompute: number
    attention: number
    sync: number
  }
  prefillMsPerUbatch: number
  source: 'calibration' | 'published-class'
  build: EngineBuild
  numa: NumaSpeedMode
  assumptions: string[]
}

function backendOf(g: PlanGpu, engine: Engine): 'cuda' | 'sycl' | 'other' {
  if (engine === 'flashmoe') return 'sycl'
  if (g.vendor === 'nvidia') return 'cuda'
  if (g.vendor === 'intel') return 'sycl'
  return 'other'
}

function typeCost(t: string): number {
  return TYPE_COST[t] ?? TYPE_COST_OTHER
}

/** Calibrated CPU throughput at a thread count: linear between measured points, proportional outside. */
export function interpolateThroughput(
  points: Array<{threads: number; gflops: number}>,
  threads: number,
): number | null {
  const ps = points.filter((p) => p.gflops > 0).sort((a, b) => a.threads - b.threads)
  if (ps.length === 0) return null
  if (threads <= ps[0].threads) return (ps[0].gflops * threads) / ps[0].threads
  for (let i = 1; i < ps.length; i++) {
    if (threads <= ps[i].threads) {
      const a = ps[i - 1],
        b = ps[i]
      return a.gflops + ((b.gflops - a.gflops) * (threads - a.threads)) / (b.threads - a.threads)
    }
  }
  return ps[ps.length - 1].gflops // beyond the last point: no further scaling assumed
}

const us = (s: number) => +(s * 1e6).toFixed(2)
const fmtR = (r: Range, d = 2) => `${r.low.toFixed(d)}/${r.mid.toFixed(d)}/${r.high.toFixed(d)}`

export function predictSpeed(
  inv: Inventory,
  host: PlanHost,
  a: Assignment,
  kv: KvModel,
  engine: Engine,
  ctx: number,
  ubatch: number,
  opts: SpeedOptions = {},
): SpeedResult {
  const hp = inv.shape.hp
  const nLayer = hp.nLayer
  const build = opts.build ?? defaultBuild(engine)
  const numa: NumaSpeedMode =
    opts.numa ?? (host.numaNodes.length <= 1 ? 'single' : engine === 'ktransformers' ? 'replicate' : 'interleave')
  const cal: HardwareProfile['calibration'] | null = host.calibration ?? null
  const threads = Math.max(1, opts.threads ?? host.cores)
  const threadsEff =
    Math.min(threads, host.cores) + SMT_GAIN * Math.max(0, Math.min(threads, host.threads) - host.cores)
  const kFrac = (hp.nExpert ?? 0) > 0 ? (hp.nExpertUsed ?? 0) / (hp.nExpert ?? 1) : 0
  const isRpc = (d: string) => a.gpus.some((g) => g.rpc && g.id === d)
  const gpuOf = (d: string) => a.gpus.find((x) => x.id === d)!

  // ---- what each device reads and computes per decoded token
  const weightBytes: Record<string, number> = {CPU: 0}
  const costFlops: Record<string, number> = {CPU: 0} // 2 × weights × type cost
  for (const g of a.gpus) weightBytes[g.id] = costFlops[g.id] = 0
  let cpuAllBytes = 0
  let cpuRoutedFlops = 0,
    cpuDenseFlops = 0 // prefill FLOPs per token on the CPU's weights
  const devFlops: Record<string, number> = {CPU: 0}
  const allBytes: Record<string, number> = {CPU: 0}
  for (const g of a.gpus) devFlops[g.id] = allBytes[g.id] = 0
  for (const t of inv.tensors) {
    if (t.role === 'embeddings') continue
    let d: string
    let frac = 1
    const routed = t.role === 'routed_experts' && t.layer !== null
    if (t.layer === null) d = a.layerDevice[nLayer]
    else if (routed) {
      d = a.expertDevice[t.layer!]
      frac = kFrac
    } else d = a.layerDevice[t.layer]
    weightBytes[d] += t.bytes * frac
    costFlops[d] += 2 * t.elements * frac * typeCost(t.typeName)
    // prefill: the output matrix computes logits for the last token of a ubatch only (llama.cpp
    // outputs the last token's logits unless asked for all: llama-bench, llama-server prompts)
    const prefillFrac = t.role === 'output' ? frac / ubatch : frac
    devFlops[d] += 2 * t.elements * prefillFrac
    allBytes[d] += t.bytes
    if (d === 'CPU') {
      cpuAllBytes += t.bytes
      if (routed) cpuRoutedFlops += 2 * t.elements * frac
      else cpuDenseFlops += 2 * t.elements * prefillFrac
    }
  }
  const layersOn: Record<string, number> = {}
  for (let l = 0; l < nLayer; l++) layersOn[a.layerDevice[l]] = (layersOn[a.layerDevice[l]] ?? 0) + 1
  const cpuLayers = (() => {
    let n = 0
    for (let l = 0; l < nLayer; l++)
      if (a.layerDevice[l] === 'CPU' || (inv.expertLayerBytes.has(l) && a.expertDevice[l] === 'CPU')) n++
    return n
  })()

  // hand-offs along the layer sequence: CPU↔GPU, GPU→GPU, and network hops to RPC machines
  let handoffs = 0,
    gpuHops = 0,
    hops = 0
  let prev = 'CPU'
  const step = (d: string) => {
    if (d !== prev) {
      if (isRpc(d) || isRpc(prev)) hops++
      else if (d !== 'CPU' && prev !== 'CPU') gpuHops++
      else handoffs++
    }
    prev = d
  }
  for (let l = 0; l < nLayer; l++) {
    step(a.layerDevice[l])
    if (inv.expertLayerBytes.has(l)) step(a.expertDevice[l])
  }
  step(a.layerDevice[nLayer])

  // ---- efficiencies
  const desktop =
    host.channelsPerSocket !== null && host.channelsPerSocket <= DESKTOP_MAX_CHANNELS && host.sockets === 1
  const cpuEffBase = host.cpuBandwidthMeasured ? CPU_BW_EFF_TRIAD : desktop ? CPU_BW_EFF_DESKTOP : CPU_BW_EFF_SERVER
  const cpuBw = (k: K): number => {
    if (cal?.decodeBandwidthGBs) return cal.decodeBandwidthGBs * 1e9 * CALIBRATED_SPREAD[k]
    return host.cpuBandwidthGBs * 1e9 * cpuEffBase[k] * NUMA_BW_FACTOR[numa][k]
  }
  const ghz = (k: K) => (host.ghzKnown ? host.ghz : UNKNOWN_GHZ[k])
  const calDecode = cal?.cpuThroughput
    ? interpolateThroughput(
        cal.cpuThroughput.map((p) => ({threads: p.threads, gflops: p.decodeGflops ?? 0})),
        threads,
      )
    : null
  const calPrefill = cal?.cpuThroughput
    ? interpolateThroughput(
        cal.cpuThroughput.map((p) => ({threads: p.threads, gflops: p.prefillGflops ?? 0})),
        threads,
      )
    : null
  const numaCompute = (k: K) => (host.sockets > 1 && numa !== 'single' ? NUMA_COMPUTE_FACTOR[k] : 1)
  /** CPU decode compute in cost-FLOP/s */
  const cpuDecodeOps = (k: K): number => {
    if (calDecode) return calDecode * 1e9 * CALIBRATED_SPREAD[k]
    return (
      threadsEff *
      ghz(k) *
      1e9 *
      DECODE_OPS_PER_CYCLE[host.cpuVendor][k] *
      DECODE_ISA_FACTOR[host.isa] *
      (UARCH_VECTOR_FACTOR[host.microarchitecture ?? ''] ?? 1) *
      numaCompute(k)
    )
  }
  const cpuPrefillOps = (k: K): number => {
    if (calPrefill) return calPrefill * 1e9 * CALIBRATED_SPREAD[k]
    const uarch = UARCH_VECTOR_FACTOR[host.microarchitecture ?? ''] ?? 1
    if (build === 'kt-kernel' && host.isa === 'amx')
      return threadsEff * ghz(k) * 1e9 * 2048 * AMX_PREFILL_EFF[k] * numaCompute(k)
    return (
      threadsEff *
      ghz(k) *
      1e9 *
      PREFILL_OPS_PER_CYCLE[build][k] *
      PREFILL_ISA_FACTOR[host.isa] *
      uarch *
      numaCompute(k)
    )
  }
  const calGpu = (g: PlanGpu) => cal?.gpus?.find((x) => x.index === g.localIndex) ?? null
  const gpuBw = (g: PlanGpu, k: K): number => {
    if (g.rpc) return g.bandwidthGBs * 1e9 * CPU_BW_EFF_SERVER[k]
    const c = calGpu(g)
    if (c?.bandwidthGBs) return c.bandwidthGBs * 1e9 * CALIBRATED_SPREAD[k]
    return g.bandwidthGBs * 1e9 * GPU_BW_EFF[backendOf(g, engine)][k]
  }
  const gpuPrefillFlops = (g: PlanGpu, k: K): number => {
    const c = calGpu(g)
    if (c?.prefillTflops) return c.prefillTflops * 1e12 * CALIBRATED_SPREAD[k]
    return g.fp16Tflops * 1e12 * GPU_PREFILL_EFF[backendOf(g, engine)][k]
  }
  const layerSync = (k: K): number => {
    if (cal?.layerOverheadUs !== undefined)
      return cal.layerOverheadUs * 1e-6 * CALIBRATED_SPREAD[k === 'low' ? 'high' : k === 'high' ? 'low' : 'mid']
    return CPU_LAYER_SYNC_S[k] + CPU_LAYER_SYNC_PER_THREAD_S[k] * threads
  }
  const tokenOverhead = (k: K): number =>
    cal?.tokenOverheadMs !== undefined
      ? cal.tokenOverheadMs * 1e-3 * CALIBRATED_SPREAD[k === 'low' ? 'high' : k === 'high' ? 'low' : 'mid']
      : 0
  const mlaGpuEff = build === 'ktransformers-0.2' ? MLA_DECODE_GPU_EFF.old : MLA_DECODE_GPU_EFF.new
  const mla = inv.arch === 'deepseek2' && kv.layout !== 'per-head'
  const attnDims = attnHeadDims(inv.shape, kv.layout)

  // ---- decode
  const decode = {low: 0, mid: 0, high: 0}
  const bytesPerToken: Record<string, number> = {}
  let ms: SpeedResult['decodeMs'] = {
    cpu: 0,
    gpu: 0,
    handoff: 0,
    total: 0,
    cpuMemory: 0,
    cpuCompute: 0,
    attention: 0,
    sync: 0,
  }
  for (const k of KEYS) {
    const depth = Math.round(ctx * KV_DEPTH[k])
    const kvBytes: Record<string, number> = {}
    if (depth > 0)
      for (let l = 0; l < nLayer; l++)
        kvBytes[a.layerDevice[l]] = (kvBytes[a.layerDevice[l]] ?? 0) + kv.layerBytesAt(l, depth, 1)
    // MLA latent attention: 2 × heads × depth × (kv_lora + rope + kv_lora) FLOPs per layer
    const attnPerLayer = mla ? 2 * hp.nHead * depth * attnDims : 0
    let tCpuMem = 0,
      tCpuComp = 0,
      tAttn = 0,
      tGpu = 0,
      tSync = 0
    let tRpc = 0
    for (const id of Object.keys(weightBytes)) {
      const bytes = weightBytes[id] + (kvBytes[id] ?? 0)
      if (k === 'mid') bytesPerToken[id] = Math.round(bytes)
      const layers = layersOn[id] ?? 0
      if (id === 'CPU') {
        tCpuMem = bytes / cpuBw(k)
        tCpuComp = costFlops.CPU / cpuDecodeOps(k)
        tAttn += (attnPerLayer * layers) / (threadsEff * ghz(k) * 1e9 * MLA_DECODE_CPU_OPS_PER_CYCLE[k])
        tSync += cpuLayers * layerSync(k)
      } else if (isRpc(id)) {
        tRpc += bytes / gpuBw(gpuOf(id), k)
      } else {
        const g = gpuOf(id)
        tGpu += bytes / gpuBw(g, k)
        tAttn += (attnPerLayer * layers) / (g.fp16Tflops * 1e12 * mlaGpuEff[k])
        tSync += (layers + (a.layerDevice[nLayer] === id ? 1 : 0)) * (calGpu(g) ? 0 : GPU_LAYER_S[k])
      }
    }
    const tHand = Math.ceil(handoffs / 2) * T_SYNC_S[k] + gpuHops * T_GPU_HOP_S[k] + hops * T_RPC_HOP_S[k]
    const tCpu = Math.max(tCpuMem, tCpuComp)
    const total = tCpu + tRpc + tGpu + tAttn + tSync + tHand + tokenOverhead(k)
    decode[k] = total > 0 ? 1 / total : 0
    if (k === 'mid')
      ms = {
        cpu: (tCpu + tRpc) * 1e3,
        gpu: tGpu * 1e3,
        handoff: tHand * 1e3,
        total: total * 1e3,
        cpuMemory: tCpuMem * 1e3,
        cpuCompute: tCpuComp * 1e3,
        attention: tAttn * 1e3,
        sync: (tSync + tokenOverhead(k)) * 1e3,
      }
  }

  // ---- prefill: one ubatch, layers in order on their devices
  // attention over half the context (sliding-window layers: at most their window)
  const swa = new Set(kv.swaLayers)
  const attnLayerFlops = (l: number) =>
    2 * hp.nHead * attnDims * (swa.has(l) ? Math.min(ctx / 2, kv.swaWindow) : ctx / 2)
  const rowsPerExpert = (hp.nExpert ?? 0) > 0 ? (ubatch * (hp.nExpertUsed ?? 0)) / (hp.nExpert ?? 1) : Infinity
  const expertBatchEff = Math.max(1e-3, Math.min(1, rowsPerExpert / PREFILL_EXPERT_ROWS_FULL))
  const localGpus = a.gpus.filter((g) => !g.rpc)
  const remotes = a.gpus.filter((g) => g.rpc)
  const pcie = localGpus.length > 0 ? Math.min(...localGpus.map((g) => g.pcieGBs)) * 1e9 : 0
  let cpuAttn = 0
  for (let l = 0; l < nLayer; l++) {
    devFlops[a.layerDevice[l]] += attnLayerFlops(l)
    if (a.layerDevice[l] === 'CPU') cpuAttn += attnLayerFlops(l)
  }
  // experts on the CPU in prefill: ik -rtr, ktransformers (always), or no local GPU
  const cpuComputesExperts = localGpus.length === 0 || build === 'ik_llama.cpp' || engine === 'ktransformers'
  const prefill = {low: 0, mid: 0, high: 0}
  let prefillMs = 0
  for (const k of KEYS) {
    const cpuOps = cpuPrefillOps(k)
    const tCpuFlops = (ubatch * (cpuDenseFlops + cpuAttn + cpuRoutedFlops / expertBatchEff)) / cpuOps
    let tUb = 0
    for (const g of remotes) {
      const tCompute = (ubatch * devFlops[g.id]) / (g.rpc!.cpuOps * (PREFILL_OPS_PER_CYCLE['llama.cpp'][k] / 256))
      tUb += Math.max(tCompute, allBytes[g.id] / gpuBw(g, k))
    }
    // GPUs: each its own layers, one after another
    let tGpus = 0
    for (const g of localGpus) tGpus += (ubatch * devFlops[g.id]) / gpuPrefillFlops(g, k)
    if (localGpus.length === 0) {
      tUb += Math.max(tCpuFlops, cpuAllBytes / cpuBw(k))
    } else if (cpuComputesExperts) {
      // CPU computes the weights it holds (experts); the GPUs the rest; serial per layer
      tUb += Math.max(tCpuFlops, cpuAllBytes / cpuBw(k)) + tGpus
    } else {
      // mainline llama.cpp / FlashMoE: the GPU takes the CPU weights' matmuls (op offload, batch ≥ 32),
      // copying them over PCIe once per ubatch, and computes everything
      const tCpuOnGpu = (ubatch * (cpuDenseFlops + cpuRoutedFlops + cpuAttn)) / gpuPrefillFlops(localGpus[0], k)
      tUb += cpuAllBytes / (pcie * PCIE_EFF[k]) + tCpuOnGpu + tGpus
    }
    prefill[k] = tUb > 0 ? ubatch / tUb : 0
    if (k === 'mid') prefillMs = tUb * 1e3
  }

  // ---- assumptions, in words
  const calNote = cal
    ? `calibration of ${cal.measuredAt} (measured${cal.llamaCppRelease ? `, llama.cpp ${cal.llamaCppRelease}` : ''}${cal.cpuVariant ? `, CPU variant ${cal.cpuVariant}` : ''})`
    : null
  const cpuEffWords = cal?.decodeBandwidthGBs
    ? `CPU decode bandwidth ${cal.decodeBandwidthGBs} GB/s effective from the ${calNote} × ${fmtR(CALIBRATED_SPREAD)}`
    : `CPU bandwidth ${host.cpuBandwidthSource} × η ${fmtR(cpuEffBase)} (${host.cpuBandwidthMeasured ? 'of a measured triad' : desktop ? `desktop, ≤ ${DESKTOP_MAX_CHANNELS} channels` : 'server socket'})${numa !== 'single' ? ` × NUMA ${numa} ${fmtR(NUMA_BW_FACTOR[numa])} (${host.numaNodes.length} nodes)` : ''}`
  const ghzWords = host.ghzKnown
    ? `${host.ghz.toFixed(2)} GHz`
    : `clock unknown, ${UNKNOWN_GHZ.low}–${UNKNOWN_GHZ.high} GHz assumed`
  const uarch = UARCH_VECTOR_FACTOR[host.microarchitecture ?? '']
  const assumptions = [
    `speed model: ${cal ? calNote + ' where it measured, published-class constants elsewhere' : 'published-class constants (no calibration in the hardware profile; `moerig calibrate` measures this machine)'}; engine build ${build}`,
    `decode reads per token: non-routed weights + output on their device, ${hp.nExpertUsed ?? 0} of ${hp.nExpert ?? 0} routed experts per MoE layer, KV at depth ${KV_DEPTH.low}/${KV_DEPTH.mid}/${KV_DEPTH.high} × context (low/mid/high)`,
    cpuEffWords,
    calDecode
      ? `CPU decode compute ${calDecode.toFixed(0)} GFLOP/s at ${threads} threads (calibrated)`
      : `CPU decode compute: ${threads} threads (${threadsEff.toFixed(1)} effective) × ${ghzWords} × ${fmtR(DECODE_OPS_PER_CYCLE[host.cpuVendor], 1)} ops/cycle (${host.cpuVendor}) × ${DECODE_ISA_FACTOR[host.isa]} (${host.isa}) × ggml type cost (Q4_K 1, Q2_K ${TYPE_COST.Q2_K}); the CPU takes max(memory, compute)`,
    ...a.gpus.map((g) =>
      g.rpc
        ? `${g.id} ${g.name}: ${g.bandwidthSource} × η ${fmtR(CPU_BW_EFF_SERVER)}`
        : calGpu(g)?.bandwidthGBs
          ? `${g.id} ${g.name}: ${calGpu(g)!.bandwidthGBs} GB/s effective (calibrated)`
          : `${g.id} ${g.name}: ${g.bandwidthGBs} GB/s ${g.bandwidthSource} × η ${fmtR(GPU_BW_EFF[backendOf(g, engine)])} (${backendOf(g, engine).toUpperCase()}); ${g.specNote}`,
    ),
    mla
      ? `MLA attention at depth: 2 × ${hp.nHead} heads × depth × ${attnDims} FLOPs per layer, on the GPU at ${fmtR(mlaGpuEff, 3)} of FP16 peak (${build === 'ktransformers-0.2' ? 'ktransformers V0.2 torch MLA' : 'Triton/CUDA MLA kernels'})`
      : `attention at depth: KV bytes read (per-head cache)`,
    `${Math.ceil(handoffs / 2)} CPU↔GPU round trips per token × ${us(T_SYNC_S.high)}–${us(T_SYNC_S.low)} µs${gpuHops ? `; ${gpuHops} GPU→GPU boundaries × ${T_GPU_HOP_S.high * 1e3}–${T_GPU_HOP_S.low * 1e3} ms` : ''}${hops ? `; ${hops} network hops to RPC machines × ${T_RPC_HOP_S.high * 1e3}–${T_RPC_HOP_S.low * 1e3} ms (assumed LAN)` : ''}`,
    cal?.layerOverheadUs !== undefined
      ? `per-layer overhead ${cal.layerOverheadUs} µs, per-token ${cal.tokenOverheadMs ?? 0} ms (calibrated)`
      : `per-layer sync: CPU ${us(CPU_LAYER_SYNC_S.high)}–${us(CPU_LAYER_SYNC_S.low)} µs + ${us(CPU_LAYER_SYNC_PER_THREAD_S.high)}–${us(CPU_LAYER_SYNC_PER_THREAD_S.low)} µs per thread; GPU ${us(GPU_LAYER_S.high)}–${us(GPU_LAYER_S.low)} µs`,
    'layers run one after another (no expert deferral / CPU-GPU overlap)',
    `prefill FLOPs: 2 × ${fmtParams(inv.activeParams)} active parameters per token + attention over half the context; routed experts batch ${Number.isFinite(rowsPerExpert) ? rowsPerExpert.toFixed(1) : '—'} rows each at ub ${ubatch} (full speed from ${PREFILL_EXPERT_ROWS_FULL})`,
    calPrefill
      ? `prefill CPU ${calPrefill.toFixed(0)} GFLOP/s at ${threads} threads (calibrated)`
      : build === 'kt-kernel' && host.isa === 'amx'
        ? `prefill CPU: AMX (kt-kernel with BF16/INT4 weights) ${fmtR(AMX_PREFILL_EFF)} of ${threadsEff.toFixed(0)} threads × ${ghzWords} × 2048 ops/cycle`
        : `prefill CPU (${build}${engine === 'ktransformers' ? ': GGUF weights run llamafile AVX-512 kernels, no AMX' : ''}): ${threadsEff.toFixed(0)} threads × ${ghzWords} × ${fmtR(PREFILL_OPS_PER_CYCLE[build], 0)} ops/cycle × ${PREFILL_ISA_FACTOR[host.isa]} (${host.isa})${uarch ? ` × ${uarch} (${host.microarchitecture})` : ''}`,
    localGpus.length === 0
      ? 'prefill: CPU only, compute-bound but never faster than streaming its weights once per ubatch'
      : cpuComputesExperts
        ? `prefill: the CPU computes the weights it holds (${engine === 'ktransformers' ? 'ktransformers' : 'ik -rtr: no op offload'}), the GPUs the rest, each GPU its own layers in turn (FP16 × η ${localGpus
            .map((g) => fmtR(GPU_PREFILL_EFF[backendOf(g, engine)]))
            .filter((x, i, xs) => xs.indexOf(x) === i)
            .join(', ')})`
        : `prefill: llama.cpp offloads CPU-weight matmuls to the GPU for batches ≥ 32, so each ubatch of ${ubatch} copies ${(cpuAllBytes / 1e9).toFixed(1)} GB over PCIe (${(pcie / 1e9).toFixed(1)} GB/s × η ${PCIE_EFF.low}–${PCIE_EFF.high}); GPUs compute in turn, FP16 × η ${fmtR(GPU_PREFILL_EFF[backendOf(localGpus[0], engine)])}`,
  ]
  return {
    decode,
    prefill,
    bytesPerToken,
    decodeMs: ms,
    prefillMsPerUbatch: prefillMs,
    source: cal ? 'calibration' : 'published-class',
    build,
    numa,
    assumptions,
  }
}

/** "36.6 B", "54.2 M", "812 k": parameter counts of any size without "0.0 B". */
export function fmtParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return String(Math.round(n))
}
