/**
 * Speed model (issue 13): decode and prefill per device and phase, built from named parts, each a
 * low / mid / high range ("low" = the slow end of every constant).
 *
 * Decode, per token (layers run one after another: llama.cpp, ik_llama.cpp and ktransformers
 * without expert deferral):
 *   CPU     max(DRAM + cache reads, compute) + attention + layers × barrier + per-token cost
 *             memory   bytes read on the CPU (non-routed weights it holds, k/n of its routed
 *                      experts, KV at depth): the share that stays in the last-level cache
 *                      (cacheTerm: LLC × LLC_WEIGHT_FRACTION ÷ the decode working set) at the
 *                      cache bandwidth, the rest ÷ (DRAM bandwidth × η by socket/channel class ×
 *                      NUMA mode)
 *             compute  2 × weights read × cost of their ggml type ÷ width efficiency ÷ (threads ×
 *                      GHz × ops/cycle), on cached weights at a cached rate where calibrated
 *                      — at few threads a small model is compute-bound
 *   GPU     Σ_gpu bytes ÷ (bandwidth × η by vendor/backend) + MLA attention + layers × launch
 *   hops    CPU↔GPU round trips × t_sync + GPU→GPU boundaries × t_hop + the RPC network term
 *           (planner/rpc.ts: round trips × the link's RTT + bytes crossing ÷ its bandwidth; per
 *           ubatch in prefill too)
 *   MLA attention at depth d: 2 × heads × d × (2·kv_lora + rope) FLOPs per layer on the device
 *   that holds the layer (the latent KV bytes are also charged); per-head caches: KV bytes only.
 * Prefill, per ubatch: FLOPs (2 × active weights ÷ width efficiency of the matrix (widthEff: CPU
 * matmuls with short rows run below peak) + attention over half the context, on a CPU with a
 * fixed cost per query × key × head) ÷ effective throughput per device,
 * run in layer order (a layer split does not add GPUs' FLOPS); routed experts batch only
 * ubatch·k/n rows each, so their matmuls lose efficiency below PREFILL_EXPERT_ROWS_FULL rows; CPU
 * weights are streamed at least once per ubatch; each ubatch is one graph evaluation and pays the
 * per-layer barriers / launches and the per-graph cost once (ubatchOverheadSeconds).
 *
 * The function is built from named terms: tallyWork (what each device reads and computes),
 * countHandoffs / handoffSeconds (layer-sequence hops; rpcHopSeconds: planner/rpc.ts's network term),
 * cpuRates / gpuRates (effective bandwidths and throughputs, class constants or calibration),
 * cacheTerm, decodeSeconds, prefillSeconds, speedAssumptions.
 *
 * Constants marked "fitted" were fitted on the fit set of bench/data/published-speeds.json only
 * (`npm run bench:speed-published`; the held-out boxes are reported, never fitted), except the
 * shape terms of the second pass (cache, width, CPU attention, mainline expert rows), fitted on
 * this project's synthetic shapes (bench/speed-fitparts.ts, bench/speed-fidelity.ts,
 * docs/speed-fidelity.md) and neutral on the published rigs. A profile's `calibration` section
 * (moerig calibrate) replaces the class constants it measures.
 */
