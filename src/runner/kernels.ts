/**
 * Decode kernels (issue 13): time ggml's CPU matrix × vector kernels with the built-in engine
 * (native/src/engine/kernels.h, run in the runner child) and fit, per weight type, residency
 * (last-level cache or DRAM) and thread count, the time of one op as
 *     rows × (nsPerRow + nsPerWeight × K) + opUs
 * which calibrate saves in the hardware profile (`calibration.decodeKernels`) and the planner sums
 * over a model's tensors (src/planner/speed.ts kernelDecodeSeconds).
 *
 * Cases per type: two row lengths (the type's smallest common one and 2048) with large ops, so the
 * per-op cost is small beside the rows; for Q4_K one more case of small ops (64 rows cached, 256
 * streamed: an R1-class expert slice) gives the per-op cost, which the other types share. Cached:
 * ops × repeat passes over matrices that fill an eighth of the last-level cache; streamed: matrices
 * totalling 4 × the cache (at least 64 MB), each read once per graph. Each type is timed in the
 * buffer llama.cpp gives a 2-D weight (CPU_REPACK, AMX or the plain CPU buffer); the types that went
 * to an extra buffer are timed again in the plain one, where the weights it does not take run
 * (MLA's 3-D attn_k_b/attn_v_b; a 512-wide Q4_K row took 1.5× the repacked gemv's time in vec_dot
 * on a Zen 4 guest at one thread).
 */
import {MoerigError} from '../lib/errors.js'
import type {KernelCase, KernelResult} from '../engine/addon.js'
import {engineSetup} from '../engine/engine.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import {PREFILL_KERNEL_COLS} from '../planner/speed.js'
import {runInChild} from './child.js'
import {geomean, mean, median, quantile, solve3} from './stats.js'

export type DecodeKernels = NonNullable<NonNullable<HardwareProfile['calibration']>['decodeKernels']>
type Residency = 'cache' | 'dram'

