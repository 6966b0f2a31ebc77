/**
 * Attention and prefill terms measured by calibrate's kernel benchmark (issue 13, eighth pass): flash
 * attention per head geometry in prefill and at depth in decode, and routed-expert (MUL_MAT_ID) kernels — the cases, their fit, and the
 * planner's use of them (src/runner/kernels.ts attentionCases, expertPrefillCases, fitAttention;
 * src/planner/speed.ts measuredAttention, prefillRates; the calibrate fit takes the measured
 * attention off the prefill sample before it fits the FLOP rate).
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import type {KernelResult} from '../../src/engine/addon.js'
import {
  ATTN_SHAPES,
  DECODE_GQA_SHAPES,
  attentionCases,
  causalPairs,
  DECODE_ATTN_KEYS,
  expertPrefillCases,
  fitAttention,
  fitKernels,
  fitPrefillKernels,
  kernelCases,
  KERNEL_TYPES,
  PREFILL_EXPERTS,
  PREFILL_EXPERTS_USED,
  type DecodeKernels,
} from '../../src/runner/kernels.js'
import {
  KV_DEPTH,
  OFFLOAD_COPY_PAGEABLE_GBS,
  PCIE_EFF,
  PREFILL_KERNEL_COLS,
  extraBufferTakes,
  measuredAttention,
  offloadCopyBw,
  prefillRates,
  tallyWork,
  type CpuMat,
} from '../../src/planner/speed.js'
import {attnHeadKV} from '../../src/planner/memory.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {makePlan, type MmapMode} from '../../src/planner/plan.js'
import type {ModelProfile} from '../../src/schemas/model.js'
import {hardwareProfileSchema, type HardwareProfile} from '../../src/schemas/hardware.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {fitCalibration, prefillOther, type ModelTerms, type Sample} from '../../src/runner/calibrate.js'
import {rig, testCalibration} from '../fixtures/plan/rigs.js'
import {calibrationLines, decodeKernelLines} from '../../src/commands/calibrate.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const lite: ModelProfile = catalogModel('deepseek-v2-lite')

/** a fake result of `c` taking `bestS` per graph at each of `threads` */
const result = (c: ReturnType<typeof attentionCases>[number], bestS: number, threads = [1]): KernelResult => ({
  ...c,
  type: c.type.toLowerCase(),
  weightBytes: 1,
  buffer: 'CPU',
  timings: threads.map((t) => ({threads: t, iters: 3, bestS: bestS / t, medianS: bestS / t})),
})

test('attention cases: each geometry an F16 cache, a ubatch of queries over as many keys; MLA latent with one kv head; in the benchmark', () => {
  const cs = attentionCases().filter((c) => (c.cols ?? 1) > 1)
  assert.equal(cs.length, ATTN_SHAPES.length)
  for (const c of cs) {
    assert.equal(c.type, 'F16')
    assert.equal(c.cols, PREFILL_KERNEL_COLS)
    assert.equal(c.rows, PREFILL_KERNEL_COLS)
    assert.equal(c.heads! % c.kvHeads!, 0)
    if (c.latent) {
      assert.equal(c.kvHeads, 1)
      assert.ok(c.dv! <= c.k)
    }
  }
  // R1's latent geometry is measured as the planner computes it (kv_lora + rope, kv_lora)
  const r1 = attnHeadKV({arch: 'deepseek2', hp: {kvLoraRank: 512, ropeDim: 64}} as never, 'mla')
  assert.ok(cs.some((c) => c.k === r1.k && c.dv === r1.v))
  const all = kernelCases(32 * 2 ** 20)
  assert.equal(all.filter((c) => (c.kvHeads ?? 0) > 0).length, 2 * ATTN_SHAPES.length + DECODE_GQA_SHAPES.length)
})

test('causal pairs: the last cols of rows positions, each seeing the keys up to its own, per head', () => {
  assert.equal(causalPairs({rows: 4, cols: 4, heads: 2}), 2 * (1 + 2 + 3 + 4))
  assert.equal(causalPairs({rows: 6, cols: 2, heads: 3}), 3 * (5 + 6))
  assert.equal(causalPairs({rows: 512, cols: 512, heads: 16}), (16 * 512 * 513) / 2)
})

test('fitAttention: ns per query × key × head per geometry and thread count; kept out of the prefill and decode fits', () => {
  const [mla, , gqa] = attentionCases()
  const pairs = causalPairs(mla)
  const rs = [result(mla, pairs * 40e-9, [1, 2]), result(gqa, causalPairs(gqa) * 10e-9)]
  assert.deepEqual(fitAttention(rs), [
    {k: 576, dv: 512, threads: 1, nsPerPair: 40},
    {k: 576, dv: 512, threads: 2, nsPerPair: 20},
    {k: 128, dv: 128, threads: 1, nsPerPair: 10},
  ])
  assert.deepEqual(fitPrefillKernels(rs), [])
  assert.deepEqual(fitPrefillKernels(rs, true), [])
  const dk = fitKernels(rs)
  assert.deepEqual(dk.kernels, [])
  assert.equal(dk.prefill, undefined)
  assert.deepEqual(dk.attention, fitAttention(rs))
})