import type {HardwareProfile} from '../schemas/hardware.js'
import type {Engine} from '../schemas/plan.js'
import {DEFAULT_CPU_GHZ, type PlanGpu, type PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import type {KvModel} from './kv.js'
import {
  ASSUMED_LINK,
  planLink,
  rpcCrossings,
  rpcTraffic,
  rpcTransferSeconds,
  rpcTransferWords,
  type RpcLinkModel,
  type RpcTraffic,
} from './rpc.js'
import {amxTakes} from './amx.js'
import {attnHeadDims, attnHeadKV} from './memory.js'
import type {Assignment} from './placement.js'

export type Range = {low: number; mid: number; high: number}
const KEYS = ['low', 'mid', 'high'] as const
export type K = (typeof KEYS)[number]

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
 *          optimistic row (docs/expert-reuse.md §4) — unchanged.
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
/** By widest integer-dot ISA, relative to AVX-512 VNNI: vector width and VNNI's fused int8 dot (an assumption; ±25 %). */
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
/** As DECODE_ISA_FACTOR, for prefill (an assumption; ±25 %). */
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
 * weight-streaming bound and throughput falls in proportion. ik_llama.cpp / ktransformers fitted:
 * EPYC 9V45 prefills Kimi-K2 (384 experts, 10.7 rows per expert at ub 512) at 0.66 × the FLOP
 * rate of R1 (256, 16 rows; ik #1752). Mainline llama.cpp (CPU_REPACK gemm tiles of 4–8 columns):
 * 8, fitted on this project's synth r1-dram pp64 (8 rows per expert), which ran at 1.4–2 × the
 * per-FLOP rate the 16-row rule predicted (docs/speed-fidelity.md; bench/speed-fitparts.ts).
 */
export const PREFILL_EXPERT_ROWS_FULL: Record<EngineBuild, number> = {
  'llama.cpp': 8,
  'llama.cpp-2025-02': 16,
  'ik_llama.cpp': 16,
  flashmoe: 16,
  'ktransformers-0.2': 16,
  'ktransformers-0.2.1': 16,
  'kt-kernel': 16,
}
/** Several sockets in prefill: compute scaling of the second socket (6454S ktransformers 2S 82.9 vs 1S 54.2 t/s → 0.76 per-core; fitted). */
export const NUMA_COMPUTE_FACTOR: Range = {low: 0.65, mid: 0.78, high: 0.92}
/** Hyper-threads beyond the physical cores add this fraction of a core (an assumption; range 0–0.3). */
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
/**
 * PCIe copies of CPU weights for llama.cpp's GPU op offload in prefill, out of pinned memory (the
 * GPU's host buffer, where llama.cpp puts RAM-side weights under --no-mmap): 0.6 / 0.8 / 0.9 of the
 * link. Measured once (docs/device/h200-2026-12-04b/): r1-dram's 8.4 GB of experts, -ot exps=CPU
 * --no-mmap beside an H200 on PCIe Gen5 x16: pp512 2 546 t/s = 201 ms a ubatch, ≈ 42 of it the
 * GPU's own work → ≈ 53 GB/s, 0.84 of 63 GB/s.
 */
export const PCIE_EFF: Range = {low: 0.6, mid: 0.8, high: 0.9}
/**
 * The same copies out of the mapped GGUF, which is where llama.cpp keeps CPU weights by default
 * (mmap; moerig's plans say --no-mmap where it pays, see evaluate.ts MmapMode): pageable memory,
 * which the GPU driver copies through a staging buffer at a host-memcpy rate far under a fast
 * link's. Measured beside an H200 on PCIe Gen5 x16 (63 GB/s), a 16-core AMX Xeon guest, r1-dram
 * with its 8.4 GB of experts in RAM (-ot exps=CPU): pp512 553.6 t/s = 925 ms a ubatch, 43 ms of it
 * the GPU's own work (all-GPU pp512 11 887 t/s) → 9.5 GB/s (docs/device/h200-2026-12-04/); a second
 * run 398.9 t/s → 6.9 GB/s (…-04b/). One rig, so a wide range (bare-metal pageable copies commonly
 * run 6–20 GB/s); the copy takes min(link × PCIE_EFF, this).
 */
export const OFFLOAD_COPY_PAGEABLE_GBS: Range = {low: 5, mid: 9.5, high: 20}

/**
 * Last-level cache (issue 13): the fraction of the probed L3 (cpu.l3Bytes, all instances) that
 * holds weights between decoded tokens; the rest holds activations, KV and the OS. Decode touches
 * a working set W (the CPU's non-routed weights, all its routed experts — over a few tokens the
 * router visits them all — and the KV at depth); a share min(1, LLC × f ÷ W) of the bytes read per
 * token comes from the cache (the steady-state hit rate of uniformly reused lines). ggml splits
 * each matrix into the same row ranges every token, so each core re-reads what it read last time:
 * the L3 of every chiplet in use counts. An assumption (0.5 / 0.75 / 0.9), anchored on this
 * project's synth shapes on a 32 MiB-L3 EPYC guest (docs/speed-fidelity.md): tiny (decode working
 * set 11 MB) decodes from cache; qwen3moe-tiny (26 MB, 0.77 of the L3, which the host shares with
 * other guests) decoded as if streamed; r1-mini (1.5 GB) is DRAM-bound.
 */
export const LLC_WEIGHT_FRACTION: Range = {low: 0.5, mid: 0.75, high: 0.9}
/**
 * L3 read bandwidth per thread in decode (GB/s). Zen 4: AIDA64 L3 read 1445.7 GB/s on a 12-core
 * Ryzen 9 7900X ≈ 120 GB/s per core (https://appuals.com/zen4-180-increase-over-alder-lake/) — the
 * high end; server meshes (Intel) deliver a third to a half of that per core (an assumption).
 */
export const LLC_BW_PER_THREAD_GBS: Range = {low: 30, mid: 60, high: 120}
/** the long row of calibrate's capacity sweep (src/runner/kernels.ts K_LONG): llc entries without k are this */
export const LLC_SWEEP_K_LONG = 2048
/**
 * Matrix width (issue 13): a CPU prefill matmul's throughput falls for short rows, since every dot
 * product of K weights (the row length, ne0) pays a fixed cost (block-scale set-up, the horizontal
 * sum of the accumulators, the activation rows' quantization per op): eff(K) = K ÷ (K + K½). The
 * class constants above were fitted on R1-class shapes (K 2048–7168), so eff is taken relative to
 * MATMUL_K_REF and capped at 1: only narrower matrices slow down. K½ = 256 (range 128–512) fitted
 * with bench/speed-fitparts.ts on the synth shapes' prefill measured in the previous session
 * (docs/speed-fidelity.md, Xeon guest, 1 thread): with r1-mini (K 256–1024) as the calibration
 * model, r1-dram (K 1536–2048) +9 %, qwen3moe-tiny (K 128–256) +7 %, tiny −22 % (K½ 128: −1 /
 * +19 / −17 %). Not applied in decode: there the cache-resident narrow shapes (tiny, qwen3moe-tiny)
 * run at 2–3× r1-mini's FLOP rate, the opposite of a width penalty. Not applied with calibrate's
 * prefill kernels either (prefillRates): measured, repacked Q4_K runs at the same rate from K 256
 * to 2048 and the plain types at 0.75–0.85 of their long-row rate at K 128–256, so this term
 * stands in for the type mix and the experts' gemv of the class model.
 */
export const MATMUL_K_HALF_PREFILL = 256
/**
 * The same width term in decode (matrix × vector): the fixed cost per row weighs more on short
 * rows, and a small streamed matrix keeps fewer loads in flight. K½ = 512 (range 256–1024) fitted
 * on the synth shapes' 1-thread decode (docs/speed-fidelity.md): r1-dram (K 1536–2048) streams at
 * 1.4× (Xeon guest) and 1.7× (this EPYC guest, load 7–10) r1-mini's (K 256–1024) per-FLOP rate;
 * from cache, qwen3moe-tiny (output matrix 151936 rows of K 128) decodes 1.5–1.9× slower than tiny
 * (K 256) for the same FLOPs. K½ 512 gives 1.6× and 1.7×.
 */
export const MATMUL_K_HALF_DECODE = 512
export const MATMUL_K_REF = 2048
/**
 * CPU attention in prefill (ggml's flash-attention kernel on F16 K/V; mainline builds only — ik's
 * FlashMLA and ktransformers' kernels are charged plain FLOPs, no figure): its 2 × (K + V dims)
 * FLOPs per query × key × head run CPU_ATTN_FLOP_SPEEDUP × faster than the quantized matmuls (F16
 * FMA on unpacked rows), and each query × key × head pays a fixed cost (online-softmax update,
 * the loop) of CPU_ATTN_PAIR_FLOPS FLOP-equivalents at the matmul rate. Measured with
 * `npm run bench:speed-fidelity -- --sweep` (pp64/256/1024 = ubatch at 1 thread; the per-token time
 * grows with the prompt by the attention alone): on this project's EPYC guest (load 8–9, so only
 * the ratios count) qwen3moe-tiny (4 heads × 128 dims) spends ≈ 48 ns per query-key-head, tiny
 * (MLA, 1088 dims) ≈ 98 ns: a fixed part worth ≈ 790 dims; fitted with the matmul rate on the
 * previous session's 1-thread rows (tiny −22 %, qwen3moe-tiny +7 %, bench/speed-fitparts.ts):
 * speed-up 2, pair 800 (range 400–1600).
 */
export const CPU_ATTN_PAIR_FLOPS: Range = {low: 1600, mid: 800, high: 400}
/** range 1–2.5 (1: attention FLOPs at the matmul rate; fitted 2, see above) */
export const CPU_ATTN_FLOP_SPEEDUP = 2

// ------------------------------------------------------------------------------------------------
// Synchronisation and hand-offs

/**
 * Per CPU↔GPU round trip of a layer (two small PCIe copies of the hidden state + CPU wake-up and
 * barrier + launches): 50–170 µs (docs/expert-reuse.md §3.1, "3–10 ms per token" for R1's 58 layers).
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
/**
 * Per layer on a GPU in decode (and per prefill ubatch): kernel launches, graph updates, the MoE's
 * many small kernels. Mid and high an assumption the GB10 gpt-oss figures bear out (36 layers, ≈ 2 ms
 * of their 17–24 ms); low from a measurement: llama.cpp CUDA with CUDA graphs on an H200 beside a
 * 16-core guest CPU, 110 µs a layer on r1-mini and 131 µs on r1-dram, fully offloaded (≈ 210 µs
 * with graphs off; docs/device/h200-2026-12-04b/). `moerig calibrate` measures it per GPU.
 */
export const GPU_LAYER_S: Range = {low: 150e-6, mid: 50e-6, high: 20e-6}
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
  /** llama.cpp -fa (default on: llama.cpp's auto turns it on for CPU layers); measured attention kernels apply only with it */
  flashAttention?: boolean
  /**
   * llama.cpp --no-mmap beside a GPU: the CPU's weights load into the GPU's pinned host buffer
   * (CUDA_Host …), so op offload copies them at the link's rate; default false (the mapped GGUF)
   */
  pinnedHost?: boolean
  /**
   * llama.cpp op offload (default true): a local GPU computes big-batch ops whose weights are in RAM,
   * copying them over PCIe each ubatch; false (--no-op-offload) leaves them to the CPU
   */
  opOffload?: boolean
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
    /** parts of cpu: DRAM reads, last-level-cache reads, compute (the CPU takes max(memory + cache, compute)) */
    cpuMemory: number
    cpuCache: number
    cpuCompute: number
    attention: number
    sync: number
  }
  prefillMsPerUbatch: number
  /** of prefillMsPerUbatch: the per-graph overhead (barriers, launches) */
  prefillOverheadMs: number
  /** of prefillMsPerUbatch: CPU flash attention timed by calibrate's attention kernels (absent: not measured, in the FLOP rate) */
  prefillAttentionMs?: number
  /** of decodeMs.cpuCompute (mid): the measured-kernel decode's op kinds; absent without measured kernels */
  decodeCpuOps?: CpuOpPart[]
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
/** the other end of a range: overheads are long where speeds are low */
const flip = (k: K): K => (k === 'low' ? 'high' : k === 'high' ? 'low' : 'mid')

/** Width efficiency of a CPU matmul with rows of K weights, relative to MATMUL_K_REF (≤ 1). */
export function widthEff(k: number, half: number): number {
  if (!(k > 0)) return 1
  return Math.min(1, k / (k + half) / (MATMUL_K_REF / (MATMUL_K_REF + half)))
}

// ------------------------------------------------------------------------------------------------
// Terms

/** What each device reads and computes per decoded token, and per prompt token in prefill. */
export interface Work {
  /** bytes read per decoded token, by device (k/n of the routed experts) */
  weightBytes: Record<string, number>
  /** decode cost-FLOPs per token: 2 × weights × ggml type cost */
  costFlops: Record<string, number>
  /** prefill FLOPs per token by device (GPU FLOPs as counted; the output once per ubatch) */
  devFlops: Record<string, number>
  /** all weight bytes a device holds (prefill streams them once per ubatch) */
  allBytes: Record<string, number>
  /** CPU weights touched in decode over a few tokens: non-routed + every routed expert */
  cpuWorkingSet: number
  cpuAllBytes: number
  /** CPU prefill FLOPs per token of its routed / other weights, ÷ width efficiency */
  cpuRoutedFlops: number
  cpuDenseFlops: number
  /** layers on each device (non-expert tensors) */
  layersOn: Record<string, number>
  /** layers with any CPU part (its own tensors or its experts) */
  cpuLayers: number
  /** the CPU's matrix × vector products per decoded token (see CpuMat) */
  cpuMats: CpuMat[]
}

/**
 * One weight's matrix × vector products in a decoded token: ggml type, row length K, rows per op,
 * ops, and what decides the buffer llama.cpp gives it. `layout`: 'matrix' a 2-D MUL_MAT,
 * 'experts' a routed 3-D stack (`ops` its used experts, `rows` each one's: one MUL_MAT_ID), 'stacked' a 3-D MUL_MAT
 * over heads (MLA's attn_k_b/attn_v_b). `amx`: the AMX buffer type would take it (amx.ts). `plain`: a
 * tensor override puts it on the CPU (experts of a GPU layer: -ot exps=CPU, --n-cpu-moe), and
 * llama.cpp's overrides name the plain CPU buffer type (common.h llm_ffn_exps_cpu_override, arg.cpp
 * parse_tensor_buffer_overrides): no CPU_REPACK or AMX for it (seen: the H200 run's hybrid r1-dram
 * kept all 8.8 GB in CPU_Mapped, where the CPU-only runs repack 6.8 GB of it).
 */
export interface CpuMat {
  type: string
  k: number
  rows: number
  ops: number
  /** weight bytes one decoded token reads of it (a routed tensor: its used experts' share) */
  bytes: number
  layout: 'matrix' | 'experts' | 'stacked'
  amx: boolean
  /** in the plain CPU buffer whatever its type (a tensor override put it on the CPU) */
  plain?: boolean
  /** ops per prompt token in prefill (the output matrix: 1 ÷ ubatch; absent: ops) */
  ppOps?: number
}

/**
 * CPU_REPACK interleaves 8 rows (ggml-cpu/repack.cpp ggml_repack_get_optimal_repack_type: ne[1] % 8
 * for every x86 layout; ARM's 4-row layouts also take multiples of 8) and its supports_op takes a
 * 2-D MUL_MAT or a 3-D MUL_MAT_ID only: a 3-D MUL_MAT (MLA's per-head attn_k_b/attn_v_b) stays in
 * the plain CPU buffer and runs ggml's vec_dot kernels.
 */
const REPACK_ROW_MULTIPLE = 8

/** Does an extra buffer type named `buffer` (as calibrate's kernel benchmark saw it) take this weight? */
export function extraBufferTakes(m: Pick<CpuMat, 'rows' | 'layout' | 'amx' | 'plain'>, buffer: string): boolean {
  if (buffer === 'CPU' || m.plain) return false
  if (buffer === 'AMX') return m.amx
  return m.layout !== 'stacked' && m.rows % REPACK_ROW_MULTIPLE === 0
}

/** the plain CPU buffer (points from calibrations that did not record a buffer count as it) */
const isPlainBuffer = (b: string | undefined) => b === undefined || b === 'CPU'

/**
 * One type's measured points in the buffer llama.cpp gives this weight: the extra buffer's
 * (CPU_REPACK, AMX) where it takes the weight, else the plain CPU buffer's; where only the extra
 * buffer was measured, its points (`assumed`).
 */
function bufferPoints<T extends {buffer?: string}>(
  of: T[],
  m: Pick<CpuMat, 'rows' | 'layout' | 'amx' | 'plain'>,
): {pts: T[]; extra: boolean; assumed: boolean} {
  const extra = of.filter((x) => !isPlainBuffer(x.buffer))
  const plain = of.filter((x) => isPlainBuffer(x.buffer))
  if (extra.length && extraBufferTakes(m, extra[0].buffer!)) return {pts: extra, extra: true, assumed: false}
  if (plain.length) return {pts: plain, extra: false, assumed: false}
  return {pts: extra, extra: false, assumed: extra.length > 0}
}

/** y at x on the line through (x0, y0) and (x1, y1) in log x */
const logLerp = (x: number, x0: number, y0: number, x1: number, y1: number) =>
  y0 + ((y1 - y0) * Math.log(x / x0)) / Math.log(x1 / x0)

/** the FFN roles of a block (its attention, norms and the rest run on every row) */
const FFN_ROLES: ReadonlySet<string> = new Set(['dense_ffn', 'router', 'shared_experts', 'routed_experts'])

/**
 * Does this weight's op run on the ubatch's output rows only? The output matrix, and the last
 * block's FFN: llama.cpp's graphs (src/models/*.cpp, `il == n_layer - 1 && inp_out_ids`) keep only
 * the rows whose logits are asked for after the last block's attention, one of a prompt's ubatch in
 * llama-bench and llama-server. On qwen3moe-tiny (4 blocks) pp512 at one thread that block's routed
 * experts took 12–13 µs a node against 4.7–5.0 ms in the other blocks (op profile), a quarter of the
 * experts' FLOPs the planner charged (docs/speed-fidelity.md, sixteenth session).
 */
export function outputRowsOnly(t: Pick<Inventory['tensors'][number], 'role' | 'layer'>, nLayer: number): boolean {
  return t.role === 'output' || (t.layer === nLayer - 1 && FFN_ROLES.has(t.role))
}

export function tallyWork(inv: Inventory, a: Assignment, ubatch: number): Work {
  const hp = inv.shape.hp
  const nLayer = hp.nLayer
  const kFrac = (hp.nExpert ?? 0) > 0 ? (hp.nExpertUsed ?? 0) / (hp.nExpert ?? 1) : 0
  const zero = () => Object.fromEntries(['CPU', ...a.gpus.map((g) => g.id)].map((id) => [id, 0]))
  const w: Work = {
    weightBytes: zero(),
    costFlops: zero(),
    devFlops: zero(),
    allBytes: zero(),
    cpuWorkingSet: 0,
    cpuAllBytes: 0,
    cpuRoutedFlops: 0,
    cpuDenseFlops: 0,
    layersOn: {},
    cpuLayers: 0,
    cpuMats: [],
  }
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
    w.weightBytes[d] += t.bytes * frac
    // prefill: the output matrix computes logits for the last token of a ubatch only (llama.cpp
    // outputs the last token's logits unless asked for all: llama-bench, llama-server prompts), and
    // so does the last block's FFN (outputRowsOnly)
    const prefillFrac = outputRowsOnly(t, nLayer) ? frac / ubatch : frac
    w.devFlops[d] += 2 * t.elements * prefillFrac
    w.allBytes[d] += t.bytes
    if (d === 'CPU') {
      const rowLen = t.shape[0] ?? 0
      w.costFlops.CPU += (2 * t.elements * frac * typeCost(t.typeName)) / widthEff(rowLen, MATMUL_K_HALF_DECODE)
      const ppEff = widthEff(rowLen, MATMUL_K_HALF_PREFILL)
      w.cpuAllBytes += t.bytes
      w.cpuWorkingSet += t.bytes
      if (routed) w.cpuRoutedFlops += (2 * t.elements * prefillFrac) / ppEff
      else w.cpuDenseFlops += (2 * t.elements * prefillFrac) / ppEff
      // a routed tensor [K, rows, experts] is one op per used expert (MUL_MAT_ID); norms (1-D) are not matmuls
      if (t.shape.length >= 2 && rowLen > 0) {
        const experts = routed && t.shape.length >= 3
        const rows = experts ? t.shape[1] : t.elements / rowLen
        const ops = experts ? (hp.nExpertUsed ?? 1) : 1
        const layout = experts ? 'experts' : t.shape.length >= 3 && t.shape[2] > 1 ? 'stacked' : 'matrix'
        const ppOps = outputRowsOnly(t, nLayer) ? ops / ubatch : ops
        // experts on the CPU beside a GPU layer got there by a tensor override: the plain CPU buffer
        const plain = routed && a.layerDevice[t.layer!] !== 'CPU'
        w.cpuMats.push({
          type: t.typeName,
          k: rowLen,
          rows,
          ops,
          bytes: t.bytes * frac,
          layout,
          amx: amxTakes(t) && !plain,
          ...(plain ? {plain} : {}),
          ppOps,
        })
      }
    } else w.costFlops[d] += 2 * t.elements * frac * typeCost(t.typeName)
  }
  for (let l = 0; l < nLayer; l++) w.layersOn[a.layerDevice[l]] = (w.layersOn[a.layerDevice[l]] ?? 0) + 1
  for (let l = 0; l < nLayer; l++)
    if (a.layerDevice[l] === 'CPU' || (inv.expertLayerBytes.has(l) && a.expertDevice[l] === 'CPU')) w.cpuLayers++
  return w
}