/** Types measured: what Q2_K…Q8_0 GGUFs (and their F32/F16 tensors) hold, quantizable without an importance matrix. */
export const KERNEL_TYPES = ['F32', 'F16', 'Q8_0', 'Q5_0', 'Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'Q3_K', 'Q2_K', 'IQ4_XS']
/** K of each type's block (row lengths must be multiples): 32-element blocks vs 256 (K-quants, IQ4_XS). */
const BLOCK_256 = new Set(['Q4_K', 'Q5_K', 'Q6_K', 'Q3_K', 'Q2_K', 'IQ4_XS'])
/** bytes per weight, to size matrices (ggml block sizes) */
const BYTES_PER_WEIGHT: Record<string, number> = {
  F32: 4,
  F16: 2,
  Q8_0: 34 / 32,
  Q5_0: 22 / 32,
  Q4_0: 18 / 32,
  Q4_K: 144 / 256,
  Q5_K: 176 / 256,
  Q6_K: 210 / 256,
  Q3_K: 110 / 256,
  Q2_K: 84 / 256,
  IQ4_XS: 136 / 256,
}
/** the long row length of every type (R1's hidden size is 7168; fits and extrapolates linearly) */
export const K_LONG = 2048
/** the small-op case (Q4_K, K 1024): rows per op cached and streamed */
const SMALL_OP_ROWS: Record<Residency, number> = {cache: 64, dram: 256}
const SMALL_OP_K = 1024
/** cached cases fill this share of the last-level cache; streamed ones this multiple of it */
const CACHE_SHARE = 1 / 8
const STREAM_MULTIPLE = 4
const STREAM_MIN_BYTES = 64e6
const STREAM_MAX_BYTES = 512e6
/** without a probed cache size (bytes) */
const DEFAULT_L3 = 32 * 2 ** 20
/** nodes one graph may hold (ops × repeat; native/src/engine/kernels.h kMaxOps) */
export const KERNEL_MAX_OPS = 4096
/**
 * A case's ops within KERNEL_MAX_OPS ÷ repeat: the cases sized by the cache (small ops, the capacity
 * sweep, stacked) would pass it on a server's L3 (256 MiB: 909 cached small ops × 8; two V-cache
 * EPYCs, 2.3 GB: a 4 147-op sweep total) and the native check would refuse the whole run.
 */
const capOps = (c: KernelCase): KernelCase => ({
  ...c,
  ops: Math.max(1, Math.min(c.ops, Math.floor(KERNEL_MAX_OPS / c.repeat))),
})

/** A case's residency: repeat > 1 reads the same matrices again (cached), 1 streams them. */
export const residencyOf = (c: Pick<KernelCase, 'repeat'>): Residency => (c.repeat > 1 ? 'cache' : 'dram')

const kShort = (type: string) => (BLOCK_256.has(type) ? 256 : type === 'F32' || type === 'F16' ? 256 : 128)
/** rows in a multiple of 8 (CPU_REPACK interleaves 8 rows) */
const rowsFor = (bytes: number, type: string, k: number) =>
  Math.max(8, Math.floor(bytes / (k * BYTES_PER_WEIGHT[type]) / 8) * 8)

const cacheBytesOf = (l3: number) => l3 * CACHE_SHARE
const streamBytesOf = (l3: number) => Math.min(STREAM_MAX_BYTES, Math.max(STREAM_MIN_BYTES, l3 * STREAM_MULTIPLE))
const l3Or = (l3Bytes: number | null) => (l3Bytes && l3Bytes > 0 ? l3Bytes : DEFAULT_L3)

/** Per type: two row lengths × cached and streamed (the cases each type's line is fitted from). */
export function typeCases(l3Bytes: number | null, types = KERNEL_TYPES): KernelCase[] {
  const l3 = l3Or(l3Bytes)
  const out: KernelCase[] = []
  for (const type of types)
    for (const k of [kShort(type), K_LONG]) {
      out.push({type, k, rows: rowsFor(cacheBytesOf(l3) / 4, type, k), ops: 4, repeat: 8})
      out.push({type, k, rows: rowsFor(streamBytesOf(l3) / 16, type, k), ops: 16, repeat: 1})
    }
  return out
}

/**
 * The benchmark's cases for a machine whose last-level cache holds `l3Bytes`: typeCases, the small
 * ops, the capacity sweep, the prefill and stacked cases; every one within KERNEL_MAX_OPS (capOps).
 */
export function kernelCases(l3Bytes: number | null, types = KERNEL_TYPES): KernelCase[] {
  const l3 = l3Or(l3Bytes)
  const cacheBytes = cacheBytesOf(l3)
  const streamBytes = streamBytesOf(l3)
  const out = typeCases(l3, types)
  const rowBytes = SMALL_OP_K * BYTES_PER_WEIGHT.Q4_K
  out.push({
    type: 'Q4_K',
    k: SMALL_OP_K,
    rows: SMALL_OP_ROWS.cache,
    ops: Math.max(1, Math.floor(cacheBytes / (SMALL_OP_ROWS.cache * rowBytes))),
    repeat: 8,
  })
  out.push({
    type: 'Q4_K',
    k: SMALL_OP_K,
    rows: SMALL_OP_ROWS.dram,
    ops: Math.max(1, Math.floor(streamBytes / (SMALL_OP_ROWS.dram * rowBytes))),
    repeat: 1,
  })
  out.push(...capacityCases(l3))
  out.push(...prefillCases(types))
  out.push(...expertPrefillCases(types))
  out.push(...stackedCases(l3))
  out.push(...attentionCases(l3))
  return out.map(capOps)
}

/**
 * Prefill kernels: each type at its two row lengths, about 1 MB of weights (cached), times a
 * ubatch of PREFILL_KERNEL_COLS activation columns: one matrix × matrix product per graph, as llama.cpp
 * runs a dense weight in prefill (CPU_REPACK's gemm tiles, else ggml's vec_dot in 16 × 16 blocks or
 * llamafile's sgemm). On a Zen 4 guest at one thread repacked Q4_K ran 139–146 GFLOP/s at every K
 * from 256 to 2048, plain Q6_K 46–59, Q5_0 70–83, F32 33–38: the type, not the row length, sets the
 * rate, which one FLOP rate for every weight cannot follow.
 */
const PREFILL_BYTES = 2 ** 20
export function prefillCases(types = KERNEL_TYPES): KernelCase[] {
  return types.flatMap((type) =>
    [kShort(type), K_LONG].map((k) => ({
      type,
      k,
      rows: rowsFor(PREFILL_BYTES, type, k),
      ops: 1,
      repeat: 1,
      cols: PREFILL_KERNEL_COLS,
    })),
  )
}
/**
 * Flash-attention cases (prefill): one FLASH_ATTN_EXT node as llama.cpp runs it with -fa (the
 * default where the CPU supports it): PREFILL_KERNEL_COLS queries over as many F16 cached keys,
 * causally masked, per head geometry. Why measured, not FLOP-counted: ggml's tiled CPU kernel
 * converts each 64-key tile of K and V to F32 per 64 queries, and the softmax and masking cost per
 * query × key does not scale with the dims; per-node timings inside the synthetic models (pp512, a
 * Zen 4 guest) put it at 28 % of r1-mini's and tiny's prefill and 21 % of qwen3moe-tiny's, 44 ns per
 * query × key × head for R1's geometry at one thread, 7 ns for qwen3moe-tiny's, while the kernel
 * alone measured 46 and 6 ns. Geometries: MLA with R1's latent (K 576 = kv_lora 512 + rope 64, V
 * the latent's 512: R1, V3, Kimi-K2), MLA at tiny's latent 256, and GQA heads of 128 (Qwen3,
 * Llama, most) and 64 dims.
 */
export const ATTN_SHAPES = [
  {k: 576, dv: 512, heads: 16, kvHeads: 1, latent: true},
  {k: 320, dv: 256, heads: 4, kvHeads: 1, latent: true},
  {k: 128, dv: 128, heads: 16, kvHeads: 4, latent: false},
  {k: 64, dv: 64, heads: 4, kvHeads: 2, latent: false},
] as const
/**
 * Decode only: the 128-dim head at other query heads per KV head beside ATTN_SHAPES' 4:1 (Mixtral,
 * Phi-3.5-MoE) — 1:1 (OLMoE; DeepSeek's per-head cache), 2:1, 8:1 (Qwen3-30B-A3B: 32/4) and 16:1
 * (Qwen3-235B: 64/4). One query per head reads its KV head's keys, and heads sharing a KV head find
 * them in cache: per pair (k 128, 4096 keys, one thread, Zen 4 guest) 165 ns at 1:1, 115 at 2:1, 69
 * at 4:1, 52–64 at 8:1, 44–62 at 16:1. The 64-dim head did not move with the ratio (21–27 ns at 2:1
 * and 8:1), nor R1's latent (93–108 ns at 16:1 and 128:1).
 */
export const DECODE_GQA_RATIOS = [1, 2, 8, 16]
/** DECODE_GQA_RATIOS as geometries: 4 KV heads of 128 dims, ratio × 4 query heads */
export const DECODE_GQA_SHAPES = DECODE_GQA_RATIOS.map((r) => ({
  k: 128,
  dv: 128,
  heads: 4 * r,
  kvHeads: 4,
  latent: false,
}))
/** a flash-attention geometry: K and V dims, query and KV heads, V a view of K (MLA's latent cache) */
type AttnShape = {k: number; dv: number; heads: number; kvHeads: number; latent: boolean}
export function attentionCases(l3Bytes: number | null = null): KernelCase[] {
  /** an F16 cache of geometry g: `rows` keys, `cols` queries per head, `ops` distinct caches */
  const attnCase = (g: AttnShape, rows: number, cols: number, ops: number) => ({
    type: 'F16',
    k: g.k,
    dv: g.dv,
    heads: g.heads,
    kvHeads: g.kvHeads,
    latent: g.latent,
    rows,
    cols,
    ops,
    repeat: 1,
  })
  const prefill = ATTN_SHAPES.map((g) => attnCase(g, PREFILL_KERNEL_COLS, PREFILL_KERNEL_COLS, 1))
  // decode: one query over DECODE_ATTN_KEYS cached keys, distinct caches (layers) totalling the
  // streamed size, as a deep context's KV cache of every layer streams from DRAM
  const decode = [...ATTN_SHAPES, ...DECODE_GQA_SHAPES].map((g) => {
    const bytes = DECODE_ATTN_KEYS * g.kvHeads * (g.k + (g.latent ? 0 : g.dv)) * 2
    return attnCase(g, DECODE_ATTN_KEYS, 1, Math.max(1, Math.ceil(streamBytesOf(l3Or(l3Bytes)) / bytes)))
  })
  return [...prefill, ...decode]
}
/**
 * Decode attention at depth: keys in the cache of the decode cases. ggml splits a single query's
 * keys over the threads from 512 keys on (ops.cpp use_split_kv_path); 4096 is a long chat's
 * context, where the attention term starts to matter (R1: ≈ 30 % slower decode from 1 K to 10 K
 * tokens in ktransformers users' reports).
 */
export const DECODE_ATTN_KEYS = 4096
/** a flash-attention case */
const isAttention = (r: Pick<KernelResult, 'kvHeads'>) => (r.kvHeads ?? 0) > 0
/** query × key × head pairs a causal case computes: the last `cols` of `rows` positions, each seeing the keys up to its own */
export const causalPairs = (r: Pick<KernelResult, 'rows' | 'cols' | 'heads'>) => {
  const n = r.cols ?? 1
  return (r.heads ?? 1) * n * (r.rows - n + (n + 1) / 2)
}

/**
 * Per geometry (K and V dims) and thread count: the flash-attention cases' time per query × key ×
 * head (ns; fastest graph ÷ causalPairs; pure). The planner charges a CPU layer's prefill attention
 * with it, interpolated in K + V dims. Decode points of a per-head (not latent) cache carry `gqa`,
 * query heads per KV head (DECODE_GQA_SHAPES).
 */
export function fitAttention(results: KernelResult[], decode = false): NonNullable<DecodeKernels['attention']> {
  const out: NonNullable<DecodeKernels['attention']> = []
  for (const r of results.filter((x) => isAttention(x) && ((x.cols ?? 1) === 1) === decode))
    for (const t of r.timings) {
      const ns = (t.bestS / (r.ops * r.repeat) / causalPairs(r)) * 1e9
      if (ns > 0 && Number.isFinite(ns))
        out.push({
          k: r.k,
          dv: r.dv ?? r.k,
          ...(decode && !r.latent && r.heads && r.kvHeads ? {gqa: r.heads / r.kvHeads} : {}),
          threads: t.threads,
          nsPerPair: round(ns, 4),
        })
    }
  return out
}

/**
 * Routed-expert prefill kernels: per type at its two row lengths, a MUL_MAT_ID over a stack of
 * PREFILL_EXPERTS experts, each column routed to PREFILL_EXPERTS_USED (R1's 16 rows per expert at
 * a ubatch of 512), as llama.cpp runs a MoE layer's expert matrices in prefill. Why not the 2-D rate:
 * ggml's MUL_MAT_ID has no llamafile sgemm path, so a plain-buffer Q5_0 expert (qwen3moe's 128-wide
 * rows) ran at 0.35–0.4 of its 2-D product's rate on a Zen 4 guest (20–35 vs 64–83 GFLOP/s at one
 * thread; in qwen3moe-tiny's pp512 33 GFLOP/s), while repacked Q4_K and plain Q6_K ran near theirs;
 * the rate barely moved between 8 and 128 rows per expert.
 */
export const PREFILL_EXPERTS = 64
export const PREFILL_EXPERTS_USED = 2
const PREFILL_EXPERT_ROWS = 256
export function expertPrefillCases(types = KERNEL_TYPES): KernelCase[] {
  return types.flatMap((type) =>
    [kShort(type), K_LONG].map((k) => ({
      type,
      k,
      rows: PREFILL_EXPERT_ROWS,
      experts: PREFILL_EXPERTS,
      used: PREFILL_EXPERTS_USED,
      ops: 1,
      repeat: 1,
      cols: PREFILL_KERNEL_COLS,
    })),
  )
}

/** a decode (matrix × vector) case of 2-D weights: one activation column */
const isDecode = (r: Pick<KernelResult, 'cols' | 'heads'>) => (r.cols ?? 1) === 1 && !r.heads
/**
 * a stacked decode case (MLA's attn_k_b/attn_v_b shape); not a decode attention case, which has
 * heads and one column too (its kvHeads tell them apart)
 */
const isStacked = (r: Pick<KernelResult, 'cols' | 'heads' | 'kvHeads'>) =>
  (r.cols ?? 1) === 1 && (r.heads ?? 0) > 0 && !isAttention(r)

/**
 * Stacked cases: MLA's absorbed attention products, a 3-D MUL_MAT of one [k × rows] matrix per head
 * times that head's column of a permuted view (llama.cpp's deepseek2 graph: attn_k_b [128 × 512 ×
 * heads] times q_nope, attn_v_b [512 × 128 × heads] times the attention output; 128-wide rows fall
 * back from K-quants to Q5_0 in Q4_K_M files). Never repacked (CPU_REPACK takes 2-D MUL_MAT only), and
 * ggml walks them in 16 × 16 blocks of rows × heads, 16 matrices at once: in r1-mini at one thread
 * (per-node eval-callback timings, a Zen 4 guest) they took about twice the plain-buffer line's time
 * of as many rows, a fifth of its decode step. Cached and streamed, at R1's head geometry with 16 heads.
 */
export const STACKED_HEADS = 16
export const STACKED_SHAPES = [
  {type: 'Q5_0', k: 128, rows: 512},
  {type: 'Q4_K', k: 512, rows: 128},
] as const
export function stackedCases(l3Bytes: number | null): KernelCase[] {
  const l3 = l3Or(l3Bytes)
  return STACKED_SHAPES.flatMap(({type, k, rows}) => {
    const opBytes = STACKED_HEADS * rows * k * BYTES_PER_WEIGHT[type]
    return [
      {type, k, rows, heads: STACKED_HEADS, ops: Math.max(1, Math.round(cacheBytesOf(l3) / opBytes)), repeat: 8},
      {type, k, rows, heads: STACKED_HEADS, ops: Math.ceil(streamBytesOf(l3) / opBytes), repeat: 1},
    ]
  })
}

/**
 * Per residency, thread count and type, how much longer a stacked op takes than the plain-buffer line
 * of its type for as many rows (rows × heads) and one op (pure): measured ÷ line (the geometric mean
 * of its timings). The planner multiplies its stacked weights' times by their type's factor. Per type,
 * not one for both shapes: on a Zen 4 guest at one thread the Q5_0 case took ×1.6 its line and the
 * Q4_K one ×2.3, inside r1-dram ×1.5 and ×2.2; their mean charged the Q5_0 product 48 % over its
 * nodes (docs/speed-fidelity.md, twelfth pass).
 */
export function fitStacked(
  results: KernelResult[],
  kernels: DecodeKernels['kernels'],
  ops: NonNullable<DecodeKernels['ops']>,
): NonNullable<DecodeKernels['stacked']> {
  const ratios = new Map<string, number[]>()
  for (const r of results.filter(isStacked))
    for (const t of r.timings) {
      const residency = residencyOf(r)
      const line = kernels.find(
        (x) =>
          x.type === ggufTypeName(r.type) &&
          x.residency === residency &&
          x.threads === t.threads &&
          x.buffer === r.buffer,
      )
      if (!line) continue
      const c = (ops.find((x) => x.residency === residency && x.threads === t.threads)?.us ?? 0) * 1e-6
      const predicted = r.rows * r.heads! * (line.nsPerRow + line.nsPerWeight * r.k) * 1e-9 + c
      const key = `${residency}\t${t.threads}\t${ggufTypeName(r.type)}`
      if (predicted > 0) ratios.set(key, [...(ratios.get(key) ?? []), t.bestS / (r.ops * r.repeat) / predicted])
    }
  return [...ratios].map(([key, xs]) => {
    const [residency, threads, type] = key.split('\t')
    return {residency: residency as Residency, threads: Number(threads), type, factor: round(geomean(xs), 4)}
  })
}

/**
 * Per type, buffer, row length and thread count: the prefill kernels' rate in GFLOP/s (2 × K × rows ×
 * columns per op ÷ the fastest graph; pure).
 */
export function fitPrefillKernels(results: KernelResult[], routed = false): NonNullable<DecodeKernels['prefill']> {
  const out: NonNullable<DecodeKernels['prefill']> = []
  for (const r of results)
    if ((r.cols ?? 1) > 1 && !isAttention(r) && !r.heads && (r.experts ?? 0) > 0 === routed)
      for (const t of r.timings)
        out.push({
          type: ggufTypeName(r.type),
          buffer: r.buffer,
          k: r.k,
          threads: t.threads,
          // a routed column is one product with each of its `used` experts
          gflops: round(
            (2 * r.k * r.rows * (r.cols ?? 1) * (routed ? (r.used ?? 1) : 1) * r.ops * r.repeat) / t.bestS / 1e9,
            2,
          ),
        })
  return out
}

/**
 * Extra samples of the capacity sweep in each kernel run, spread through it (one after the middle of
 * the cases, one at the end), each with its own cached and streamed references (CAPACITY_TYPE's
 * type cases): the sweep's hit shares are ratios of small differences and moved a 2-thread knee
 * from 21.6 to 30.7 MB between calibrations on a Zen 4 guest; the largest share of three sweeps at
 * each total put qwen3moe-tiny at 2 threads within −4.3…+5.9 % on three passes (passes 26–28
 * refitted: −29.8, +9.5, −21.5 % with one sweep). ≈ 10 s a sample at two thread counts there.
 */
export const SWEEP_SAMPLES = 2
/** One sample of the capacity sweep with its references (sweepCases, fitCapacity). */
export function sweepCases(l3Bytes: number | null): KernelCase[] {
  const l3 = l3Or(l3Bytes)
  return [...typeCases(l3, [CAPACITY_TYPE]).filter((c) => CAPACITY_KS.includes(c.k)), ...capacityCases(l3)].map(capOps)
}

/**
 * The first run's case list: kernelCases with SWEEP_SAMPLES more sweeps spread through it, and where
 * each part sits (pure).
 */
export function spreadSweeps(l3Bytes: number | null): {
  cases: KernelCase[]
  main: number[]
  sweeps: number[][]
} {
  const main = kernelCases(l3Bytes)
  const sweep = sweepCases(l3Bytes)
  const cases: KernelCase[] = []
  const mainAt: number[] = []
  const sweeps: number[][] = []
  const addSweep = () => sweeps.push(sweep.map((c) => cases.push(c) - 1))
  const cut = Math.ceil(main.length / SWEEP_SAMPLES)
  for (const [i, c] of main.entries()) {
    mainAt.push(cases.push(c) - 1)
    if (sweeps.length < SWEEP_SAMPLES && ((i + 1) % cut === 0 || i === main.length - 1)) addSweep()
  }
  return {cases, main: mainAt, sweeps}
}

/**
 * Capacity sweep: Q8_0 matrices (K 2048, 512 rows each) totalling these shares of the probed L3,
 * read once per graph, graph after graph, as decode reads its weights token after token. The
 * largest total still read nearer the cached rate than the streamed one is the bytes of weights
 * the cache holds at that thread count (a VM's L3 is shared with other guests, a chiplet's serves
 * only its own cores, and threads that move between cores leave their lines behind).
 * Q8_0 because it reads the most bytes per unit of work of the quantized types, so cache and DRAM
 * differ most: on a Zen 4 guest Q8_0 K 2048 read 1.4–1.7× slower per byte from DRAM, the repacked
 * Q4_K (the first choice) 1.05–1.2× — too close to tell a cached total from a streamed one.
 */
export const CAPACITY_SHARES = [0.125, 0.25, 0.5, 0.625, 0.75, 0.875, 1, 1.25, 1.5, 2]
export const CAPACITY_TYPE = 'Q8_0'
const CAPACITY_ROWS = 512
/**
 * The sweep runs at two row lengths: K 2048 (512 rows an op) and the type's short row, K 128 (8 192
 * rows: the same bytes an op). Short rows lose the cache sooner with more threads: on a Zen 4 guest
 * at 2 threads Q8_0 K 128 read 33 GB/s at 8 MB and 16 GB/s at 24 MB, K 2048 43–47 GB/s up to 36 MB
 * (ggml hands threads alternating 64-row chunks, 8.7 KB apart at K 128: each core's prefetcher runs
 * into the other's chunk). The planner takes each op's capacity at its own row length.
 */
export const CAPACITY_KS = [kShort(CAPACITY_TYPE), K_LONG]
const capacityRows = (k: number) => (CAPACITY_ROWS * K_LONG) / k
/** a thread count counts when DRAM reads take this much longer per byte than cached ones */
const CAPACITY_MIN_CONTRAST = 1.25
export function capacityCases(l3: number): KernelCase[] {
  return CAPACITY_KS.flatMap((k) => {
    const opBytes = capacityRows(k) * k * BYTES_PER_WEIGHT[CAPACITY_TYPE]
    // (on a cache so large that KERNEL_MAX_OPS caps the largest totals, each total once)
    return CAPACITY_SHARES.map((f) =>
      capOps({
        type: CAPACITY_TYPE,
        k,
        rows: capacityRows(k),
        ops: Math.max(1, Math.round((f * l3) / opBytes)),
        repeat: 1,
      }),
    ).filter((c, i, all) => i === 0 || c.ops > all[i - 1].ops)
  })
}
const isCapacity = (r: Pick<KernelResult, 'type' | 'k' | 'rows' | 'repeat'>) =>
  ggufTypeName(r.type) === CAPACITY_TYPE && CAPACITY_KS.includes(r.k) && r.rows === capacityRows(r.k) && r.repeat === 1

/**
 * Per thread count and row length, how much of a cyclic read the last-level cache serves in decode
 * (pure). Each sweep total S read once per graph, over and over, takes t_S per byte; its hit share is
 * (t_d − t_S) ÷ (t_d − t_c) between the cached case's t_c and the streamed case's t_d (CAPACITY_TYPE
 * at that row length), clamped to 0..1 and made non-increasing in S (a larger total never hits more:
 * pool-adjacent-violators, so one slow sample lowers its neighbours a little instead of moving the
 * capacity a whole step), then divided by the smallest total's share when that is below 1: a cyclic
 * read of ⅛ of the L3 is cache-resident, yet against the repeat-8 reference (which reads hotter: L2
 * reuse within a graph) its share came out 0.63–0.85 in three of nine calibrations on a Zen 4 guest
 * (passes 16–24), and that plateau charged a cache-resident model's bytes partly at DRAM rate (tiny
 * at 2 threads planned −30.6 %; at 1 thread the cached scale fitted 0.51 to make up for it).
 * `hits` is that curve; `bytes` the total where it crosses one half
 * (log-interpolated; the largest total when it never does, 0 when even the smallest streams). On a
 * Zen 4 guest (32 MiB L3) the share falls gradually, from ≈ 1 at 12–16 MB to 0.3–0.5 at 32 MB and
 * ≈ 0 at 64 MB, and repeated sweeps put the old "largest total nearer the cached rate" anywhere from 8.5
 * to 31.9 MB (docs/speed-fidelity.md, seventh pass). Nothing at a thread count where t_d < 1.25 × t_c
 * (the kernel is compute-bound there and where the bytes sit does not matter).
 */
export function fitCapacity(all: KernelResult[], samples: KernelResult[][] = []): NonNullable<DecodeKernels['llc']> {
  return capacityCurvesFrom(capacitySamples(all, samples))
}

/**
 * How the capacity curves take one share of a total's samples (capacityCurvesFrom). Calibrate's is
 * the upper quartile (`q75`, interpolated; of two samples, the lower + ¾ of their gap): the row that
 * decides it, qwen3moe-tiny at two threads (its 19 MB output matrix on a 32 MiB L3 other guests use),
 * is measured by its fastest token step, the minutes when the neighbours leave the most cache, so the
 * sweep's typical share (the median, calibrate's pick in the fourteenth pass) plans it low and the
 * single luckiest sample (the largest, before) high. Passes 46–60 on a Zen 4 guest, refitted with
 * bench/speed-refit --capacity on one code: the row within 10 % in 6 / 8 / 10 of 15 passes with the
 * median / largest / upper quartile (5 of 8 and 5 of 7 in the two halves with it), mean error −11.3 /
 * +9.3 / −2.8 %, mean |error| 12.0 / 13.3 / 7.8 %; every other row within 10 % in all 15 with each.
 * The range's ends take the smallest and the largest sample (hits[].low / high), which held every
 * row in every pass replanned. (docs/speed-fidelity.md, sixteenth session.)
 */
export const CAPACITY_PICKS = {
  q75: (xs: number[]) => quantile(xs, 0.75)!,
  median: (xs: number[]) => median(xs)!,
  max: (xs: number[]) => Math.max(...xs),
  mean: (xs: number[]) => mean(xs),
}
export type CapacityPick = keyof typeof CAPACITY_PICKS

/**
 * The calibration's capacity curves from the samples' curves (pure): at each total the share `pick`
 * takes of the samples' (several sweeps, SWEEP_SAMPLES and the late pass's; by default their upper
 * quartile, CAPACITY_PICKS), the smallest where it is lower and the largest where it is higher: the low and
 * high ends of a decode range (a knee that moved during the calibration moves the prediction of a
 * model whose bytes sit on it).
 * bench/speed-refit --capacity tries the other picks.
 */
export function capacityCurvesFrom(
  groups: CapacitySamples[],
  pick: (shares: number[]) => number = CAPACITY_PICKS.q75,
): NonNullable<DecodeKernels['llc']> {
  return groups.map((c) => {
    const hits = c.bytes.map((bytes, i) => {
      const shares = c.shares.map((x) => x[i])
      const hit = pick(shares),
        low = Math.min(...shares),
        high = Math.max(...shares)
      return {bytes, hit, ...(low < hit ? {low} : {}), ...(high > hit ? {high} : {})}
    })
    return {threads: c.threads, bytes: Math.round(halfHitBytes(hits)), k: c.k, hits}
  })
}

/** One thread count and row length of the capacity sweep: each sample's shares at the same totals. */
export interface CapacitySamples {
  threads: number
  k: number
  /** the totals read once a graph (bytes, ascending) */
  bytes: number[]
  /** per sample (the main run first), its share at each total (non-increasing, normalized) */
  shares: number[][]
}

/**
 * Every sample's capacity curve, grouped by thread count and row length (pure): the main run's
 * curves, each with the samples that measured the same totals (fitCapacity takes their largest and
 * smallest; calibrate --json returns them all, for refitting).
 */
export function capacitySamples(all: KernelResult[], samples: KernelResult[][] = []): CapacitySamples[] {
  const curves = [all, ...samples].map(capacityCurves)
  return curves[0].map((c) => {
    const same = curves.flatMap((cs) =>
      cs.filter(
        (x) =>
          x.k === c.k &&
          x.threads === c.threads &&
          x.hits.length === c.hits.length &&
          x.hits.every((h, i) => h.bytes === c.hits[i].bytes),
      ),
    )
    return {
      threads: c.threads,
      k: c.k,
      bytes: c.hits.map((h) => h.bytes),
      shares: same.map((x) => x.hits.map((h) => h.hit)),
    }
  })
}

interface CapacityCurve {
  threads: number
  k: number
  hits: Array<{bytes: number; hit: number}>
}

/** One sweep's curves (fitCapacity): per row length and thread count with contrast, hits made non-increasing and normalized. */
function capacityCurves(all: KernelResult[]): CapacityCurve[] {
  const results = all.filter(isDecode)
  const perByte = (r: KernelResult, T: number) => {
    const t = r.timings.find((x) => x.threads === T)
    return t ? t.bestS / (r.weightBytes * r.repeat) : null
  }
  const out: CapacityCurve[] = []
  for (const k of CAPACITY_KS) {
    const cap = results.filter((r) => isCapacity(r) && r.k === k).sort((a, b) => a.weightBytes - b.weightBytes)
    const ref = results.filter(
      (r) => ggufTypeName(r.type) === CAPACITY_TYPE && r.k === k && !isCapacity(r) && r.buffer === cap[0]?.buffer,
    )
    const c = ref.find((r) => r.repeat > 1),
      d = ref.find((r) => r.repeat === 1)
    if (!cap.length || !c || !d) continue
    for (const T of [...new Set(cap.flatMap((r) => r.timings.map((t) => t.threads)))].sort((a, b) => a - b)) {
      const tc = perByte(c, T),
        td = perByte(d, T)
      if (tc === null || td === null || !(td >= CAPACITY_MIN_CONTRAST * tc)) continue
      const pts = cap.flatMap((r) => {
        const ts = perByte(r, T)
        return ts === null ? [] : [{bytes: r.weightBytes, hit: Math.min(1, Math.max(0, (td - ts) / (td - tc)))}]
      })
      if (!pts.length) continue
      // the smallest total (⅛ of the L3) is cache-resident by construction: the scale runs from its
      // share, not from the repeat-8 reference's, which reads hotter (L2 reuse within a graph)
      const pooled = nonIncreasing(pts.map((p) => p.hit))
      const top = pooled[0] > 0 && pooled[0] < 1 ? pooled[0] : 1
      const hits = pooled.map((hit, i) => ({bytes: Math.round(pts[i].bytes), hit: round(hit / top, 3)}))
      out.push({threads: T, k, hits})
    }
  }
  return out
}

/** Least-squares non-increasing fit of a sequence (pool adjacent violators, equal weights). */
export function nonIncreasing(ys: number[]): number[] {
  const blocks: Array<{sum: number; n: number}> = []
  for (const y of ys) {
    blocks.push({sum: y, n: 1})
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1],
        a = blocks[blocks.length - 2]
      if (a.sum / a.n >= b.sum / b.n) break
      blocks.splice(-2, 2, {sum: a.sum + b.sum, n: a.n + b.n})
    }
  }
  return blocks.flatMap((b) => Array.from({length: b.n}, () => b.sum / b.n))
}