test('routed-expert prefill cases: every type at two row lengths, a MUL_MAT_ID of a ubatch routed to R1-like rows per expert; fitted apart from the 2-D points', () => {
  const cs = expertPrefillCases()
  assert.equal(cs.length, 2 * KERNEL_TYPES.length)
  for (const c of cs) {
    assert.equal(c.experts, PREFILL_EXPERTS)
    assert.equal(c.used, PREFILL_EXPERTS_USED)
    assert.equal(c.cols, PREFILL_KERNEL_COLS)
  }
  // R1 at a ubatch of 512: 512 × 8 ÷ 256 = 16 rows per expert
  assert.equal((PREFILL_KERNEL_COLS * PREFILL_EXPERTS_USED) / PREFILL_EXPERTS, 16)
  const routed: KernelResult = {
    type: 'q6_K',
    k: 2048,
    rows: 256,
    ops: 1,
    repeat: 1,
    cols: 512,
    experts: 64,
    used: 2,
    weightBytes: 1,
    buffer: 'CPU',
    timings: [{threads: 1, iters: 3, bestS: (2 * 2048 * 256 * 512 * 2) / 50e9, medianS: 1}],
  }
  const twoD: KernelResult = {...routed, experts: undefined, used: undefined, timings: [{...routed.timings[0]}]}
  // a routed column is one product with each of its `used` experts: 50 GFLOP/s; the same time as a 2-D product is half the FLOPs
  assert.deepEqual(fitPrefillKernels([routed, twoD], true), [
    {type: 'Q6_K', buffer: 'CPU', k: 2048, threads: 1, gflops: 50},
  ])
  assert.deepEqual(fitPrefillKernels([routed, twoD]), [{type: 'Q6_K', buffer: 'CPU', k: 2048, threads: 1, gflops: 25}])
  assert.deepEqual(fitKernels([routed, twoD]).prefillExperts, fitPrefillKernels([routed], true))
})

test('planner: flash attention per pair at the measured geometry, linear in K + V dims between geometries, in proportion beyond; threads interpolate', () => {
  const dk: DecodeKernels = {
    kernels: [],
    ops: [],
    overheads: [],
    attention: [
      {k: 576, dv: 512, threads: 1, nsPerPair: 44},
      {k: 128, dv: 128, threads: 1, nsPerPair: 12},
      {k: 576, dv: 512, threads: 3, nsPerPair: 22},
      {k: 128, dv: 128, threads: 3, nsPerPair: 4},
    ],
  }
  const at1 = measuredAttention(dk, 1)!
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-15
  assert.ok(near(at1(576, 512), 44e-9))
  assert.ok(near(at1(128, 128), 12e-9))
  // 192 + 128 (a per-head DeepSeek cache): 320 dims, a quarter of the way from 256 to 1088… in dims
  assert.ok(near(at1(192, 128), 12e-9 + ((44e-9 - 12e-9) * (320 - 256)) / (1088 - 256)))
  assert.ok(near(at1(64, 64), 6e-9), 'below the smallest: in proportion to dims')
  assert.ok(near(at1(1152, 1024), 88e-9), 'beyond the largest: in proportion to dims')
  assert.ok(near(measuredAttention(dk, 2)!(576, 512), 33e-9), 'halfway between 1 and 3 threads')
  assert.equal(measuredAttention({...dk, attention: []}, 1), null)
  assert.equal(measuredAttention(undefined, 1), null)
})

test('planner: plain-buffer routed experts take the routed kernels; repacked experts keep one matrix × vector per routed row; 2-D weights keep theirs', () => {
  const dk: DecodeKernels = {
    kernels: [{type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 2, nsPerWeight: 0.02, buffer: 'CPU_REPACK'}],
    ops: [],
    overheads: [],
    prefill: [
      {type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 1, gflops: 200},
      {type: 'Q5_0', buffer: 'CPU', k: 128, threads: 1, gflops: 64},
      {type: 'Q5_0', buffer: 'CPU', k: 2048, threads: 1, gflops: 80},
    ],
    prefillExperts: [
      {type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 1, gflops: 55},
      {type: 'Q5_0', buffer: 'CPU', k: 128, threads: 1, gflops: 24},
      {type: 'Q5_0', buffer: 'CPU', k: 2048, threads: 1, gflops: 32},
    ],
  }
  const mat = (o: Partial<CpuMat>): CpuMat => ({
    type: 'Q5_0',
    k: 128,
    rows: 256,
    ops: 1,
    bytes: 0,
    layout: 'matrix',
    amx: false,
    ...o,
  })
  const pr = prefillRates(dk, 1)!
  assert.deepEqual(pr.kernel(mat({layout: 'experts'})), {rate: 24e9, rowByRow: false})
  assert.ok(Math.abs(pr.kernel(mat({layout: 'experts', k: 512})).rate - 28e9) < 1e3, 'log-interpolated in K')
  assert.equal(pr.kernel(mat({})).rate, 64e9)
  const q4 = pr.kernel(mat({type: 'Q4_K', k: 2048, layout: 'experts'}))
  assert.ok(q4.rowByRow)
  assert.ok(Math.abs(q4.rate - (2 * 2048) / ((2 + 0.02 * 2048) * 1e-9)) < 1)
  // without routed points: the 2-D rate, as before
  assert.equal(prefillRates({...dk, prefillExperts: undefined}, 1)!.kernel(mat({layout: 'experts'})).rate, 64e9)
})