/** Device changes along the layer sequence of one token. */
export interface Handoffs {
  /** CPU↔GPU boundaries (two make a round trip) */
  cpuGpu: number
  /** GPU→GPU boundaries of a layer split */
  gpuGpu: number
  /** boundaries to or from an RPC device */
  rpc: number
  /** moves onto and off RPC devices along the sequence, and whether the output is on one (planner/rpc.ts) */
  rpcCross: {onto: number; off: number; outputRemote: boolean}
  /** what crosses per decoded token, and the link it crosses: measured (calibrate --rpc) or assumed */
  rpcDecode: RpcTraffic
  rpcLink: RpcLinkModel
}

export function countHandoffs(inv: Inventory, a: Assignment, link: RpcLinkModel = ASSUMED_LINK): Handoffs {
  const hp = inv.shape.hp
  const nLayer = hp.nLayer
  const isRpc = (d: string) => a.gpus.some((g) => g.rpc && g.id === d)
  const h = {cpuGpu: 0, gpuGpu: 0, rpc: 0}
  let prev = 'CPU'
  const seq = [prev]
  const step = (d: string) => {
    seq.push(d)
    if (d !== prev) {
      if (isRpc(d) || isRpc(prev)) h.rpc++
      else if (d !== 'CPU' && prev !== 'CPU') h.gpuGpu++
      else h.cpuGpu++
    }
    prev = d
  }
  for (let l = 0; l < nLayer; l++) {
    step(a.layerDevice[l])
    if (inv.expertLayerBytes.has(l)) step(a.expertDevice[l])
  }
  step(a.layerDevice[nLayer])
  const rpcCross = rpcCrossings(seq, isRpc)
  return {
    ...h,
    rpcCross,
    rpcDecode: rpcTraffic({...rpcCross, nEmbd: hp.nEmbd, nVocab: hp.nVocab, tokens: 1}),
    rpcLink: link,
  }
}

/**
 * RPC (issue 15): seconds per decoded token on the network to and from llama.cpp RPC devices:
 * round trips × the link's round trip + bytes crossing ÷ its bandwidth (planner/rpc.ts).
 */
export function rpcHopSeconds(h: Handoffs, k: K): number {
  return rpcTransferSeconds(h.rpcDecode, h.rpcLink, k)
}

/** Hand-offs per decoded token: CPU↔GPU round trips, GPU→GPU boundaries, RPC hops. */
export function handoffSeconds(h: Handoffs, k: K): number {
  return Math.ceil(h.cpuGpu / 2) * T_SYNC_S[k] + h.gpuGpu * T_GPU_HOP_S[k] + rpcHopSeconds(h, k)
}

/** Effective CPU rates for one plan: class constants, or the profile's calibration where it measured. */
export interface CpuRates {
  threads: number
  threadsEff: number
  /** DRAM bandwidth in decode (B/s) */
  bw(k: K): number
  /** last-level cache: bytes that hold weights, and their read bandwidth (B/s) */
  llcBytes(k: K): number
  /**
   * bytes of weights the last-level cache holds for matrices with rows of `rowLen` weights
   * (calibrate's capacity sweep at two row lengths, log-interpolated between them; llcBytes where
   * the calibration has no short-row sweep at this thread count)
   */
  llcBytesRow(rowLen: number): number
  /**
   * the share of a weight's bytes the last-level cache serves when they come back after `distance`
   * bytes of other reads, for rows of `rowLen` weights: calibrate's capacity-sweep curves (at this
   * thread count, log-interpolated in row length and distance; past the largest total the share
   * falls as 1 ÷ distance), or llcBytesRow ÷ distance for calibrations without curves. `end` low /
   * high: the curves' smallest / largest sample shares (the ends of a range), where the calibration
   * has them; mid: the calibration's pick (the median)
   */
  llcHit(rowLen: number, distance: number, end?: K): number
  llcBw(k: K): number
  /** decode (matrix × vector) and prefill (matrix × matrix) cost-FLOP/s */
  decodeOps(k: K): number
  /** decode cost-FLOP/s on weights the last-level cache holds (calibrated; else decodeOps) */
  decodeCacheOps(k: K): number
  prefillOps(k: K): number
  /** MLA attention in decode, FLOP/s */
  attnOps(k: K): number
  /** per layer per graph evaluation, and per graph evaluation (s) */
  layerSync(k: K): number
  tokenOverhead(k: K): number
  ghz(k: K): number
  calDecode: number | null
  calDecodeCache: number | null
  calPrefill: number | null
  /**
   * calibrated prefill besides the matmuls: ns per prompt token and activation element
   * (prefillRestUnits; cpuThroughput[].prefillRestNs at this thread count), or null: then the FLOP rate carries it
   */
  prefillRestNs: number | null
  desktop: boolean
  effBase: Range
  /** measured decode kernels at this thread count (calibrate), or null: see kernelDecodeSeconds */
  kernels: KernelRates | null
  /** measured prefill kernels at this thread count (calibrate), or null: see prefillKernelFlops */
  prefillKernels: PrefillRates | null
  /** measured flash attention at this thread count: seconds per query × key × head of a head with K and V dims (calibrate), or null */
  prefillAttn: ((k: number, v: number) => number) | null
  /** the same for one decoded query over a deep, streamed cache (seconds per key × head), or null */
  decodeAttn: ((k: number, v: number, gqa?: number) => number) | null
}

/** Calibrated ggml prefill kernels at one thread count (calibration.decodeKernels.prefill). */
export interface PrefillRates {
  /**
   * a weight's prefill kernel as llama.cpp runs it: FLOP/s of one prompt token's product with it,
   * and whether it runs one matrix × vector per routed row (CPU_REPACK's MUL_MAT_ID: no batch effect)
   */
  kernel(m: Pick<CpuMat, 'type' | 'k' | 'rows' | 'layout' | 'amx' | 'plain'>): {rate: number; rowByRow: boolean}
  /** the reference: Q4_K at MATMUL_K_REF in the buffer llama.cpp gives a 2-D Q4_K matrix */
  ref: number
  /** types the calibration lacks, at Q4_K's rate ÷ its TYPE_COST ratio */
  unmeasured: Set<string>
}

/** Calibrated ggml matrix × vector kernels at one thread count (calibration.decodeKernels). */
export interface KernelRates {
  /**
   * seconds of one op over `matrices` matrices (MUL_MAT_ID: the used experts; 1 otherwise) of `rows`
   * rows of K weights of `type`, by residency, in the buffer llama.cpp gives the weight (`m`: its
   * layout; a 2-D matrix when omitted): the rows' time plus one per-op cost
   */
  op(
    type: string,
    k: number,
    rows: number,
    residency: 'cache' | 'dram',
    m?: Pick<CpuMat, 'layout' | 'amx'>,
    matrices?: number,
  ): number
  /** the kernels' time inside a model ÷ the benchmark's (calibrated; 1 without): DRAM, and cached reads */
  scale: number
  scaleCache: number
  /** per layer and per token besides the kernels (s) */
  layerS: number
  tokenS: number
  /** types the calibration lacks, timed as Q4_K × TYPE_COST ratio */
  unmeasured: Set<string>
  /** types whose plain-CPU-buffer kernels the calibration lacks, timed with their extra buffer's */
  plainAssumed: Set<string>
  /**
   * stacked (3-D per-head) weights' time ÷ the plain-buffer line's, cached and streamed, per measured
   * type ('' for a calibration that kept one factor for every type); empty: not measured (1)
   */
  stacked: Map<string, {cache: number; dram: number}>
}

/** Linear in the thread count between calibrated points; the nearest point outside them. */
function atThreads<T extends {threads: number}>(pts: T[], threads: number, val: (p: T) => number): number | null {
  const ps = [...pts].sort((a, b) => a.threads - b.threads)
  if (!ps.length) return null
  if (threads <= ps[0].threads) return val(ps[0])
  for (let i = 1; i < ps.length; i++)
    if (threads <= ps[i].threads) {
      const a = ps[i - 1],
        b = ps[i]
      return val(a) + ((val(b) - val(a)) * (threads - a.threads)) / (b.threads - a.threads)
    }
  return val(ps[ps.length - 1])
}

export function kernelRates(
  dk: NonNullable<HardwareProfile['calibration']>['decodeKernels'],
  threads: number,
): KernelRates | null {
  if (!dk || !dk.kernels.length || !dk.overheads.length) return null
  const unmeasured = new Set<string>()
  const plainAssumed = new Set<string>()
  /** a and b of one type's points (one buffer), or null */
  const line = (pts: typeof dk.kernels) =>
    pts.length
      ? {
          a: atThreads(pts, threads, (x) => x.nsPerRow)! * 1e-9,
          b: atThreads(pts, threads, (x) => x.nsPerWeight)! * 1e-9,
        }
      : null
  // the buffer llama.cpp gives the weight (its plain-buffer timings: vec_dot, not the repacked gemv)
  const perType = (type: string, residency: 'cache' | 'dram', m: Pick<CpuMat, 'rows' | 'layout' | 'amx' | 'plain'>) => {
    const b = bufferPoints(
      dk.kernels.filter((x) => x.type === type && x.residency === residency),
      m,
    )
    if (b.assumed) plainAssumed.add(type)
    return line(b.pts)
  }
  /** a per-residency fit (the per-op cost, the stacked factor) at this thread count, or null */
  const atResidency = <T extends {residency: string; threads: number}>(
    xs: T[] | undefined,
    residency: 'cache' | 'dram',
    val: (x: T) => number,
  ) =>
    atThreads(
      (xs ?? []).filter((x) => x.residency === residency),
      threads,
      val,
    )
  const opS = (residency: 'cache' | 'dram') => (atResidency(dk.ops, residency, (x) => x.us) ?? 0) * 1e-6
  const ops = {cache: opS('cache'), dram: opS('dram')}
  // stacked weights (MLA's 3-D attn_k_b/attn_v_b): their type's measured factor over the plain-buffer
  // line; a type without stacked cases takes the geometric mean of the measured types' factors
  const stacked = new Map<string, {cache: number; dram: number}>()
  for (const type of new Set((dk.stacked ?? []).map((x) => x.type ?? ''))) {
    const of = (dk.stacked ?? []).filter((x) => (x.type ?? '') === type)
    const by = (residency: 'cache' | 'dram') => atResidency(of, residency, (x) => x.factor) ?? 1
    stacked.set(type, {cache: by('cache'), dram: by('dram')})
  }
  const stackedFactor = (type: string, residency: 'cache' | 'dram') => {
    const own = stacked.get(type) ?? stacked.get('')
    if (own) return own[residency]
    const fs = [...stacked.values()].map((x) => x[residency])
    return fs.length ? Math.exp(fs.reduce((t, f) => t + Math.log(f), 0) / fs.length) : 1
  }
  const scale = atThreads(dk.overheads, threads, (x) => x.scale ?? 1)!
  const scaleCache = atThreads(dk.overheads, threads, (x) => x.scaleCache ?? x.scale ?? 1)!
  return {
    op(type, k, rows, residency, m = {layout: 'matrix', amx: false}, matrices = 1) {
      const at = {rows, ...m}
      let r = perType(type, residency, at)
      if (!r) {
        const q = perType('Q4_K', residency, at)
        if (!q) return 0
        unmeasured.add(type)
        const f = typeCost(type) / TYPE_COST.Q4_K
        r = {a: q.a * f, b: q.b * f}
      }
      const layoutF = m.layout === 'stacked' ? stackedFactor(type, residency) : 1
      return (
        (matrices * rows * (r.a + r.b * k) + ops[residency]) * layoutF * (residency === 'cache' ? scaleCache : scale)
      )
    },
    scale,
    scaleCache,
    stacked,
    layerS: atThreads(dk.overheads, threads, (x) => x.layerUs)! * 1e-6,
    tokenS: atThreads(dk.overheads, threads, (x) => x.tokenUs)! * 1e-6,
    unmeasured,
    plainAssumed,
  }
}