/** Where a non-increasing hit curve crosses one half (log-interpolated in bytes); see fitCapacity. */
function halfHitBytes(hits: Array<{bytes: number; hit: number}>): number {
  if (hits[0].hit < 0.5) return 0
  for (let i = 1; i < hits.length; i++) {
    const a = hits[i - 1],
      b = hits[i]
    if (b.hit < 0.5) return a.bytes * (b.bytes / a.bytes) ** ((a.hit - 0.5) / (a.hit - b.hit))
  }
  return hits[hits.length - 1].bytes
}

/** GGUF spelling of ggml's type name ("q4_K" → "Q4_K", "iq4_xs" → "IQ4_XS"). */
export const ggufTypeName = (t: string) => t.toUpperCase()

/**
 * Per type, residency and thread count: nsPerRow and nsPerWeight, and the per-op cost (pure).
 * Timing used: the fastest graph (on a shared machine other processes only slow a graph down).
 * The per-op cost c comes from Q4_K's three cases (two long-op row lengths and the small ops:
 * t_op = rows × (a + b·K) + c, solved exactly; c ≥ 0); every type's a and b then come from its two
 * long-op cases with c taken off each op. A negative a (noise) is set to 0 with b through the long
 * row. Overheads are left empty: calibrate fits them from whole models.
 */