/** a one-socket 16-core desktop, no GPU, calibrated with the given decode kernels */
function desk(decodeKernels?: DecodeKernels): HardwareProfile {
  const p = rig({id: 'desk', sockets: 1, ramGiB: 64, channels: 2, mts: 4000, cores: 16, gpus: 0})
  return {...p, calibration: testCalibration(decodeKernels ? {decodeKernels} : {})}
}

test('plan: measured flash attention is heads × keys (half the context) × ubatch × ns per pair on every CPU layer, shown apart; not with -fa off', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const dk: DecodeKernels = {
    kernels: [],
    ops: [],
    overheads: [],
    prefill: [{type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 16, gflops: 500}],
    attention: [{k: 576, dv: 512, threads: 16, nsPerPair: 2}],
  }
  assert.deepEqual(schemaErrors(hardwareProfileSchema, desk(dk)), [])
  const plan = (fa: boolean, d?: DecodeKernels) =>
    makePlan(inv, [desk(d)], {ctx: 4096, engine: 'llama.cpp', threads: 16, ubatch: 512, flashAttention: fa}).prediction
  const hp = inv.shape.hp
  const want = hp.nLayer * hp.nHead * 2048 * 512 * 2e-9 * 1e3
  const on = plan(true, dk)
  assert.ok(Math.abs(on.prefillAttentionMs! - want) < 0.01, `${on.prefillAttentionMs} vs ${want}`)
  assert.ok(on.prefillMsPerUbatch! > on.prefillAttentionMs!)
  // twice the ns per pair: the ubatch takes the attention's time once more
  const twice = plan(true, {...dk, attention: [{...dk.attention![0], nsPerPair: 4}]})
  assert.ok(Math.abs(twice.prefillMsPerUbatch! - on.prefillMsPerUbatch! - want) < 0.1)
  assert.match(
    on.assumptions.join('\n'),
    /attention over half the context \(CPU: flash attention timed, 2\.0 ns per query × key × head\)/,
  )
  assert.doesNotMatch(on.assumptions.join('\n'), /FLOP-equivalents per query × key × head/)
  assert.equal(plan(false, dk).prefillAttentionMs, undefined)
  assert.match(plan(false, dk).assumptions.join('\n'), /FLOP-equivalents per query × key × head/)
  assert.equal(plan(true, {...dk, attention: undefined}).prefillAttentionMs, undefined)
  // a bad point is refused by the schema with the field named
  const bad = desk({...dk, attention: [{k: 576, dv: 512, threads: 16, nsPerPair: -1}]})
  assert.match(schemaErrors(hardwareProfileSchema, bad).join('\n'), /attention\/0\/nsPerPair/)
})

/** a model's terms for the calibrate fits: 10 layers, 2 GFLOP per prompt token, pp512 */
const terms = (o: Partial<ModelTerms>): ModelTerms => ({
  name: 'm',
  bytes: 1e9,
  costFlops: 1e9,
  attnS: 0,
  cacheS: 0,
  layers: 10,
  prefillFlops: 2e9,
  nPrompt: 512,
  ...o,
})

test('calibrate: the measured attention comes off the prefill sample before the FLOP rate is fitted', () => {
  // 512 tokens × 2 GFLOP at 100 GFLOP/s = 10.24 s of matmuls, plus 2 s of measured attention
  const sample = (attn?: number): Sample => ({
    role: 'compute',
    terms: terms(attn !== undefined ? {prefillAttnS: attn} : {}),
    threads: 4,
    decodeTps: null,
    prefillTps: 512 / (10.24 + 2),
  })
  const fit = (s: Sample) =>
    fitCalibration([s], {
      measuredAt: '2026-12-02T00:00:00.000Z',
      llamaCppRelease: null,
      cpuVariant: null,
      models: [],
    }).cpuThroughput!.find((x) => x.threads === 4)!.prefillGflops!
  assert.ok(Math.abs(fit(sample(2)) - 100) < 0.01, `${fit(sample(2))}`)
  assert.ok(fit(sample()) < 90, 'without the measured attention it rides in the rate')
})

test('calibrate prints the measured attention (prefill; decode with its GQA ratio) and routed-expert rates per thread count', () => {
  const lines = decodeKernelLines({
    kernels: [],
    ops: [],
    overheads: [],
    attention: [
      {k: 576, dv: 512, threads: 1, nsPerPair: 46.4},
      {k: 64, dv: 64, threads: 1, nsPerPair: 6.04},
    ],
    decodeAttention: [
      {k: 576, dv: 512, threads: 1, nsPerPair: 101.2},
      {k: 128, dv: 128, gqa: 16, threads: 1, nsPerPair: 44},
    ],
    prefillExperts: [
      {type: 'Q6_K', buffer: 'CPU', k: 2048, threads: 2, gflops: 121.4},
      {type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 2, gflops: 129.9},
      {type: 'Q6_K', buffer: 'CPU', k: 256, threads: 2, gflops: 83},
    ],
  })
  assert.ok(
    lines.includes(
      '    1 thread: prefill flash attention (K/V dims ns per query × key × head): 576/512 46.4, 64/64 6.0',
    ),
    lines.join('\n'),
  )
  assert.ok(
    lines.includes('    2 threads: prefill routed experts at K 2048 (GFLOP/s): Q6_K 121, Q4_K (CPU_REPACK) 130'),
    lines.join('\n'),
  )
  assert.ok(
    lines.includes(
      '    1 thread: decode flash attention at depth (K/V dims, query heads per KV head: ns per key × head): 576/512 101.2, 128/128 16:1 44.0',
    ),
    lines.join('\n'),
  )
})