/**
 * Measured flash attention (pure): seconds per query × key × head at this thread count from
 * calibrate's attention cases — prefill's (decodeKernels.attention: a causal ubatch) or decode's
 * (decodeAttention: one query over a deep streamed cache) — for a head of K and V dims: the measured
 * geometry itself, else linear in K + V dims between the two measured geometries around it, and
 * beyond them in proportion to the nearest (per-pair time ∝ dims within 25 % over 128–1088 dims on a
 * Zen 4 guest in prefill: 6.0, 12.3, 23.0, 46.4 ns at one thread; in decode the per-head walk of a
 * GQA cache breaks it: 28, 105, 58, 101 ns). In decode a per-head cache's time also depends on the
 * query heads per KV head (`gqa`; heads sharing a KV head read its keys from cache): where the
 * calibration measured several ratios of a geometry, log-linear between them. Null without
 * attention cases.
 */
export function measuredAttention(
  dk: NonNullable<HardwareProfile['calibration']>['decodeKernels'],
  threads: number,
  phase: 'prefill' | 'decode' = 'prefill',
): ((k: number, v: number, gqa?: number) => number) | null {
  const pts = (phase === 'decode' ? dk?.decodeAttention : dk?.attention) ?? []
  if (!pts.length) return null
  const keys = [...new Set(pts.map((x) => `${x.k}/${x.dv}`))]
  const geos = keys
    .map((key) => {
      const [k, v] = key.split('/').map(Number)
      const at = pts.filter((x) => x.k === k && x.dv === v)
      // per measured ratio (decode, per-head caches: DECODE_GQA_SHAPES), ascending; one entry (ratio 0) without
      const ratios = [...new Set(at.map((x) => x.gqa ?? 0))]
        .sort((a, b) => a - b)
        .map((r) => ({
          r,
          s:
            atThreads(
              at.filter((x) => (x.gqa ?? 0) === r),
              threads,
              (x) => x.nsPerPair,
            )! * 1e-9,
        }))
      return {k, v, d: k + v, ratios}
    })
    .sort((a, b) => a.d - b.d)
  /** a geometry's per-pair time at query heads per KV head `gqa`: log-linear between measured ratios, the nearest beyond; without one, the fewest measured */
  const atRatio = (g: (typeof geos)[number], gqa: number | undefined) => {
    const rs = g.ratios
    if (rs[0].r === 0 || gqa === undefined || gqa <= rs[0].r) return rs[0].s
    const i = rs.findIndex((x) => gqa <= x.r)
    return i < 0 ? rs[rs.length - 1].s : logLerp(gqa, rs[i - 1].r, rs[i - 1].s, rs[i].r, rs[i].s)
  }
  return (k, v, gqa) => {
    const s = (g: (typeof geos)[number]) => atRatio(g, gqa)
    const same = geos.find((g) => g.k === k && g.v === v)
    if (same) return s(same)
    const d = k + v
    if (d <= geos[0].d) return (s(geos[0]) * d) / geos[0].d
    for (let i = 1; i < geos.length; i++)
      if (d <= geos[i].d) {
        const a = geos[i - 1],
          b = geos[i]
        return b.d === a.d ? (s(a) + s(b)) / 2 : s(a) + ((s(b) - s(a)) * (d - a.d)) / (b.d - a.d)
      }
    const last = geos[geos.length - 1]
    return (s(last) * d) / last.d
  }
}

/** activation columns of calibrate's prefill kernels (src/runner/kernels.ts prefillCases): llama.cpp's default ubatch */
export const PREFILL_KERNEL_COLS = 512
/**
 * Prefill kernels (pure): each weight's rate from calibrate's prefill cases — the buffer llama.cpp
 * gives it (extraBufferTakes), log-interpolated between the measured row lengths. Routed experts
 * in CPU_REPACK run at the decode kernels' cached matrix × vector rate: the pinned release's
 * repack.cpp forward_mul_mat_id calls gemv once per routed row, each rereading its expert from
 * wherever it sits (the routed cases' small experts stay in L2: 51–75 GFLOP/s at K 2048, one
 * thread, where r1-dram's 1.8 MB experts ran at the cached line). Other routed experts take the
 * routed-expert cases' rate (MUL_MAT_ID has no llamafile sgemm: a plain Q5_0 expert runs at 0.4 of
 * its 2-D rate); calibrations without them, the 2-D rate.
 * Null without prefill kernels.
 */
export function prefillRates(
  dk: NonNullable<HardwareProfile['calibration']>['decodeKernels'],
  threads: number,
): PrefillRates | null {
  const pts = dk?.prefill ?? []
  if (!pts.length) return null
  const routed = dk?.prefillExperts ?? []
  const cached = (dk?.kernels ?? []).filter((x) => x.residency === 'cache')
  const unmeasured = new Set<string>()
  type Weight = Pick<CpuMat, 'type' | 'k' | 'rows' | 'layout' | 'amx' | 'plain'>
  /** the prefill points' (2-D, or routed experts') rate at K (per K at this thread count, log-interpolated in K), or null */
  const gemm = (m: Weight, of = pts): number | null => {
    const use = bufferPoints(
      of.filter((x) => x.type === m.type),
      m,
    ).pts
    const ks = [...new Set(use.map((x) => x.k))].sort((a, b) => a - b)
    if (!ks.length) return null
    const g = ks.map(
      (kk) =>
        atThreads(
          use.filter((x) => x.k === kk),
          threads,
          (x) => x.gflops,
        )! * 1e9,
    )
    if (m.k <= ks[0]) return g[0]
    for (let i = 1; i < ks.length; i++) if (m.k <= ks[i]) return logLerp(m.k, ks[i - 1], g[i - 1], ks[i], g[i])
    return g[g.length - 1]
  }
  /** routed experts in CPU_REPACK: matrix × vector, weights cached (a thread's slice of the expert) */
  const gemv = (m: Weight): number | null => {
    const b = bufferPoints(
      cached.filter((x) => x.type === m.type),
      m,
    )
    if (!b.extra || !b.pts.length) return null
    const a = atThreads(b.pts, threads, (x) => x.nsPerRow)! * 1e-9,
      c = atThreads(b.pts, threads, (x) => x.nsPerWeight)! * 1e-9
    return a + c * m.k > 0 ? (2 * m.k) / (a + c * m.k) : null
  }
  const ref = gemm({type: 'Q4_K', k: MATMUL_K_REF, rows: REPACK_ROW_MULTIPLE * 64, layout: 'matrix', amx: false})
  if (!ref) return null
  return {
    kernel(m) {
      const repacked =
        m.layout === 'experts' &&
        bufferPoints(
          pts.filter((x) => x.type === m.type),
          m,
        ).extra
      const v = repacked ? gemv(m) : null
      if (v !== null) return {rate: v, rowByRow: true}
      // plain-buffer routed experts with measured MUL_MAT_ID kernels: their own rate
      const r = m.layout === 'experts' && routed.length ? gemm(m, routed) : null
      if (r) return {rate: r, rowByRow: false}
      const g = gemm(m)
      if (g) return {rate: g, rowByRow: false}
      unmeasured.add(m.type)
      return {rate: ((gemm({...m, type: 'Q4_K'}) ?? ref) * TYPE_COST.Q4_K) / typeCost(m.type), rowByRow: false}
    },
    ref,
    unmeasured,
  }
}

/**
 * A CPU prefill's matmul FLOPs per prompt token, in reference FLOPs and plain (pure): each weight's FLOPs ×
 * the reference kernel's rate ÷ its own (PrefillRates), so that one calibrated throughput (fitted on a
 * model's prefill in the same units) carries over to models of other types and row lengths. Plain-
 * buffer experts keep the batch efficiency of their rows per expert (vec_dot blocks); repacked ones
 * run a matrix × vector per routed row whatever the batch.
 */
export function prefillKernelFlops(work: Work, pr: PrefillRates, expertBatchEff: number): {ref: number; plain: number} {
  let ref = 0,
    plain = 0
  for (const m of work.cpuMats) {
    const flops = 2 * m.k * m.rows * (m.ppOps ?? m.ops)
    const kernel = pr.kernel(m)
    const batch = m.layout === 'experts' && !kernel.rowByRow ? expertBatchEff : 1
    ref += (flops * pr.ref) / kernel.rate / batch
    plain += flops
  }
  return {ref, plain}
}