export function fitKernels(all: KernelResult[], sweeps: KernelResult[][] = []): DecodeKernels {
  const measured = all.filter(isDecode)
  // the type lines from every timing of their cases: the sweep samples' references are CAPACITY_TYPE's
  // own type cases, measured again through the run (the capacity curves keep each sample's own)
  const results = fastestOfSamples(measured, sweeps)
  const perOp = (r: KernelResult, threads: number) => {
    const t = r.timings.find((x) => x.threads === threads)
    return t ? t.bestS / (r.ops * r.repeat) : null
  }
  const threads = [...new Set(results.flatMap((r) => r.timings.map((t) => t.threads)))].sort((a, b) => a - b)
  const kernels: DecodeKernels['kernels'] = []
  const ops: NonNullable<DecodeKernels['ops']> = []
  const byType = new Map<string, KernelResult[]>()
  // one line per type and buffer: a type llama.cpp repacks is also timed in the plain CPU buffer
  // (measureKernels' second run), where the weights it cannot repack run
  for (const r of results.filter((x) => !isCapacity(x))) {
    const key = `${ggufTypeName(r.type)}\t${r.buffer}`
    byType.set(key, [...(byType.get(key) ?? []), r])
  }
  for (const residency of ['cache', 'dram'] as const)
    for (const T of threads) {
      // per-op cost from Q4_K
      const q4 = [...byType]
        .filter(([key, rs]) => key.startsWith('Q4_K\t') && rs.some((r) => r.k === SMALL_OP_K))
        .flatMap(([, rs]) => rs)
        .filter((r) => residencyOf(r) === residency)
      const long = q4.filter((r) => r.k !== SMALL_OP_K || r.rows > SMALL_OP_ROWS[residency]).sort((a, b) => a.k - b.k)
      const small = q4.find((r) => r.k === SMALL_OP_K && r.rows === SMALL_OP_ROWS[residency])
      let c = 0
      if (long.length >= 2 && small) {
        const [p, q] = [long[0], long[long.length - 1]]
        const tp = perOp(p, T),
          tq = perOp(q, T),
          ts = perOp(small, T)
        if (tp !== null && tq !== null && ts !== null) {
          // solve t = rows·a + rows·K·b + c over the three cases
          const m = [p, q, small].map((r) => [r.rows, r.rows * r.k, 1])
          const y = [tp, tq, ts]
          const sol = solve3(m, y)
          if (sol && sol[2] > 0) c = sol[2]
        }
      }
      ops.push({residency, threads: T, us: round(c * 1e6, 3)})
      for (const [key, rs] of byType) {
        const type = key.split('\t')[0]
        const two = rs
          .filter((r) => residencyOf(r) === residency && !(r.k === SMALL_OP_K && r.rows === SMALL_OP_ROWS[residency]))
          .sort((a, b) => a.k - b.k)
        if (two.length < 2) continue
        const [p, q] = [two[0], two[two.length - 1]]
        const tp = perOp(p, T),
          tq = perOp(q, T)
        if (tp === null || tq === null) continue
        const rp = (tp - c) / p.rows,
          rq = (tq - c) / q.rows // seconds per row at K_p, K_q
        let b = (rq - rp) / (q.k - p.k)
        let a = rp - b * p.k
        if (a < 0 || b < 0) {
          a = Math.max(0, a)
          b = Math.max(0, (rq - a) / q.k)
        }
        kernels.push({
          type,
          residency,
          threads: T,
          nsPerRow: round(a * 1e9, 4),
          nsPerWeight: round(b * 1e9, 6),
          buffer: q.buffer,
        })
      }
    }
  const llc = fitCapacity(measured, sweeps)
  const prefill = fitPrefillKernels(all)
  const prefillExperts = fitPrefillKernels(all, true)
  const stacked = fitStacked(all, kernels, ops)
  const attention = fitAttention(all)
  const decodeAttention = fitAttention(all, true)
  return {
    kernels,
    ops,
    overheads: [],
    ...(llc.length ? {llc} : {}),
    ...(prefill.length ? {prefill} : {}),
    ...(prefillExperts.length ? {prefillExperts} : {}),
    ...(stacked.length ? {stacked} : {}),
    ...(attention.length ? {attention} : {}),
    ...(decodeAttention.length ? {decodeAttention} : {}),
  }
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d

export interface MeasureKernelsOptions {
  threads: number[]
  l3Bytes: number | null
  cpuVariant?: string
  childEnv?: NodeJS.ProcessEnv
  minSeconds?: number
  /** passes over the cases (default KERNEL_PASSES); each case keeps its fastest */
  passes?: number
  onProgress?: (done: number, total: number) => void
  onInterrupt?: () => void
}

/**
 * Two passes over the cases, the second after the first has ended (≈ 20 s apart on a 2-vCPU guest):
 * a shared machine slows a kernel for seconds at a time (a 14× slower Q4_K DRAM case seen once), and
 * the faster of two passes far apart is the machine's own speed.
 */
export const KERNEL_PASSES = 2

/** A result's case, timings left out: the same case in two runs or samples describes itself the same. */
const desc = (r: KernelResult) => JSON.stringify({...r, timings: undefined})

/**
 * Two runs of the same cases merged: each case and thread count keeps the faster timing (pure).
 * A case the second run lacks (stopped early) or describes differently keeps the first run's.
 */
export function fasterOfRuns(first: KernelResult[], second: KernelResult[]): KernelResult[] {
  return first.map((r, i) => {
    const o = second[i]
    return o && desc(o) === desc(r) ? withFastest(r, [o]) : r
  })
}

/** A result with, per thread count, the fastest of its own timing and those of `others` (the same case). */
function withFastest(r: KernelResult, others: KernelResult[]): KernelResult {
  const timings = r.timings.map((t) =>
    others
      .flatMap((o) => o.timings.filter((u) => u.threads === t.threads))
      .reduce((best, u) => (u.bestS < best.bestS ? u : best), t),
  )
  return {...r, timings}
}

/**
 * Each result with the fastest timing per thread count of any sample's result of the same case
 * (pure; matched by description, as fasterOfRuns). The sweep samples repeat CAPACITY_TYPE's type
 * cases as their references: four to six timings of them spread over a calibration instead of two.
 * On a Zen 4 guest one calibration's Q8_0 K 128 cached case ran 25 % slower than in the passes
 * before and after it (4.45 against 3.55–3.58 ns a row at 2 threads, both of its passes), and put
 * qwen3moe-tiny's 20.7 MB Q8_0 output matrix, read at that rate, 22 % slow (bench/speed-fidelity
 * pass 36).
 */
export function fastestOfSamples(results: KernelResult[], samples: KernelResult[][]): KernelResult[] {
  const others = new Map<string, KernelResult[]>()
  for (const r of samples.flat()) others.set(desc(r), [...(others.get(desc(r)) ?? []), r])
  return results.map((r) => {
    const same = others.get(desc(r))
    return same ? withFastest(r, same) : r
  })
}

/** The faster pass of each case and thread count (results of the same case in order). */
export function bestOfPasses(results: KernelResult[], nCases: number): KernelResult[] {
  const passes: KernelResult[][] = []
  for (let i = 0; i < results.length; i += nCases) passes.push(results.slice(i, i + nCases))
  return passes.length ? passes.reduce(fasterOfRuns) : []
}

/**
 * Runs the kernel benchmark in the runner child; the cases finished when stopped are returned.
 * Then the types llama.cpp put in an extra buffer (CPU_REPACK, AMX) once more in the plain CPU
 * buffer (its vec_dot kernels): the weights of those types that the extra buffer does not take
 * (MLA's 3-D attn_k_b/attn_v_b, rows not a multiple of 8, experts under AMX) run there.
 */
export async function measureKernels(
  o: MeasureKernelsOptions,
): Promise<{results: KernelResult[]; sweeps: KernelResult[][]; stopped: boolean}> {
  const spread = spreadSweeps(o.l3Bytes)
  const cases = spread.cases
  const passes = o.passes ?? KERNEL_PASSES
  const run = await kernelRun(o, cases, passes, true, 0, cases.length * passes)
  // the sweep samples apart from the main cases (a sample cut short by a stop is left out)
  const first = {
    results: spread.main.filter((i) => i < run.results.length).map((i) => run.results[i]),
    sweeps: spread.sweeps
      .filter((s) => s.every((i) => i < run.results.length))
      .map((s) => s.map((i) => run.results[i])),
    stopped: run.stopped,
  }
  if (first.stopped) return first
  const extra = new Set(first.results.filter((r) => r.buffer !== 'CPU').map((r) => ggufTypeName(r.type)))
  const plainCases = [
    ...typeCases(o.l3Bytes, [...extra]),
    ...prefillCases([...extra]),
    ...expertPrefillCases([...extra]),
  ]
  if (!plainCases.length) return first
  const done = cases.length * passes
  const plain = await kernelRun(o, plainCases, passes, false, done, done + plainCases.length * passes)
  return {results: [...first.results, ...plain.results], sweeps: first.sweeps, stopped: plain.stopped}
}

/** Cases of measureKernels' first run (kernelCases and the spread sweep samples) × passes: for progress totals. */
export function firstRunCases(l3Bytes: number | null, passes: number): number {
  return spreadSweeps(l3Bytes).cases.length * passes
}

/** One child run of `cases` × passes, progress counted from `offset` of `total`. */
async function kernelRun(
  o: MeasureKernelsOptions,
  cases: KernelCase[],
  passes: number,
  extraBufts: boolean,
  offset: number,
  total: number,
): Promise<{results: KernelResult[]; stopped: boolean}> {
  const outcome = await runInChild(
    {
      kind: 'kernels',
      setup: engineSetup(o.cpuVariant),
      options: {
        cases: Array.from({length: passes}, () => cases).flat(),
        threads: o.threads,
        minSeconds: o.minSeconds ?? 0.15,
        minIters: 3,
        extraBufts,
      },
    },
    {
      env: o.childEnv,
      onInterrupt: o.onInterrupt,
      onEvent: (e) => {
        if (e.type === 'kernels-progress') o.onProgress?.(offset + e.done, total)
      },
    },
  )
  if (outcome.final.type !== 'kernels-done')
    throw new MoerigError('E_ENGINE', 'the runner ended without kernel timings')
  return {results: bestOfPasses(outcome.final.results, cases.length), stopped: outcome.interrupted}
}