test('decode attention at depth: one query over a streamed cache per geometry; the planner charges layers × heads × depth × ns per key with measured kernels and -fa, and says so', () => {
  const cs = attentionCases(32 * 2 ** 20).filter((c) => c.cols === 1)
  assert.equal(cs.length, ATTN_SHAPES.length + DECODE_GQA_SHAPES.length)
  for (const c of cs) {
    assert.equal(c.rows, DECODE_ATTN_KEYS)
    // every layer's cache streamed: the distinct caches total at least 4 × the L3
    const perOp = c.rows * c.kvHeads! * (c.k + (c.latent ? 0 : c.dv!)) * 2
    assert.ok(c.ops * perOp >= 4 * 32 * 2 ** 20, JSON.stringify(c))
  }
  const mla = cs[0]
  const r = result(mla, mla.ops * causalPairs(mla) * 20e-9)
  assert.equal(causalPairs(mla), mla.heads! * DECODE_ATTN_KEYS)
  assert.deepEqual(fitAttention([r], true), [{k: 576, dv: 512, threads: 1, nsPerPair: 20}])
  assert.deepEqual(fitAttention([r]), [])
  assert.deepEqual(fitKernels([r]).decodeAttention, fitAttention([r], true))

  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const dk: DecodeKernels = {
    kernels: [{type: 'Q4_K', residency: 'dram', threads: 16, nsPerRow: 2, nsPerWeight: 0.02, buffer: 'CPU_REPACK'}],
    ops: [],
    overheads: [{threads: 16, layerUs: 0, tokenUs: 0}],
    decodeAttention: [{k: 576, dv: 512, threads: 16, nsPerPair: 3}],
  }
  const plan = (ctx: number, fa = true, d: DecodeKernels = dk) =>
    makePlan(inv, [desk(d)], {ctx, engine: 'llama.cpp', threads: 16, flashAttention: fa}).prediction
  const hp = inv.shape.hp
  const gap = (d: DecodeKernels, fa = true) =>
    plan(32768, fa, d).decodeMs!.attention! - plan(4096, fa, d).decodeMs!.attention!
  // depth at the mid end: half the context (KV_DEPTH.mid)
  const want = hp.nLayer * hp.nHead * (32768 - 4096) * KV_DEPTH.mid * 3e-9 * 1e3
  assert.ok(Math.abs(gap(dk) - want) < 0.01, `${gap(dk)} vs ${want}`)
  assert.match(plan(4096).assumptions.join('\n'), /CPU attention at depth: 16 heads × depth × 3\.0 ns per key × head/)
  // -fa off, or no decode attention measured: the MLA FLOP term at the assumed rate instead
  assert.notEqual(gap(dk, false), gap(dk))
  assert.doesNotMatch(plan(4096, false).assumptions.join('\n'), /CPU attention at depth/)
  assert.notEqual(gap({...dk, decodeAttention: undefined}), gap(dk))
})