export function cpuRates(
  host: PlanHost,
  cal: HardwareProfile['calibration'] | null,
  threads: number,
  build: EngineBuild,
  numa: NumaSpeedMode,
): CpuRates {
  const threadsEff =
    Math.min(threads, host.cores) + SMT_GAIN * Math.max(0, Math.min(threads, host.threads) - host.cores)
  const desktop =
    host.channelsPerSocket !== null && host.channelsPerSocket <= DESKTOP_MAX_CHANNELS && host.sockets === 1
  const effBase = host.cpuBandwidthMeasured ? CPU_BW_EFF_TRIAD : desktop ? CPU_BW_EFF_DESKTOP : CPU_BW_EFF_SERVER
  const ghz = (k: K) => (host.ghzKnown ? host.ghz : UNKNOWN_GHZ[k])
  const calAt = (pick: (p: NonNullable<NonNullable<typeof cal>['cpuThroughput']>[number]) => number | undefined) =>
    cal?.cpuThroughput
      ? interpolateThroughput(
          cal.cpuThroughput.map((p) => ({threads: p.threads, gflops: pick(p) ?? 0})),
          threads,
        )
      : null
  // the capacity sweep's entries: the long row (K 2048; older calibrations have no k) and the short
  const llcAll = cal?.decodeKernels?.llc ?? []
  const llcLong = llcAll.filter((x) => x.k === undefined || x.k >= LLC_SWEEP_K_LONG)
  const llcShort = llcAll.filter((x) => x.k !== undefined && x.k < LLC_SWEEP_K_LONG)
  const llcCurves = llcLong.filter((x) => x.hits?.length)
  const calDecode = calAt((p) => p.decodeGflops)
  const calDecodeCache = calAt((p) => p.decodeCacheGflops)
  const calPrefill = calAt((p) => p.prefillGflops)
  // (a calibration's prefillOtherNs, per routed expert, is superseded: its models fit only the old charge)
  const otherPts = (cal?.cpuThroughput ?? []).filter((p) => p.prefillRestNs !== undefined)
  const prefillRestNs = otherPts.length ? atThreads(otherPts, threads, (p) => p.prefillRestNs!) : null
  const numaCompute = (k: K) => (host.sockets > 1 && numa !== 'single' ? NUMA_COMPUTE_FACTOR[k] : 1)
  const uarch = UARCH_VECTOR_FACTOR[host.microarchitecture ?? ''] ?? 1
  const perThread = (k: K) => threadsEff * ghz(k) * 1e9
  const classDecode = (k: K) =>
    perThread(k) * DECODE_OPS_PER_CYCLE[host.cpuVendor][k] * DECODE_ISA_FACTOR[host.isa] * uarch * numaCompute(k)
  return {
    threads,
    threadsEff,
    ghz,
    kernels: kernelRates(cal?.decodeKernels, threads),
    prefillKernels: prefillRates(cal?.decodeKernels, threads),
    prefillAttn: measuredAttention(cal?.decodeKernels, threads),
    decodeAttn: measuredAttention(cal?.decodeKernels, threads, 'decode'),
    calDecode,
    calDecodeCache,
    calPrefill,
    prefillRestNs,
    desktop,
    effBase,
    bw: (k) =>
      cal?.decodeBandwidthGBs
        ? cal.decodeBandwidthGBs * 1e9 * CALIBRATED_SPREAD[k]
        : // an unknown memory system's high end: its CPU class's ceiling (hardware.ts UNKNOWN_MEMORY_HIGH_GBS)
          (k === 'high' && host.cpuBandwidthUnknownHighGBs
            ? Math.max(host.cpuBandwidthGBs, host.cpuBandwidthUnknownHighGBs)
            : host.cpuBandwidthGBs) *
          1e9 *
          effBase[k] *
          NUMA_BW_FACTOR[numa][k],
    llcBytes: (k) => {
      // measured at this thread count (calibrate's capacity sweep), else the probed L3 × a share
      const m = llcLong.length ? atThreads(llcLong, threads, (x) => x.bytes) : null
      return m !== null ? m : (host.l3Bytes ?? 0) * LLC_WEIGHT_FRACTION[k]
    },
    llcBytesRow(rowLen) {
      const long = this.llcBytes('mid')
      const short = llcShort.find((x) => x.threads === threads)
      if (!short || !(rowLen < LLC_SWEEP_K_LONG)) return long
      if (rowLen <= short.k!) return short.bytes
      return logLerp(rowLen, short.k!, short.bytes, LLC_SWEEP_K_LONG, long)
    },
    llcHit(rowLen, distance, end = 'mid') {
      if (!(distance > 0)) return 0
      const hits = (x: {hits?: Array<{bytes: number; hit: number; low?: number; high?: number}>}) =>
        end === 'mid' ? x.hits! : x.hits!.map((h) => ({bytes: h.bytes, hit: (end === 'low' ? h.low : h.high) ?? h.hit}))
      const long = llcCurves.length ? atThreads(llcCurves, threads, (x) => curveHit(hits(x), distance)) : null
      if (long === null) return Math.min(1, this.llcBytesRow(rowLen) / distance)
      const short = llcShort.find((x) => x.threads === threads && x.hits?.length)
      if (!short || !(rowLen < LLC_SWEEP_K_LONG)) return long
      const hs = curveHit(hits(short), distance)
      return rowLen <= short.k! ? hs : logLerp(rowLen, short.k!, hs, LLC_SWEEP_K_LONG, long)
    },
    llcBw: (k) => threadsEff * LLC_BW_PER_THREAD_GBS[k] * 1e9,
    decodeOps: (k) => (calDecode ? calDecode * 1e9 * CALIBRATED_SPREAD[k] : classDecode(k)),
    decodeCacheOps: (k) =>
      calDecodeCache
        ? calDecodeCache * 1e9 * CALIBRATED_SPREAD[k]
        : calDecode
          ? calDecode * 1e9 * CALIBRATED_SPREAD[k]
          : classDecode(k),
    prefillOps: (k) => {
      if (calPrefill) return calPrefill * 1e9 * CALIBRATED_SPREAD[k]
      if (build === 'kt-kernel' && host.isa === 'amx') return perThread(k) * 2048 * AMX_PREFILL_EFF[k] * numaCompute(k)
      return perThread(k) * PREFILL_OPS_PER_CYCLE[build][k] * PREFILL_ISA_FACTOR[host.isa] * uarch * numaCompute(k)
    },
    attnOps: (k) => perThread(k) * MLA_DECODE_CPU_OPS_PER_CYCLE[k],
    layerSync: (k) =>
      cal?.layerOverheadUs !== undefined
        ? cal.layerOverheadUs * 1e-6 * CALIBRATED_SPREAD[flip(k)]
        : CPU_LAYER_SYNC_S[k] + CPU_LAYER_SYNC_PER_THREAD_S[k] * threads,
    tokenOverhead: (k) =>
      cal?.tokenOverheadMs !== undefined ? cal.tokenOverheadMs * 1e-3 * CALIBRATED_SPREAD[flip(k)] : 0,
  }
}

/** Effective GPU rates: class constants by backend, or the calibration of that GPU. */
export interface GpuRates {
  cal(g: PlanGpu): NonNullable<NonNullable<HardwareProfile['calibration']>['gpus']>[number] | null
  bw(g: PlanGpu, k: K): number
  prefillFlops(g: PlanGpu, k: K): number
  /** per layer on this GPU, per decoded token and per prefill ubatch (s) */
  layerS(g: PlanGpu, k: K): number
}

/** A GPU's decode bandwidth from its spec × the backend's η (B/s): the published-class rate. */
export function gpuSpecBandwidth(g: PlanGpu, engine: Engine, k: K): number {
  return g.bandwidthGBs * 1e9 * GPU_BW_EFF[backendOf(g, engine)][k]
}

export function gpuRates(cal: HardwareProfile['calibration'] | null, engine: Engine): GpuRates {
  const calGpu = (g: PlanGpu) => cal?.gpus?.find((x) => x.index === g.localIndex) ?? null
  return {
    cal: calGpu,
    bw: (g, k) => {
      if (g.rpc) return g.bandwidthGBs * 1e9 * CPU_BW_EFF_SERVER[k]
      const c = calGpu(g)
      if (c?.bandwidthGBs) return c.bandwidthGBs * 1e9 * CALIBRATED_SPREAD[k]
      return gpuSpecBandwidth(g, engine, k)
    },
    prefillFlops: (g, k) => {
      const c = calGpu(g)
      if (c?.prefillTflops) return c.prefillTflops * 1e12 * CALIBRATED_SPREAD[k]
      return g.fp16Tflops * 1e12 * GPU_PREFILL_EFF[backendOf(g, engine)][k]
    },
    layerS: (g, k) => {
      const c = calGpu(g)
      if (c?.layerUs !== undefined) return c.layerUs * 1e-6 * CALIBRATED_SPREAD[flip(k)]
      // calibrations before layerUs folded the per-layer cost into their bandwidth
      if (c?.bandwidthGBs) return 0
      return GPU_LAYER_S[k]
    },
  }
}

/**
 * Cache term: of `bytes` read per token from a working set of `workingSet` bytes, the share the
 * last-level cache holds (LLC_WEIGHT_FRACTION) is read at cache bandwidth, the rest from DRAM.
 */
export function cacheTerm(
  bytes: number,
  workingSet: number,
  cpu: Pick<CpuRates, 'llcBytes' | 'llcBw' | 'bw'>,
  k: K,
): {hit: number; dramS: number; cacheS: number} {
  const hit = workingSet > 0 ? Math.min(1, cpu.llcBytes(k) / workingSet) : 0
  return {hit, dramS: (bytes * (1 - hit)) / cpu.bw(k), cacheS: (bytes * hit) / cpu.llcBw(k)}
}

/** Decode time per token at one end of the range, in parts (s). */
export interface DecodeParts {
  cpuMemory: number
  cpuCache: number
  cpuCompute: number
  cpu: number
  rpc: number
  gpu: number
  attention: number
  sync: number
  handoff: number
  total: number
  /** share of the CPU's bytes read from the last-level cache */
  llcHit: number
  /** the measured-kernel decode's op kinds (cpuCompute's parts); absent without measured kernels */
  cpuOps?: CpuOpPart[]
}

interface PlanCtx {
  inv: Inventory
  a: Assignment
  kv: KvModel
  ctx: number
  ubatch: number
  engine: Engine
  build: EngineBuild
  /** calibrate's measured flash attention that applies to this plan (see measuredPlanAttention) */
  fa: PlanAttention
  work: Work
  hand: Handoffs
  cpu: CpuRates
  gpu: GpuRates
  /** CPU weights in the GPU's pinned host buffer (--no-mmap): op-offload copies at the link's rate */
  pinnedHost: boolean
  /** false: --no-op-offload (the CPU computes the weights it holds in prefill) */
  opOffload: boolean
}

const isRpcIn = (a: Assignment, d: string) => a.gpus.some((g) => g.rpc && g.id === d)
const gpuIn = (a: Assignment, d: string) => a.gpus.find((x) => x.id === d)!
const mlaAttention = (p: PlanCtx) => p.inv.arch === 'deepseek2' && p.kv.layout !== 'per-head'

export function decodeSeconds(p: PlanCtx, k: K): DecodeParts {
  const {inv, a, kv, work, cpu, gpu} = p
  const hp = inv.shape.hp
  const nLayer = hp.nLayer
  const depth = Math.round(p.ctx * KV_DEPTH[k])
  const kvBytes: Record<string, number> = {}
  if (depth > 0)
    for (let l = 0; l < nLayer; l++)
      kvBytes[a.layerDevice[l]] = (kvBytes[a.layerDevice[l]] ?? 0) + kv.layerBytesAt(l, depth, 1)
  // MLA latent attention: 2 × heads × depth × (kv_lora + rope + kv_lora) FLOPs per layer
  const attnPerLayer = mlaAttention(p) ? 2 * hp.nHead * depth * attnHeadDims(inv.shape, kv.layout) : 0
  const mlaGpuEff = p.build === 'ktransformers-0.2' ? MLA_DECODE_GPU_EFF.old : MLA_DECODE_GPU_EFF.new
  const t: DecodeParts = {
    cpuMemory: 0,
    cpuCache: 0,
    cpuCompute: 0,
    cpu: 0,
    rpc: 0,
    gpu: 0,
    attention: 0,
    sync: 0,
    handoff: 0,
    total: 0,
    llcHit: 0,
  }
  for (const id of Object.keys(work.weightBytes)) {
    const bytes = work.weightBytes[id] + (kvBytes[id] ?? 0)
    const layers = work.layersOn[id] ?? 0
    if (id === 'CPU') {
      const c = cacheTerm(bytes, work.cpuWorkingSet + (kvBytes.CPU ?? 0), cpu, k)
      t.llcHit = c.hit
      t.cpuMemory = c.dramS
      t.cpuCache = c.cacheS
      t.attention +=
        p.fa.decode !== undefined
          ? layers * hp.nHead * depth * p.fa.decode * CALIBRATED_SPREAD[flip(k)]
          : (attnPerLayer * layers) / cpu.attnOps(k)
      if (cpu.kernels) {
        // measured kernels: each op's time, from cache for the hit share and from DRAM for the rest
        // (the DRAM timings include the memory traffic: no separate memory term)
        // each op's cache share off the measured curve of its own row length at its reuse distance
        // (short rows lose the cache sooner with more threads: kernels.ts CAPACITY_KS)
        const ws = work.cpuWorkingSet + (kvBytes.CPU ?? 0)
        // (the range's low end: the curves' slowest sample shares, where the cache's share moved during calibrate)
        const hitRow = (rowLen: number, m: CpuMat) => llcShare(m, (d) => cpu.llcHit(rowLen, d, k), bytes, ws)
        // the op kinds only where the plan shows them (the mid end), not at every end of the range
        const ops: CpuOpPart[] | undefined = k === 'mid' ? [] : undefined
        t.cpuCompute = kernelDecodeSeconds(work, cpu.kernels, hitRow, ops) / CALIBRATED_SPREAD[k]
        if (ops) t.cpuOps = ops.map((o) => ({...o, seconds: o.seconds / CALIBRATED_SPREAD[k]}))
        t.llcHit = cacheByteShare(work.cpuMats, hitRow)
        t.sync += work.cpuLayers * cpu.kernels.layerS * CALIBRATED_SPREAD[flip(k)]
        continue
      }
      // compute on cached weights runs at the cache rate, on streamed ones at the DRAM rate (stalls)
      t.cpuCompute = work.costFlops.CPU * (c.hit / cpu.decodeCacheOps(k) + (1 - c.hit) / cpu.decodeOps(k))
      t.sync += work.cpuLayers * cpu.layerSync(k)
    } else if (isRpcIn(a, id)) {
      t.rpc += bytes / gpu.bw(gpuIn(a, id), k)
    } else {
      const g = gpuIn(a, id)
      t.gpu += bytes / gpu.bw(g, k)
      t.attention += (attnPerLayer * layers) / (g.fp16Tflops * 1e12 * mlaGpuEff[k])
      t.sync += (layers + (a.layerDevice[nLayer] === id ? 1 : 0)) * gpu.layerS(g, k)
    }
  }
  t.sync += cpu.kernels ? cpu.kernels.tokenS * CALIBRATED_SPREAD[flip(k)] : cpu.tokenOverhead(k)
  t.handoff = handoffSeconds(p.hand, k)
  t.cpu = cpu.kernels ? t.cpuCompute : Math.max(t.cpuMemory + t.cpuCache, t.cpuCompute)
  t.total = t.cpu + t.rpc + t.gpu + t.attention + t.sync + t.handoff
  return t
}

/**
 * The share of a weight's bytes a decoded token reads from the last-level cache (pure). A weight
 * every token reads (all but the routed experts) is read again after the bytes of one token
 * (`bytesPerToken`, its reuse distance), a routed expert's only after the router has visited the
 * rest (the whole `workingSet`). `capacity`: bytes of weights the cache holds (share min(1, capacity
 * ÷ distance)), or the share at a distance (CpuRates.llcHit: the measured curve).
 */
export function llcShare(
  m: Pick<CpuMat, 'layout'>,
  capacity: number | ((distance: number) => number),
  bytesPerToken: number,
  workingSet: number,
): number {
  const distance = m.layout === 'experts' ? workingSet : Math.min(bytesPerToken, workingSet)
  if (!(distance > 0)) return 0
  return typeof capacity === 'number' ? Math.min(1, capacity / distance) : capacity(distance)
}

/** The share of the CPU's decode weight bytes read from the last-level cache, each op at its own hit share (pure). */
export function cacheByteShare(mats: CpuMat[], hit: (rowLen: number, m: CpuMat) => number): number {
  let all = 0,
    cached = 0
  for (const m of mats) {
    all += m.bytes
    cached += m.bytes * hit(m.k, m)
  }
  return all > 0 ? cached / all : 0
}

/**
 * A capacity-sweep curve's hit share at a reuse distance (pure): the first point's share up to its
 * total, log-interpolated in bytes between points, and past the last total its share × total ÷
 * distance (the cache keeps what it held, spread over more bytes).
 */
export function curveHit(hits: ReadonlyArray<{bytes: number; hit: number}>, distance: number): number {
  if (distance <= hits[0].bytes) return hits[0].hit
  for (let i = 1; i < hits.length; i++)
    if (distance <= hits[i].bytes)
      return logLerp(distance, hits[i - 1].bytes, hits[i - 1].hit, hits[i].bytes, hits[i].hit)
  const last = hits[hits.length - 1]
  return (last.hit * last.bytes) / distance
}

/**
 * One kind of the CPU's matrix × vector ops in a decoded token, as the measured-kernel decode
 * charges it: `count` ops a token (a weight's ops in every layer that has it, merged) of `matrices`
 * matrices (MUL_MAT_ID: the used experts) of `rows` rows of K weights, `cacheShare` of their bytes
 * from the last-level cache, `seconds` all of them together.
 */
export interface CpuOpPart {
  type: string
  k: number
  rows: number
  matrices: number
  layout: CpuMat['layout']
  count: number
  cacheShare: number
  seconds: number
}

/**
 * CPU decode from measured kernels (calibration.decodeKernels): Σ over the CPU's matrix × vector ops
 * of one token of the op's time, a `hit` share from the last-level cache and the rest from DRAM.
 * `parts`, when given, receives each op kind's share (CpuOpPart, ops of the same kind merged).
 */
export function kernelDecodeSeconds(
  work: Work,
  kr: KernelRates,
  hit: number | ((rowLen: number, m: CpuMat) => number),
  parts?: CpuOpPart[],
): number {
  let s = 0
  for (const m of work.cpuMats) {
    const h = typeof hit === 'number' ? hit : hit(m.k, m)
    // a routed tensor's used experts are one MUL_MAT_ID: one per-op cost, not one per expert
    // (per-node timings inside tiny, qwen3moe-tiny and r1-dram: 4 experts of 256 rows took their
    // rows' time + one op's, 3–4 µs under a cost per expert at one thread; docs/speed-fidelity.md)
    const [n, matrices] = m.layout === 'experts' ? [1, m.ops] : [m.ops, 1]
    const op = (res: 'cache' | 'dram') => kr.op(m.type, m.k, m.rows, res, m, matrices)
    const t = n * (h * op('cache') + (1 - h) * op('dram'))
    s += t
    if (parts)
      addOpPart(parts, {
        type: m.type,
        k: m.k,
        rows: m.rows,
        matrices,
        layout: m.layout,
        count: n,
        cacheShare: h,
        seconds: t,
      })
  }
  return s
}

/** Adds an op kind to `parts`, merged with one of the same type, shape and layout (cache share count-weighted). */
function addOpPart(parts: CpuOpPart[], x: CpuOpPart): void {
  const same = parts.find(
    (p) => p.type === x.type && p.k === x.k && p.rows === x.rows && p.matrices === x.matrices && p.layout === x.layout,
  )
  if (!same) {
    parts.push({...x})
    return
  }
  same.cacheShare = (same.cacheShare * same.count + x.cacheShare * x.count) / (same.count + x.count)
  same.count += x.count
  same.seconds += x.seconds
}

/**
 * Fixed cost of one graph evaluation: a ubatch pays the per-layer barriers of its CPU layers, the
 * launches of its GPU layers and the per-graph cost once, as a decoded token does.
 */
export function ubatchOverheadSeconds(p: PlanCtx, k: K): number {
  let s = p.work.cpuLayers * p.cpu.layerSync(k) + p.cpu.tokenOverhead(k)
  for (const g of p.a.gpus) if (!g.rpc) s += (p.work.layersOn[g.id] ?? 0) * p.gpu.layerS(g, k)
  return s
}

/**
 * One prefill ubatch at one end of the range (s): compute per device in layer order, then overhead;
 * `attention`: the CPU's flash attention timed by calibrate's kernels (0 when not measured: then in
 * the FLOP-equivalents at the calibrated rate).
 */
export function prefillSeconds(p: PlanCtx, k: K): {total: number; overhead: number; attention: number} {
  const {inv, a, kv, work, cpu, gpu} = p
  const hp = inv.shape.hp
  const nLayer = hp.nLayer
  const attnDims = attnHeadDims(inv.shape, kv.layout)
  // attention over half the context (sliding-window layers: at most their window), per token
  const swa = new Set(kv.swaLayers)
  const keys = (l: number) => (swa.has(l) ? Math.min(p.ctx / 2, kv.swaWindow) : p.ctx / 2)
  const devFlops = {...work.devFlops}
  let cpuAttn = 0,
    cpuPairs = 0
  for (let l = 0; l < nLayer; l++) {
    const d = a.layerDevice[l]
    if (d !== 'CPU') devFlops[d] += 2 * hp.nHead * attnDims * keys(l)
    else if (p.fa.prefill !== undefined) cpuPairs += hp.nHead * keys(l)
    else cpuAttn += hp.nHead * keys(l) * ((2 * attnDims) / attnSpeedup(p.build) + attnPairFlops(p.build, k))
  }
  const tAttn = p.fa.prefill !== undefined ? p.ubatch * cpuPairs * p.fa.prefill * CALIBRATED_SPREAD[flip(k)] : 0
  const rowsPerExpert = (hp.nExpert ?? 0) > 0 ? (p.ubatch * (hp.nExpertUsed ?? 0)) / (hp.nExpert ?? 1) : Infinity
  const expertBatchEff = Math.max(1e-3, Math.min(1, rowsPerExpert / PREFILL_EXPERT_ROWS_FULL[p.build]))
  const localGpus = a.gpus.filter((g) => !g.rpc)
  const pcie = localGpus.length > 0 ? Math.min(...localGpus.map((g) => g.pcieGBs)) * 1e9 : 0
  // measured prefill kernels: the matmuls in reference FLOPs (each weight at its own kernel's rate);
  // attention's FLOP-equivalents (CPU_ATTN_*: at the model's matmul rate) scale with the model's
  // reference-to-plain FLOP ratio, so they still cost what its matmuls cost per FLOP
  const pk = cpu.prefillKernels ? prefillKernelFlops(work, cpu.prefillKernels, expertBatchEff) : null
  const cpuMatmul = pk ? pk.ref : work.cpuDenseFlops + work.cpuRoutedFlops / expertBatchEff
  const attnUnits = pk && pk.plain > 0 ? pk.ref / pk.plain : 1
  // with the calibrated rest besides the matmuls (cpuThroughput[].prefillRestNs): the matmuls at the
  // measured kernels' own rate, the rest per token and activation element; without it the fitted
  // FLOP rate carries the calibration models' share of the rest into every model. The rest is
  // deepseek2's (calibrate's models; its routing: sigmoid, bias, group-limited top-k over n_expert),
  // so another architecture keeps the fitted rate
  const other = otherApplies(p) ? cpu.prefillRestNs! * 1e-9 * CALIBRATED_SPREAD[flip(k)] : null
  const restUnits = prefillRestUnits(inv, a, kv.layout)
  const tCpuFlops =
    other !== null
      ? p.ubatch * (cpuMatmul / (cpu.prefillKernels!.ref * CALIBRATED_SPREAD[k]) + restUnits * other) +
        (p.ubatch * cpuAttn * attnUnits) / cpu.prefillOps(k) +
        tAttn
      : (p.ubatch * (cpuMatmul + cpuAttn * attnUnits)) / cpu.prefillOps(k) + tAttn
  let tUb = 0
  for (const g of a.gpus.filter((x) => x.rpc)) {
    const tCompute = (p.ubatch * devFlops[g.id]) / (g.rpc!.cpuOps * (PREFILL_OPS_PER_CYCLE['llama.cpp'][k] / 256))
    tUb += Math.max(tCompute, work.allBytes[g.id] / gpu.bw(g, k))
  }
  // GPUs: each its own layers, one after another
  let tGpus = 0
  for (const g of localGpus) tGpus += (p.ubatch * devFlops[g.id]) / gpu.prefillFlops(g, k)
  if (localGpus.length === 0) {
    tUb += Math.max(tCpuFlops, work.cpuAllBytes / cpu.bw(k))
  } else if (cpuComputesExperts(p)) {
    // CPU computes the weights it holds (experts); the GPUs the rest; serial per layer
    tUb += Math.max(tCpuFlops, work.cpuAllBytes / cpu.bw(k)) + tGpus
  } else {
    // mainline llama.cpp / FlashMoE: the GPU takes the CPU weights' matmuls (op offload, batch ≥ 32),
    // copying them over PCIe once per ubatch, and computes everything
    const cpuFlopsRaw = work.devFlops.CPU + 2 * hp.nHead * attnDims * cpuKeys(p)
    const tCpuOnGpu = (p.ubatch * cpuFlopsRaw) / gpu.prefillFlops(localGpus[0], k)
    tUb += work.cpuAllBytes / offloadCopyBw(pcie, k, p.pinnedHost) + tCpuOnGpu + tGpus
  }
  // the network: the ubatch's hidden state at each move between hosts, its last token's logits (planner/rpc.ts)
  const hand = p.hand
  tUb += rpcTransferSeconds(
    rpcTraffic({...hand.rpcCross, nEmbd: hp.nEmbd, nVocab: hp.nVocab, tokens: p.ubatch}),
    hand.rpcLink,
    k,
  )
  const overhead = ubatchOverheadSeconds(p, k)
  return {total: tUb + overhead, overhead, attention: localGpus.length === 0 || cpuComputesExperts(p) ? tAttn : 0}
}

/**
 * Prefill's work besides the matmuls and flash attention on the CPU, per prompt token, in activation
 * elements (pure): each CPU block's hidden state and attention query (n_embd + heads × the K dims the
 * kernel sees: norms, rope, MLA's query concat, residual adds), and each block whose routed experts
 * are on the CPU its router scores and the used experts' outputs (n_expert + used × n_embd: the sort,
 * the weighting, the sum), but the last block's (its FFN runs on the output rows only: outputRowsOnly).
 * calibrate prices an element (cpuThroughput[].prefillRestNs). Per-node timings at one thread (Zen 4
 * guest, pp512): tiny's rest 21.2 µs a token over 8 224 elements, r1-mini's 392 µs over 209 920 (≈ 2.6
 * and 1.9 ns each); per MoE layer and routed expert (the proxy before) they were 441 and 139 ns, a
 * gap the last block's FFN, charged in full then, had hidden.
 */