test('decode attention per GQA ratio: per-head cases carry query heads per KV head; the planner interpolates log-linearly between measured ratios, the nearest beyond, latent and older points as before', () => {
  const cs = attentionCases(32 * 2 ** 20).filter((c) => c.cols === 1 && c.k === 128)
  const gqaOf = (c: (typeof cs)[number]) => c.heads! / c.kvHeads!
  assert.deepEqual(cs.map(gqaOf), [4, 1, 2, 8, 16])
  const ns: Record<number, number> = {1: 160, 2: 110, 4: 60, 8: 50, 16: 40}
  const rs = cs.map((c) => result(c, c.ops * causalPairs(c) * ns[gqaOf(c)] * 1e-9))
  const mla = attentionCases(32 * 2 ** 20).filter((c) => c.cols === 1 && c.latent)[0]
  rs.push(result(mla, mla.ops * causalPairs(mla) * 100e-9))
  const pts = fitAttention(rs, true)
  assert.deepEqual(
    pts.map((x) => [x.k, x.gqa]),
    [
      [128, 4],
      [128, 1],
      [128, 2],
      [128, 8],
      [128, 16],
      [576, undefined],
    ],
  )
  const at = measuredAttention({kernels: [], ops: [], overheads: [], decodeAttention: pts}, 1, 'decode')!
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-15
  for (const r of [1, 2, 4, 8, 16]) assert.ok(near(at(128, 128, r), ns[r] * 1e-9), `${r}:1`)
  // halfway in log ratio between 8 and 16
  assert.ok(near(at(128, 128, Math.SQRT2 * 8), 45e-9))
  // beyond the measured ratios: the nearest
  assert.ok(near(at(128, 128, 0.5), 160e-9))
  assert.ok(near(at(128, 128, 64), 40e-9))
  // no ratio asked: the fewest measured; the latent geometry has one
  assert.ok(near(at(128, 128), 160e-9))
  assert.ok(near(at(576, 512, 128), 100e-9))
  // between geometries in K + V dims, each taken at the asked ratio
  assert.ok(near(at(352, 320, 16), 40e-9 + ((100e-9 - 40e-9) * (672 - 256)) / (1088 - 256)))
  // an older calibration (no gqa): one value per geometry whatever the ratio
  const old = pts.filter((x) => x.gqa === undefined || x.gqa === 4).map(({gqa: _, ...x}) => x)
  const at0 = measuredAttention({kernels: [], ops: [], overheads: [], decodeAttention: old}, 1, 'decode')!
  assert.ok(near(at0(128, 128, 16), 60e-9))

  // a plan of Qwen3-235B (64 query heads on 4 KV heads, 128 dims) charges the 16:1 point
  const qwen: ModelProfile = catalogModel('qwen3-235b-a22b')
  const inv = inventoryFromCatalog(qwen, {quant: 'Q4_K_M'})
  assert.equal(inv.shape.hp.nHead / inv.shape.hp.nHeadKv, 16)
  const dk = (decodeAttention: typeof pts): DecodeKernels => ({
    kernels: [{type: 'Q4_K', residency: 'dram', threads: 1, nsPerRow: 2, nsPerWeight: 0.02, buffer: 'CPU_REPACK'}],
    ops: [],
    overheads: [{threads: 1, layerUs: 0, tokenUs: 0}],
    decodeAttention,
  })
  const attn = (d: DecodeKernels) =>
    makePlan(inv, [desk(d)], {ctx: 32768, engine: 'llama.cpp', threads: 1, flashAttention: true}).prediction.decodeMs!
      .attention!
  assert.ok(Math.abs(attn(dk(pts)) / attn(dk(old)) - 40 / 60) < 1e-3, `${attn(dk(pts))} vs ${attn(dk(old))}`)
})

test("plan: a model on the cache's knee takes the capacity curve's slowest sample shares at its decode range's low end and says so; mid and high and a curve without them unchanged", () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const curve = (low?: number): DecodeKernels => ({
    kernels: (['cache', 'dram'] as const).map((residency) => ({
      type: 'Q4_K',
      residency,
      threads: 16,
      nsPerRow: residency === 'cache' ? 1 : 4,
      nsPerWeight: residency === 'cache' ? 0.01 : 0.04,
      buffer: 'CPU_REPACK',
    })),
    ops: [],
    overheads: [{threads: 16, layerUs: 0, tokenUs: 0}],
    llc: [
      {
        threads: 16,
        bytes: 3e9,
        k: 2048,
        hits: [
          {bytes: 0.25e9, hit: 1},
          {bytes: 4e9, hit: 0.6, ...(low !== undefined ? {low} : {})},
          {bytes: 64e9, hit: 0},
        ],
      },
    ],
  })
  const withL3 = (d: DecodeKernels) => {
    const h = desk(d)
    return {...h, cpu: {...h.cpu, l3Bytes: 32 * 2 ** 20}}
  }
  const plan = (d: DecodeKernels) =>
    makePlan(inv, [withL3(d)], {ctx: 4096, engine: 'llama.cpp', threads: 16, flashAttention: true}).prediction
  assert.deepEqual(schemaErrors(hardwareProfileSchema, withL3(curve(0.1))), [])
  const one = plan(curve()),
    spread = plan(curve(0.1))
  assert.equal(spread.decodeRange!.mid, one.decodeRange!.mid)
  assert.equal(spread.decodeRange!.high, one.decodeRange!.high)
  assert.ok(
    spread.decodeRange!.low < 0.97 * one.decodeRange!.low,
    `${spread.decodeRange!.low} vs ${one.decodeRange!.low}`,
  )
  const cacheLine = (p: typeof one) => p.assumptions.find((x) => x.startsWith('last-level cache'))!
  assert.match(cacheLine(spread), /\d+ % of the CPU's decode bytes come from it \(\d+ % at the range's low end/)
  assert.doesNotMatch(cacheLine(one), /range's low end/)
  assert.match(cacheLine(one), /at the measured cached kernels/)
})

test('hybrid llama.cpp: experts a tensor override puts on the CPU are in the plain buffer (no CPU_REPACK, no AMX); experts of CPU layers keep the extra buffers', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const nLayer = inv.shape.hp.nLayer
  const a = (layer: string) => ({
    gpus: [],
    nGpuLayers: 0,
    tensorSplit: [],
    layerDevice: Array(nLayer + 1).fill(layer),
    expertDevice: Array(nLayer + 1).fill('CPU'),
  })
  const experts = (w: ReturnType<typeof tallyWork>) => w.cpuMats.filter((m) => m.layout === 'experts')
  const hybrid = experts(tallyWork(inv, a('GPU0'), 512))
  const cpuOnly = experts(tallyWork(inv, a('CPU'), 512))
  assert.ok(hybrid.length > 0 && hybrid.length === cpuOnly.length)
  assert.ok(hybrid.every((m) => m.plain === true && !m.amx))
  assert.ok(cpuOnly.every((m) => m.plain === undefined))
  assert.equal(extraBufferTakes(hybrid[0], 'CPU_REPACK'), false)
  assert.equal(extraBufferTakes(cpuOnly[0], 'CPU_REPACK'), true)
  // the prefill kernels follow: a repacked expert runs row by row (gemv), an overridden one at the routed rate
  const pt = (buffer: string, gflops: number) => ({type: 'Q4_K', buffer, k: 2048, threads: 1, gflops})
  const cached = {type: 'Q4_K', residency: 'cache' as const, threads: 1, nsPerRow: 2, nsPerWeight: 0.02}
  const pr = prefillRates(
    {
      kernels: [{...cached, buffer: 'CPU_REPACK'}],
      ops: [],
      overheads: [],
      prefill: [pt('CPU_REPACK', 200), pt('CPU', 90)],
      prefillExperts: [pt('CPU_REPACK', 55), pt('CPU', 40)],
    },
    1,
  )!
  const m = {type: 'Q4_K', k: 2048, rows: 1408, ops: 6, bytes: 0, layout: 'experts' as const, amx: false}
  assert.ok(pr.kernel(m).rowByRow)
  assert.deepEqual(pr.kernel({...m, plain: true}), {rate: 40e9, rowByRow: false})
})

test("op offload copies: the link × PCIE_EFF, capped by the mapped GGUF's pageable copy rate; the plan says so", () => {
  // PCIe 5.0 x16 (63 GB/s): the pageable rate decides; a slow link (PCIe 3.0 x4, 3.9 GB/s) decides itself
  for (const k of ['low', 'mid', 'high'] as const) {
    assert.equal(offloadCopyBw(63e9, k), OFFLOAD_COPY_PAGEABLE_GBS[k] * 1e9)
    assert.equal(offloadCopyBw(3.9e9, k), 3.9e9 * PCIE_EFF[k])
  }
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const hw = rig({id: 'hyb', sockets: 1, ramGiB: 64, channels: 2, mts: 4800, cores: 16, gpus: 1, vramGiB: 16})
  const plan = (pcie: number, mmap: MmapMode = 'on') => {
    const h = structuredClone(hw)
    h.gpus[0].pcie = {gen: 4, width: 16, bandwidthGBs: pcie}
    return makePlan(inv, [h], {
      ctx: 4096,
      engine: 'llama.cpp',
      gpus: 1,
      ubatch: 512,
      placement: {kind: 'exps-cpu'},
      mmap,
    })
  }
  const fast = plan(63).prediction,
    mid = plan(31.5).prediction
  // both links are faster than pageable copies: the same prefill
  assert.equal(fast.prefillMsPerUbatch, mid.prefillMsPerUbatch)
  assert.ok(plan(2).prediction.prefillMsPerUbatch! > fast.prefillMsPerUbatch!)
  assert.match(fast.assumptions.join('\n'), /out of the mapped GGUF at 5\.0\/9\.5\/20\.0 GB\/s \(pageable memory/)
  // --no-mmap: the GPU's pinned host buffer, copies at the link's rate; decode as before
  const pinned = plan(63, 'off')
  assert.equal(pinned.placement.mmap, false)
  assert.ok(pinned.prediction.prefillMsPerUbatch! < fast.prefillMsPerUbatch!)
  assert.equal(pinned.prediction.decodeTps, fast.decodeTps)
  assert.match(
    pinned.prediction.assumptions.join('\n'),
    /out of the GPU's pinned host buffer \(--no-mmap\) at the link's 63\.0 GB\/s/,
  )
  const pre = (x: ReturnType<typeof plan>) => x.prediction.prefillMsPerUbatch!
  // the copies' share: (8 or so GB ÷ 63 GB/s × 0.8) instead of ÷ 9.5 GB/s
  const bytes = (pre(plan(63)) - pre(pinned)) / 1e3 / (1 / 9.5e9 - 1 / (63e9 * PCIE_EFF.mid))
  assert.ok(bytes > 1e9 && bytes < 16e9, `${bytes} bytes copied a ubatch`)
  assert.equal(offloadCopyBw(63e9, 'mid', true), 63e9 * PCIE_EFF.mid)
})

test('--mmap auto: --no-mmap (pinned copies) only where llama.cpp copies weights kept in RAM to a local GPU and the plan fits; the commands say it', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const hw = rig({id: 'hyb', sockets: 1, ramGiB: 64, channels: 2, mts: 4800, cores: 16, gpus: 1, vramGiB: 16})
  const plan = (h: HardwareProfile, o: Partial<Parameters<typeof makePlan>[2]> = {}) =>
    makePlan(inv, [h], {ctx: 4096, engine: 'llama.cpp', ubatch: 512, ...o})
  const hybrid = plan(hw, {gpus: 1, placement: {kind: 'exps-cpu'}})
  assert.equal(hybrid.placement.mmap, false)
  assert.match(hybrid.commands.llamaServer!, / --no-mmap /)
  assert.match(hybrid.commands.llamaBench!, / -mmp 0 /)
  // everything on the GPU: nothing copied, llama.cpp's default kept
  const allGpu = plan(rig({id: 'big', sockets: 1, ramGiB: 64, cores: 16, gpus: 1, vramGiB: 48}), {
    gpus: 1,
    placement: {kind: 'all-gpu'},
  })
  assert.equal(allGpu.placement.mmap, true)
  assert.doesNotMatch(allGpu.commands.llamaServer!, /no-mmap/)
  // CPU only, and ik_llama.cpp (its CPU computes the experts it holds): mapped
  assert.equal(plan(rig({id: 'cpu', sockets: 1, ramGiB: 64, cores: 16, gpus: 0})).placement.mmap, true)
  assert.equal(plan(hw, {gpus: 1, placement: {kind: 'exps-cpu'}, engineBuild: 'ik_llama.cpp'}).placement.mmap, true)
  // a plan that does not fit in RAM keeps the mapping (pinned memory cannot be paged out)
  const small = plan(rig({id: 'small', sockets: 1, ramGiB: 4, cores: 16, gpus: 1, vramGiB: 16}), {
    gpus: 1,
    placement: {kind: 'exps-cpu'},
  })
  assert.equal(small.fits, false)
  assert.equal(small.placement.mmap, true)
})