export function prefillRestUnits(inv: Inventory, a: Assignment, kvLayout: string): number {
  const hp = inv.shape.hp
  const q = hp.nHead * attnHeadKV(inv.shape, kvLayout).k
  let units = 0
  for (let l = 0; l < hp.nLayer; l++) {
    if (a.layerDevice[l] === 'CPU') units += hp.nEmbd + q
    if (inv.expertLayerBytes.has(l) && a.expertDevice[l] === 'CPU' && l !== hp.nLayer - 1)
      units += (hp.nExpert ?? 0) + (hp.nExpertUsed ?? 0) * hp.nEmbd
  }
  return units
}

/** The calibrated prefill rest (cpuThroughput[].prefillRestNs) prices this plan: measured kernels, a deepseek2 model. */
function otherApplies(p: PlanCtx): boolean {
  return p.cpu.prefillKernels !== null && p.cpu.prefillRestNs !== null && p.inv.arch === 'deepseek2'
}

/** Bytes/s of llama.cpp's op-offload copies: the link's share, capped by pageable (mapped) memory's copy rate. */
export function offloadCopyBw(pcieBytesPerS: number, k: K, pinned = false): number {
  const link = pcieBytesPerS * PCIE_EFF[k]
  return pinned ? link : Math.min(link, OFFLOAD_COPY_PAGEABLE_GBS[k] * 1e9)
}

/** CPU attention runs mainline ggml's kernels (llama.cpp, FlashMoE); ik's FlashMLA and ktransformers' kernels differ. */
const ggmlAttention = (build: EngineBuild) =>
  build === 'llama.cpp' || build === 'llama.cpp-2025-02' || build === 'flashmoe'

/** Per query × key × head cost of CPU attention besides its FLOPs: measured on mainline ggml kernels only (others: 0, no figure). */
function attnPairFlops(build: EngineBuild, k: K): number {
  return ggmlAttention(build) ? CPU_ATTN_PAIR_FLOPS[k] : 0
}

/** How much faster than the prefill matmul rate ggml's CPU attention runs its 2 × dims FLOPs (1: other kernels, no figure). */
function attnSpeedup(build: EngineBuild): number {
  return ggmlAttention(build) ? CPU_ATTN_FLOP_SPEEDUP : 1
}

/**
 * Measured flash attention for one plan: the model's head K and V dims and, where calibrate's
 * attention cases apply (mainline kernels with -fa), seconds per query × key × head in prefill and
 * per key × head in decode (decode only with measured kernels: their decode has no KV-cache memory
 * term, the measured attention reads the cache).
 */
interface PlanAttention {
  k: number
  v: number
  prefill?: number
  decode?: number
}
function measuredPlanAttention(
  inv: Inventory,
  kv: KvModel,
  cpu: CpuRates,
  build: EngineBuild,
  flashAttention: boolean,
): PlanAttention {
  const {k, v} = attnHeadKV(inv.shape, kv.layout)
  const on = flashAttention && ggmlAttention(build)
  const prefill = on ? cpu.prefillAttn?.(k, v) : undefined
  // query heads per KV head of a per-head cache (MLA's latent cache: none, one geometry of its own)
  const hp = inv.shape.hp
  const latent = inv.shape.arch === 'deepseek2' && kv.layout !== 'per-head'
  const gqa = latent || !(hp.nHeadKv > 0) ? undefined : hp.nHead / hp.nHeadKv
  const decode = on && cpu.kernels ? cpu.decodeAttn?.(k, v, gqa) : undefined
  return {k, v, ...(prefill !== undefined ? {prefill} : {}), ...(decode !== undefined ? {decode} : {})}
}

/** Σ over CPU layers of the keys each prefill token attends (half the context, SWA-capped). */
function cpuKeys(p: PlanCtx): number {
  const swa = new Set(p.kv.swaLayers)
  let n = 0
  for (let l = 0; l < p.inv.shape.hp.nLayer; l++)
    if (p.a.layerDevice[l] === 'CPU') n += swa.has(l) ? Math.min(p.ctx / 2, p.kv.swaWindow) : p.ctx / 2
  return n
}

/**
 * Does the CPU compute the weights it holds in prefill (ik -rtr, ktransformers always, or no local
 * GPU)? Otherwise a local GPU does, copying them over PCIe each ubatch (llama.cpp's op offload).
 */
export function cpuComputesWeights(a: Assignment, build: EngineBuild, engine: Engine): boolean {
  return !a.gpus.some((g) => !g.rpc) || build === 'ik_llama.cpp' || engine === 'ktransformers'
}

/** experts on the CPU in prefill: cpuComputesWeights for this plan, or llama.cpp with --no-op-offload */
function cpuComputesExperts(p: PlanCtx): boolean {
  return cpuComputesWeights(p.a, p.build, p.engine) || !p.opOffload
}

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
  const build = opts.build ?? defaultBuild(engine)
  const numa: NumaSpeedMode =
    opts.numa ?? (host.numaNodes.length <= 1 ? 'single' : engine === 'ktransformers' ? 'replicate' : 'interleave')
  const cal: HardwareProfile['calibration'] | null = host.calibration ?? null
  const threads = Math.max(1, opts.threads ?? host.cores)
  const cpu = cpuRates(host, cal, threads, build, numa)
  const p: PlanCtx = {
    inv,
    a,
    kv,
    ctx,
    ubatch,
    engine,
    build,
    fa: measuredPlanAttention(inv, kv, cpu, build, opts.flashAttention ?? true),
    work: tallyWork(inv, a, ubatch),
    hand: countHandoffs(inv, a, planLink(cal?.rpcLinks)),
    cpu,
    gpu: gpuRates(cal, engine),
    pinnedHost: opts.pinnedHost ?? false,
    opOffload: opts.opOffload ?? true,
  }
  const decode = {low: 0, mid: 0, high: 0}
  const prefill = {low: 0, mid: 0, high: 0}
  let mid: DecodeParts | null = null
  let lowHit = 0
  let prefillMid = {total: 0, overhead: 0, attention: 0}
  for (const k of KEYS) {
    const d = decodeSeconds(p, k)
    decode[k] = d.total > 0 ? 1 / d.total : 0
    if (k === 'low') lowHit = d.llcHit
    const pre = prefillSeconds(p, k)
    prefill[k] = pre.total > 0 ? ubatch / pre.total : 0
    if (k === 'mid') {
      mid = d
      prefillMid = pre
    }
  }
  const m = mid!
  const ms = (s: number) => s * 1e3
  // bytes per token at the mid depth
  const depth = Math.round(ctx * KV_DEPTH.mid)
  const bytesPerToken: Record<string, number> = {}
  for (const id of Object.keys(p.work.weightBytes)) {
    let kvB = 0
    if (depth > 0)
      for (let l = 0; l < inv.shape.hp.nLayer; l++) if (a.layerDevice[l] === id) kvB += kv.layerBytesAt(l, depth, 1)
    bytesPerToken[id] = Math.round(p.work.weightBytes[id] + kvB)
  }
  return {
    decode,
    prefill,
    bytesPerToken,
    decodeMs: {
      cpu: ms(m.cpu + m.rpc),
      gpu: ms(m.gpu),
      handoff: ms(m.handoff),
      total: ms(m.total),
      cpuMemory: ms(m.cpuMemory),
      cpuCache: ms(m.cpuCache),
      cpuCompute: ms(m.cpuCompute),
      attention: ms(m.attention),
      sync: ms(m.sync),
    },
    prefillMsPerUbatch: ms(prefillMid.total),
    prefillOverheadMs: ms(prefillMid.overhead),
    ...(p.cpu.prefillAttn && prefillMid.attention > 0 ? {prefillAttentionMs: ms(prefillMid.attention)} : {}),
    ...(m.cpuOps?.length ? {decodeCpuOps: m.cpuOps} : {}),
    source: cal ? 'calibration' : 'published-class',
    build,
    numa,
    assumptions: speedAssumptions(p, host, cal, numa, m, lowHit),
  }
}