test('unknown memory (no DIMM tables, no STREAM): 51.2 GB/s assumed at low and mid, the CPU class ceiling at the high end, and the plan says how to measure it', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const unknown = (flags: string[], cores: number) => {
    const p = rig({id: 'guest', sockets: 1, ramGiB: 64, cores, gpus: 0})
    return {
      ...p,
      cpu: {...p.cpu, flags},
      memory: {...p.memory, channels: null, speedMTs: null, theoreticalBandwidthGBs: null},
    } as HardwareProfile
  }
  const plan = (hw: HardwareProfile) => makePlan(inv, [hw], {ctx: 4096, engine: 'llama.cpp', threads: 16}).prediction
  const server = plan(unknown(['avx2', 'avx512f', 'amx_int8'], 16))
  const desktop = plan(unknown(['avx2'], 16))
  const known = plan(rig({id: 'known', sockets: 1, ramGiB: 64, channels: 2, mts: 3200, cores: 16, gpus: 0}))
  // low and mid: the same assumption for both classes; the high end reaches further on a server part
  assert.equal(server.decodeRange!.low, desktop.decodeRange!.low)
  assert.equal(server.decodeRange!.mid, desktop.decodeRange!.mid)
  assert.ok(
    server.decodeRange!.high > desktop.decodeRange!.high * 1.2,
    `${server.decodeRange!.high} vs ${desktop.decodeRange!.high}`,
  )
  assert.ok(desktop.decodeRange!.high > known.decodeRange!.high, 'a known 2-channel DDR4-3200 stays narrower')
  assert.match(server.assumptions.join('\n'), /up to 460\.8 GB\/s at the range's high end.*moerig probe --measure/)
  assert.match(desktop.assumptions.join('\n'), /up to 102\.4 GB\/s at the range's high end/)
})

test("calibrate: prefill's rest besides the matmuls at the measured kernels, per token and activation element; the planner charges it on deepseek2 models only", () => {
  // the reference kernel (Q4_K, K 2048) at 4 threads: 200 GFLOP/s
  const dk: DecodeKernels = {
    kernels: [],
    ops: [],
    overheads: [],
    prefill: [{type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 4, gflops: 200}],
  }
  // 512 tokens: 1 GFLOP each at 200 GFLOP/s (2.56 s), 200 ns per token and element (2816 of them: 0.288 s), 0.5 s of attention
  const sample = (o: Partial<ModelTerms>, restNs: number): Sample => {
    const t = terms({layers: 12, prefillFlops: 1e9, restUnits: 11 * 256, ...o})
    const s = 512 * (t.prefillFlops / 200e9 + (t.restUnits! * restNs) / 1e9) + (t.prefillAttnS ?? 0)
    return {role: 'compute', terms: t, threads: 4, decodeTps: null, prefillTps: 512 / s}
  }
  const a = sample({prefillAttnS: 0.5}, 200)
  const b = sample({name: 'small', prefillFlops: 2e7, restUnits: 3 * 16, layers: 4}, 200 * 1.21)
  const r = prefillOther([a, b], dk, 0, 0)!
  assert.equal(r.ref, 200e9)
  assert.deepEqual(
    r.each.map((e) => [e.name, Math.round(e.ns * 1000) / 1000]),
    [
      ['m', 200],
      ['small', 242],
    ],
  )
  assert.ok(Math.abs(r.ns - 220) < 1e-6, 'the geometric mean')
  // no measured prefill kernels, or a sample faster than its matmuls alone: nothing
  assert.equal(prefillOther([a], undefined, 0, 0), null)
  assert.equal(prefillOther([{...a, prefillTps: a.prefillTps! * 2}], dk, 0, 0), null)
  const fitted = fitCalibration(
    [a],
    {measuredAt: '2026-12-02T00:00:00.000Z', llamaCppRelease: null, cpuVariant: null, models: []},
    dk,
  ).cpuThroughput!.find((x) => x.threads === 4)!
  assert.ok(Math.abs(fitted.prefillRestNs! - 200) < 0.01, `${fitted.prefillRestNs}`)
  assert.equal(fitted.prefillOtherNs, undefined, 'the per-expert proxy is no longer written')

  // the planner: the matmuls at the reference rate and the rest per token × activation element: each
  // CPU block's hidden state and MLA query (n_embd + heads × (kv_lora + rope)), each CPU MoE block's
  // router scores and experts' outputs (n_expert + used × n_embd) but the last block's
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const prof = (ns?: number) => {
    const p = desk({...dk, prefill: [{...dk.prefill![0], threads: 16}]})
    p.calibration!.cpuThroughput = [{threads: 16, prefillGflops: 100, ...(ns !== undefined ? {prefillRestNs: ns} : {})}]
    return p
  }
  assert.deepEqual(schemaErrors(hardwareProfileSchema, prof(200)), [])
  assert.match(schemaErrors(hardwareProfileSchema, prof(-1)).join('\n'), /prefillRestNs/)
  const plan = (ns?: number, model = inv) =>
    makePlan(model, [prof(ns)], {ctx: 512, engine: 'llama.cpp', threads: 16, ubatch: 512}).prediction
  const hp = inv.shape.hp
  const moeLayers = [...inv.expertLayerBytes.keys()]
  assert.ok(moeLayers.includes(hp.nLayer - 1), 'the last block is a MoE block')
  const units =
    hp.nLayer * (hp.nEmbd + hp.nHead * (hp.kvLoraRank! + hp.ropeDim!)) +
    (moeLayers.length - 1) * (hp.nExpert! + hp.nExpertUsed! * hp.nEmbd)
  const d = plan(400).prefillMsPerUbatch! - plan(200).prefillMsPerUbatch!
  assert.ok(Math.abs(d - 512 * units * 200e-6) < 0.02, `${d} vs ${512 * units * 200e-6} (ms rounded to 2 places)`)
  assert.match(
    plan(200).assumptions.join('\n'),
    new RegExp(
      `matmuls at the measured kernels' rate \\(reference 200 GFLOP/s\\) \\+ 200\\.00 ns per prompt token and activation element besides them \\(${units} elements a token`,
    ),
  )
  // a calibration from before (the per-expert prefillOtherNs) is not read as one
  const old = prof()
  old.calibration!.cpuThroughput = [{threads: 16, prefillGflops: 100, prefillOtherNs: 200}]
  assert.deepEqual(schemaErrors(hardwareProfileSchema, old), [])
  assert.equal(
    makePlan(inv, [old], {ctx: 512, engine: 'llama.cpp', threads: 16, ubatch: 512}).prediction.prefillMsPerUbatch,
    plan().prefillMsPerUbatch,
  )
  // without the rest the fitted FLOP rate (100 GFLOP/s here) prices everything, as before
  assert.ok(plan().prefillMsPerUbatch! > plan(0).prefillMsPerUbatch!)
  assert.match(plan().assumptions.join('\n'), /prefill CPU 100 GFLOP\/s at 16 threads \(calibrated\)/)
  // another architecture keeps the fitted rate and says why
  const qwen = inventoryFromCatalog(catalogModel('qwen3-235b-a22b'), {quant: 'Q4_K_M'})
  assert.equal(plan(200, qwen).prefillMsPerUbatch, plan(400, qwen).prefillMsPerUbatch)
  assert.match(
    plan(200, qwen).assumptions.join('\n'),
    /the calibrated rest besides the matmuls is deepseek2's, not qwen3moe's/,
  )
})

type Cal = NonNullable<HardwareProfile['calibration']>
/** `moerig calibrate`'s lines for a calibration with these fields */
const calLines = (fields: Partial<Cal>) =>
  calibrationLines({
    calibration: {provenance: 'measured', measuredAt: '2026-12-04T00:00:00.000Z', ...fields},
    savedTo: null,
    partial: false,
    seconds: 1,
    measurements: [],
  })

test("calibrate prints prefill's rest beside each thread count's prefill rate, and nothing where it was not fitted", () => {
  const lines = (cpuThroughput: Cal['cpuThroughput']) => calLines({cpuThroughput})
  assert.ok(
    lines([{threads: 2, prefillGflops: 261.3, prefillRestNs: 1.87, decodeGflops: 105.18}]).includes(
      '    2 threads: prefill 261.3 GFLOP/s (+ 1.87 ns per prompt token and activation element besides the matmuls), decode 105.18 GFLOP/s (ggml type-cost weighted)',
    ),
  )
  assert.ok(
    lines([{threads: 1, prefillGflops: 142}]).includes(
      '    1 threads: prefill 142 GFLOP/s, decode — GFLOP/s (ggml type-cost weighted)',
    ),
  )
})

test("calibrate prints each GPU's per-layer cost, and says where the bandwidth is the spec's", () => {
  const lines = (gpus: Cal['gpus']) => calLines({gpus})
  assert.ok(
    lines([{index: 0, name: 'NVIDIA H200', layerUs: 131.08, prefillTflops: 62.79, backend: 'CUDA'}]).includes(
      '  GPU 0 NVIDIA H200: 131.08 µs per layer, bandwidth: spec × η, prefill 62.79 TFLOP/s (CUDA)',
    ),
  )
  assert.ok(lines([{index: 1, name: 'iGPU', bandwidthGBs: 60}]).includes('  GPU 1 iGPU: 60 GB/s, prefill — TFLOP/s'))
})