function speedAssumptions(
  p: PlanCtx,
  host: PlanHost,
  cal: HardwareProfile['calibration'] | null,
  numa: NumaSpeedMode,
  m: DecodeParts,
  lowHit: number,
): string[] {
  const {inv, a, cpu, engine, build, ubatch, work} = p
  const hp = inv.shape.hp
  const threads = cpu.threads
  const localGpus = a.gpus.filter((g) => !g.rpc)
  const handoffs = p.hand
  const mla = mlaAttention(p)
  const attnDims = attnHeadDims(inv.shape, p.kv.layout)
  const mlaGpuEff = build === 'ktransformers-0.2' ? MLA_DECODE_GPU_EFF.old : MLA_DECODE_GPU_EFF.new
  const rowsPerExpert = (hp.nExpert ?? 0) > 0 ? (ubatch * (hp.nExpertUsed ?? 0)) / (hp.nExpert ?? 1) : Infinity
  const pcie = localGpus.length > 0 ? Math.min(...localGpus.map((g) => g.pcieGBs)) * 1e9 : 0
  const calGpu = p.gpu.cal
  const calNote = cal
    ? `calibration of ${cal.measuredAt} (measured${cal.llamaCppRelease ? `, llama.cpp ${cal.llamaCppRelease}` : ''}${cal.cpuVariant ? `, CPU variant ${cal.cpuVariant}` : ''})`
    : null
  const cpuEffWords = cal?.decodeBandwidthGBs
    ? `CPU decode bandwidth ${cal.decodeBandwidthGBs} GB/s effective from the ${calNote} × ${fmtR(CALIBRATED_SPREAD)}`
    : `CPU bandwidth ${host.cpuBandwidthSource} × η ${fmtR(cpu.effBase)} (${host.cpuBandwidthMeasured ? 'of a measured triad' : cpu.desktop ? `desktop, ≤ ${DESKTOP_MAX_CHANNELS} channels` : 'server socket'})${numa !== 'single' ? ` × NUMA ${numa} ${fmtR(NUMA_BW_FACTOR[numa])} (${host.numaNodes.length} nodes)` : ''}`
  const pct = (x: number) => (x * 100).toFixed(x < 0.01 ? 2 : 0)
  const cacheWords =
    host.l3Bytes && work.cpuWorkingSet > 0
      ? `last-level cache: ${cal?.decodeKernels?.llc?.length ? `${(cpu.llcBytes('mid') / 2 ** 20).toFixed(1)} MiB of weights held at ${threads} threads (measured, calibrate's capacity sweep; L3 ${(host.l3Bytes / 2 ** 20).toFixed(0)} MiB)` : `${(host.l3Bytes / 2 ** 20).toFixed(0)} MiB L3 × ${fmtR(LLC_WEIGHT_FRACTION)} holds weights`}; ${pct(m.llcHit)} % of the CPU's decode bytes come from it${cpu.kernels && pct(lowHit) !== pct(m.llcHit) ? ` (${pct(lowHit)} % at the range's low end: the calibration's slowest capacity sample)` : ''} (working set ${(work.cpuWorkingSet / 1e9).toFixed(2)} GB)${cpu.kernels ? ' at the measured cached kernels' : ` at ${fmtR(LLC_BW_PER_THREAD_GBS, 0)} GB/s per thread`}`
      : 'last-level cache: size unknown, every byte from DRAM'
  const ghzWords = host.ghzKnown
    ? `${host.ghz.toFixed(2)} GHz`
    : `clock unknown, ${UNKNOWN_GHZ.low}–${UNKNOWN_GHZ.high} GHz assumed`
  const uarch = UARCH_VECTOR_FACTOR[host.microarchitecture ?? '']
  const pk = cpu.prefillKernels
  // measured flash attention (mainline kernels, -fa): per pair at this model's head geometry
  const {k: faK, v: faV, prefill: faPre, decode: faDec} = p.fa
  const ns = (x: number) => (x * 1e9).toFixed(1)
  const attnWords =
    faPre !== undefined
      ? `flash attention ${ns(faPre)} ns per query × key × head (K ${faK} / V ${faV} dims, measured by calibrate's attention cases)`
      : "attention FLOP-equivalents at the model's own matmul rate"
  const routedWords = cal?.decodeKernels?.prefillExperts?.length
    ? 'other routed experts at their measured MUL_MAT_ID rate'
    : 'other routed experts at the 2-D rate'
  const widthWords = pk
    ? `CPU prefill matmuls weighed by ggml's prefill kernels measured at ${threads} threads (calibrate: per type, buffer and row length, a ubatch of ${PREFILL_KERNEL_COLS} columns, weights cached; reference Q4_K K ${MATMUL_K_REF} ${(pk.ref / 1e9).toFixed(0)} GFLOP/s); routed experts in CPU_REPACK at the cached matrix × vector rate (one gemv per routed row in this llama.cpp release), ${routedWords}; ${attnWords}${pk.unmeasured.size ? `; ${[...pk.unmeasured].join(', ')} not measured: Q4_K ÷ ggml type cost` : ''}`
    : `CPU prefill matmuls with rows shorter than ${MATMUL_K_REF} weights run at K ÷ (K + ${MATMUL_K_HALF_PREFILL}) of the long-row rate (relative to K = ${MATMUL_K_REF})`
  return [
    `speed model: ${cal ? calNote + ' where it measured, published-class constants elsewhere' : 'published-class constants (no calibration in the hardware profile; `moerig calibrate` measures this machine)'}; engine build ${build}`,
    `decode reads per token: non-routed weights + output on their device, ${hp.nExpertUsed ?? 0} of ${hp.nExpert ?? 0} routed experts per MoE layer, KV at depth ${KV_DEPTH.low}/${KV_DEPTH.mid}/${KV_DEPTH.high} × context (low/mid/high)`,
    cpuEffWords,
    cacheWords,
    cpu.kernels
      ? `CPU decode from ggml's matrix × vector kernels measured at ${threads} threads (calibrate: per type, row length and residency, cache and DRAM timings, × ${cpu.kernels.scale.toFixed(2)} inside a model${cpu.kernels.scaleCache !== cpu.kernels.scale ? ` (cached reads × ${cpu.kernels.scaleCache.toFixed(2)})` : ''}, ${us(cpu.kernels.layerS)} µs per layer + ${us(cpu.kernels.tokenS)} µs per token besides them)${cpu.kernels.unmeasured.size ? `; ${[...cpu.kernels.unmeasured].join(', ')} not measured: Q4_K × ggml type cost` : ''}${cpu.kernels.plainAssumed.size ? `; ${[...cpu.kernels.plainAssumed].join(', ')} outside the extra buffer not measured: timed as in it` : ''}; weights in the buffer llama.cpp gives them (3-D per-head matrices and rows not a multiple of 8 stay out of CPU_REPACK${cpu.kernels.stacked.size ? `; the per-head ones ${[...cpu.kernels.stacked].map(([type, f]) => `${type ? `${type} ` : ''}× ${f.cache.toFixed(2)} cached, × ${f.dram.toFixed(2)} streamed`).join('; ')}, measured as MLA runs them` : ''}); no separate memory term (the DRAM timings include it)`
      : cpu.calDecode
        ? `CPU decode compute ${cpu.calDecode.toFixed(0)} GFLOP/s at ${threads} threads on weights streamed from DRAM${cpu.calDecodeCache ? `, ${cpu.calDecodeCache.toFixed(0)} GFLOP/s on cached weights` : ''} (calibrated)`
        : `CPU decode compute: ${threads} threads (${cpu.threadsEff.toFixed(1)} effective) × ${ghzWords} × ${fmtR(DECODE_OPS_PER_CYCLE[host.cpuVendor], 1)} ops/cycle (${host.cpuVendor}) × ${DECODE_ISA_FACTOR[host.isa]} (${host.isa}) × ggml type cost (Q4_K 1, Q2_K ${TYPE_COST.Q2_K}); the CPU takes max(memory, compute)`,
    widthWords,
    ...a.gpus.map((g) =>
      g.rpc
        ? `${g.id} ${g.name}: ${g.bandwidthSource} × η ${fmtR(CPU_BW_EFF_SERVER)}`
        : `${
            calGpu(g)?.bandwidthGBs
              ? `${g.id} ${g.name}: ${calGpu(g)!.bandwidthGBs} GB/s effective (calibrated)`
              : `${g.id} ${g.name}: ${g.bandwidthGBs} GB/s ${g.bandwidthSource} × η ${fmtR(GPU_BW_EFF[backendOf(g, engine)])} (${backendOf(g, engine).toUpperCase()}); ${g.specNote}`
          }${
            calGpu(g)?.layerUs !== undefined
              ? `; ${calGpu(g)!.layerUs} µs per layer a token and a ubatch (calibrated: launches, graph updates, small kernels)`
              : calGpu(g)?.bandwidthGBs
                ? '; its per-layer cost inside that bandwidth (a calibration before per-layer GPU costs)'
                : ''
          }`,
    ),
    ...(faDec !== undefined
      ? [
          `CPU attention at depth: ${hp.nHead} heads × depth × ${ns(faDec)} ns per key × head per layer (flash attention over a streamed cache of ${faK} / ${faV} dims, measured by calibrate; it includes the KV reads)`,
        ]
      : []),
    ...(faDec === undefined || localGpus.length
      ? [
          mla
            ? `MLA attention at depth: 2 × ${hp.nHead} heads × depth × ${attnDims} FLOPs per layer, ${localGpus.length ? `on the GPU at ${fmtR(mlaGpuEff, 3)} of FP16 peak (${build === 'ktransformers-0.2' ? 'ktransformers V0.2 torch MLA' : 'Triton/CUDA MLA kernels'})` : `on the CPU at ${fmtR(MLA_DECODE_CPU_OPS_PER_CYCLE, 0)} FLOP/cycle per thread (assumed)`}`
            : `attention at depth: KV bytes read (per-head cache)`,
        ]
      : []),
    `${Math.ceil(handoffs.cpuGpu / 2)} CPU↔GPU round trips per token × ${us(T_SYNC_S.high)}–${us(T_SYNC_S.low)} µs${handoffs.gpuGpu ? `; ${handoffs.gpuGpu} GPU→GPU boundaries × ${T_GPU_HOP_S.high * 1e3}–${T_GPU_HOP_S.low * 1e3} ms` : ''}`,
    ...(handoffs.rpc
      ? [
          rpcTransferWords(
            handoffs.rpcDecode,
            rpcTraffic({...handoffs.rpcCross, nEmbd: hp.nEmbd, nVocab: hp.nVocab, tokens: ubatch}),
            ubatch,
            handoffs.rpcLink,
          ),
        ]
      : []),
    cal?.layerOverheadUs !== undefined
      ? `per-layer overhead ${cal.layerOverheadUs} µs, per-token ${cal.tokenOverheadMs ?? 0} ms (calibrated)${localGpus.some((g) => !calGpu(g)) ? `; GPU ${us(GPU_LAYER_S.high)}–${us(GPU_LAYER_S.low)} µs (not calibrated)` : ''}, paid per decoded token and per prefill ubatch`
      : `per-layer sync: CPU ${us(CPU_LAYER_SYNC_S.high)}–${us(CPU_LAYER_SYNC_S.low)} µs + ${us(CPU_LAYER_SYNC_PER_THREAD_S.high)}–${us(CPU_LAYER_SYNC_PER_THREAD_S.low)} µs per thread; GPU ${us(GPU_LAYER_S.high)}–${us(GPU_LAYER_S.low)} µs; paid per decoded token and per prefill ubatch`,
    'layers run one after another (no expert deferral / CPU-GPU overlap)',
    `prefill FLOPs: 2 × ${fmtParams(inv.activeParams)} active parameters per token + attention over half the context${faPre !== undefined ? ` (CPU: flash attention timed, ${ns(faPre)} ns per query × key × head)` : attnPairFlops(build, 'mid') ? ` (CPU, ggml kernels: 2 × dims ÷ ${CPU_ATTN_FLOP_SPEEDUP} + ${CPU_ATTN_PAIR_FLOPS.high}–${CPU_ATTN_PAIR_FLOPS.low} FLOP-equivalents per query × key × head)` : ''}; routed experts batch ${Number.isFinite(rowsPerExpert) ? rowsPerExpert.toFixed(1) : '—'} rows each at ub ${ubatch} (full speed from ${PREFILL_EXPERT_ROWS_FULL[build]})`,
    cpu.calPrefill && otherApplies(p)
      ? `prefill CPU: the matmuls at the measured kernels' rate (reference ${(cpu.prefillKernels!.ref / 1e9).toFixed(0)} GFLOP/s) + ${cpu.prefillRestNs!.toFixed(2)} ns per prompt token and activation element besides them (${prefillRestUnits(inv, a, p.kv.layout)} elements a token: each CPU block's hidden state and query, each CPU MoE block's router scores and experts' outputs), at ${threads} threads (calibrated)`
      : cpu.calPrefill
        ? `prefill CPU ${cpu.calPrefill.toFixed(0)} GFLOP/s at ${threads} threads (calibrated${cpu.prefillRestNs !== null && cpu.prefillKernels ? `; the calibrated rest besides the matmuls is deepseek2's, not ${inv.arch}'s` : ''})`
        : build === 'kt-kernel' && host.isa === 'amx'
          ? `prefill CPU: AMX (kt-kernel with BF16/INT4 weights) ${fmtR(AMX_PREFILL_EFF)} of ${cpu.threadsEff.toFixed(0)} threads × ${ghzWords} × 2048 ops/cycle`
          : `prefill CPU (${build}${engine === 'ktransformers' ? ': GGUF weights run llamafile AVX-512 kernels, no AMX' : ''}): ${cpu.threadsEff.toFixed(0)} threads × ${ghzWords} × ${fmtR(PREFILL_OPS_PER_CYCLE[build], 0)} ops/cycle × ${PREFILL_ISA_FACTOR[host.isa]} (${host.isa})${uarch ? ` × ${uarch} (${host.microarchitecture})` : ''}`,
    localGpus.length === 0
      ? 'prefill: CPU only, compute-bound but never faster than streaming its weights once per ubatch'
      : cpuComputesExperts(p)
        ? `prefill: the CPU computes the weights it holds (${engine === 'ktransformers' ? 'ktransformers' : p.opOffload ? 'ik -rtr: no op offload' : '--no-op-offload: nothing copied over PCIe'}), the GPUs the rest, each GPU its own layers in turn (FP16 × η ${localGpus
            .map((g) => fmtR(GPU_PREFILL_EFF[backendOf(g, engine)]))
            .filter((x, i, xs) => xs.indexOf(x) === i)
            .join(', ')})`
        : `prefill: llama.cpp offloads CPU-weight matmuls to the GPU for batches ≥ 32, so each ubatch of ${ubatch} copies ${(work.cpuAllBytes / 1e9).toFixed(1)} GB over PCIe ${
            p.pinnedHost
              ? `out of the GPU's pinned host buffer (--no-mmap) at the link's ${(pcie / 1e9).toFixed(1)} GB/s × η ${fmtR(PCIE_EFF, 2)} (measured 0.84 beside an H200)`
              : `out of the mapped GGUF at ${fmtR({low: offloadCopyBw(pcie, 'low') / 1e9, mid: offloadCopyBw(pcie, 'mid') / 1e9, high: offloadCopyBw(pcie, 'high') / 1e9}, 1)} GB/s (pageable memory, measured 6.9 and 9.5 GB/s beside an H200; the link ${(pcie / 1e9).toFixed(1)} GB/s × η ${PCIE_EFF.low}–${PCIE_EFF.high} caps it; --no-mmap pins it)`
          }; GPUs compute in turn, FP16 × η ${fmtR(GPU_PREFILL_EFF[backendOf(localGpus[0], engine)])}`,
  ]
}

/** "36.6 B", "54.2 M", "812 k": parameter counts of any size without "0.0 B". */
export function fmtParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return String(Math.round(n))
}
