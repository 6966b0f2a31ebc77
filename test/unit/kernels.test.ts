/**
 * Decode kernels (issue 13): the kernel benchmark's cases, the fit of its timings (known per-row,
 * per-weight and per-op costs come back out of fake timings), the overheads calibrate fits from the
 * shallow/deep pair, and the planner's use of them (src/planner/speed.ts kernelRates,
 * kernelDecodeSeconds). The native benchmark itself: test/native/kernels.test.ts.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import type {KernelCase, KernelResult} from '../../src/engine/addon.js'
import {
  attentionCases,
  capacityCases,
  CAPACITY_SHARES,
  fitCapacity,
  CAPACITY_PICKS,
  capacityCurvesFrom,
  fitStacked,
  KERNEL_MAX_OPS,
  nonIncreasing,
  stackedCases,
  STACKED_SHAPES,
  fitPrefillKernels,
  prefillCases,
  fitKernels,
  bestOfPasses,
  fasterOfRuns,
  fastestOfSamples,
  capacitySamples,
  firstRunCases,
  kernelCases,
  spreadSweeps,
  sweepCases,
  SWEEP_SAMPLES,
  KERNEL_TYPES,
  residencyOf,
  typeCases,
  type DecodeKernels,
} from '../../src/runner/kernels.js'
import {
  BUSY_SCALE,
  budgetHintMinutes,
  busyScales,
  fitCalibration,
  fitKernelOverheads,
  type ModelTerms,
  type Sample,
} from '../../src/runner/calibrate.js'
import {decodeKernelLines} from '../../src/commands/calibrate.js'
import {
  cpuRates,
  curveHit,
  kernelDecodeSeconds,
  kernelRates,
  llcShare,
  MATMUL_K_REF,
  PREFILL_KERNEL_COLS,
  prefillKernelFlops,
  prefillRates,
  tallyWork,
  TYPE_COST,
  type CpuMat,
  type CpuOpPart,
  type Work,
} from '../../src/planner/speed.js'
import {makePlan} from '../../src/planner/plan.js'
import {planSchema} from '../../src/schemas/plan.js'
import type {PlanHost} from '../../src/planner/hardware.js'
import type {HardwareProfile} from '../../src/schemas/hardware.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import type {ModelProfile} from '../../src/schemas/model.js'
import {hardwareProfileSchema} from '../../src/schemas/hardware.js'
import {calibrateResultSchema} from '../../src/schemas/calibrate.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {rig} from '../fixtures/plan/rigs.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const BASE = rig({sockets: 1, gpus: 0})

const BLOCK: Record<string, number> = {Q4_K: 256, Q5_K: 256, Q6_K: 256, Q3_K: 256, Q2_K: 256, IQ4_XS: 256}

test('cases: every type at two row lengths, cached (repeat > 1) and streamed, rows a multiple of 8, K a multiple of the block', () => {
  const cs = kernelCases(32 * 2 ** 20)
  for (const type of KERNEL_TYPES) {
    const mine = cs.filter((c) => c.type === type)
    assert.ok(mine.length >= 4, type)
    assert.deepEqual(new Set(mine.map(residencyOf)), new Set(['cache', 'dram']))
    assert.ok(new Set(mine.map((c) => c.k)).size >= 2, `${type}: two row lengths`)
    for (const c of mine) {
      assert.equal(c.rows % 8, 0, `${type} rows ${c.rows}`)
      assert.equal(c.k % (BLOCK[type] ?? 32), 0, `${type} K ${c.k}`)
      assert.ok(c.ops * c.repeat <= 4096)
    }
  }
  // streamed cases total ≥ 4 × the cache (64 MB floor), cached ones fit in it
  const bpw = 144 / 256
  const q4 = cs.filter((c) => c.type === 'Q4_K' && c.k === 2048)
  const stream = q4.find((c) => c.repeat === 1)!,
    cache = q4.find((c) => c.repeat > 1)!
  assert.ok(stream.ops * stream.rows * stream.k * bpw >= 4 * 32 * 2 ** 20 * 0.95)
  assert.ok(cache.ops * cache.rows * cache.k * bpw <= 32 * 2 ** 20 * 0.25)
  // no probed cache: a 32 MiB default, never a zero-sized case
  assert.ok(kernelCases(null).every((c) => c.rows >= 8 && c.ops >= 1))
})

/** fake timings from a known law: t_op = rows × (a + b·K) + c, per residency and thread count */
const LAW = {
  cache: {1: {a: 2e-9, b: 30e-12, c: 3e-6}, 2: {a: 1.5e-9, b: 16e-12, c: 4e-6}},
  dram: {1: {a: 3e-9, b: 50e-12, c: 6e-6}, 2: {a: 2e-9, b: 30e-12, c: 9e-6}},
} as const
const TYPE_SCALE: Record<string, number> = {Q4_K: 1, Q6_K: 1.4, Q8_0: 1.8, F32: 4}
function fakeResults(types = Object.keys(TYPE_SCALE)): KernelResult[] {
  // the decode (matrix × vector) cases: the prefill, stacked and attention ones have tests of their own
  const decode = kernelCases(32 * 2 ** 20, types).filter((c) => (c.cols ?? 1) === 1 && !c.heads && !c.kvHeads)
  return decode.map((c) => {
    const res = residencyOf(c)
    const f = TYPE_SCALE[c.type] ?? 1
    return {
      ...c,
      type: c.type.toLowerCase().replace(/_k$/, '_K'),
      k: c.k,
      rows: c.rows,
      ops: c.ops,
      repeat: c.repeat,
      weightBytes: c.rows * c.k * c.ops,
      buffer: c.type === 'Q4_K' ? 'CPU_REPACK' : 'CPU',
      timings: ([1, 2] as const).map((threads) => {
        const l = LAW[res][threads]
        const s = c.ops * c.repeat * (c.rows * f * (l.a + l.b * c.k) + l.c)
        return {threads, iters: 5, bestS: s, medianS: s * 1.05}
      }),
    }
  })
}

test('fit: known per-row, per-weight and per-op costs come back out of fake timings, per type, residency and thread count', () => {
  const dk = fitKernels(fakeResults())
  for (const res of ['cache', 'dram'] as const)
    for (const threads of [1, 2] as const) {
      const l = LAW[res][threads]
      const op = dk.ops!.find((o) => o.residency === res && o.threads === threads)!
      assert.ok(Math.abs(op.us - l.c * 1e6) < 1e-3, `${res} t${threads} op ${op.us}`)
      for (const [type, f] of Object.entries(TYPE_SCALE)) {
        const k = dk.kernels.find((x) => x.type === type && x.residency === res && x.threads === threads)!
        assert.ok(k, `${type} ${res} t${threads}`)
        assert.ok(Math.abs(k.nsPerRow - l.a * f * 1e9) < 1e-3, `${type} a ${k.nsPerRow}`)
        assert.ok(Math.abs(k.nsPerWeight - l.b * f * 1e9) < 1e-5, `${type} b ${k.nsPerWeight}`)
      }
    }
  assert.equal(dk.kernels.find((x) => x.type === 'Q4_K')!.buffer, 'CPU_REPACK')
  assert.equal(dk.kernels.find((x) => x.type === 'Q6_K')!.buffer, 'CPU')
})

test('fit: a case missing at a thread count (stopped) is left out, never fitted from one point', () => {
  const rs = fakeResults(['Q4_K', 'Q6_K'])
  const q6long = rs.find((r) => r.type === 'q6_K' && r.k === 2048 && r.repeat > 1)!
  q6long.timings = q6long.timings.filter((t) => t.threads === 1)
  const dk = fitKernels(rs)
  assert.ok(dk.kernels.some((x) => x.type === 'Q6_K' && x.residency === 'cache' && x.threads === 1))
  assert.ok(!dk.kernels.some((x) => x.type === 'Q6_K' && x.residency === 'cache' && x.threads === 2))
})

const terms = (name: string, layers: number, kernelS: number): ModelTerms => ({
  name,
  layers,
  costFlops: 1,
  bytes: 1,
  attnS: 10e-6,
  cacheS: 0,
  prefillFlops: 1,
  nPrompt: 0,
  kernelS,
})
const pair = (threads: number, layerS: number, tokenS: number): Sample[] =>
  (
    [
      ['shallow', 4, 0.6e-3],
      ['deep', 16, 2.2e-3],
    ] as const
  ).map(([role, layers, kernelS]) => ({
    role,
    threads,
    terms: terms(role, layers, kernelS),
    decodeTps: 1 / (kernelS + 10e-6 + layers * layerS + tokenS),
    prefillTps: null,
  }))

/** the four calibration models' samples at 1 and 2 threads, each decode step s × kernels + attention + λ per layer + τ */
const fourModels = (truth: Record<1 | 2, {s: number; l: number; t: number}>): Sample[] =>
  ([1, 2] as const).flatMap((threads) =>
    (
      [
        ['shallow', 4, 0.6e-3],
        ['deep', 16, 2.2e-3],
        ['compute', 12, 14e-3],
        ['dram', 24, 70e-3],
      ] as const
    ).map(([role, layers, kernelS]) => ({
      role,
      threads,
      terms: terms(role, layers, kernelS),
      decodeTps: 1 / (truth[threads].s * kernelS + 10e-6 + layers * truth[threads].l + truth[threads].t),
      prefillTps: null,
    })),
  )

test('in-model scale and overheads: known s, λ, τ come back out of the four calibration models at each thread count', () => {
  const truth = {1: {s: 1.25, l: 60e-6, t: 150e-6}, 2: {s: 1.1, l: 100e-6, t: 0}} as const
  const samples = fourModels(truth)
  const o = fitKernelOverheads(samples)
  assert.equal(o.length, 2)
  for (const x of o) {
    const tr = truth[x.threads as 1 | 2]
    assert.ok(Math.abs(x.scale! - tr.s) < 1e-3, `t${x.threads} scale ${x.scale}`)
    assert.ok(Math.abs(x.layerUs - tr.l * 1e6) < 0.05, `t${x.threads} λ ${x.layerUs}`)
    assert.ok(Math.abs(x.tokenUs - tr.t * 1e6) < 0.05, `t${x.threads} τ ${x.tokenUs}`)
  }
  // a term that would be negative is 0 and the rest refits: never a negative scale or overhead
  const noisy = samples
    .filter((x) => x.threads === 1)
    .map((x) => (x.role === 'shallow' ? {...x, decodeTps: 1 / 0.5e-3} : x))
  const n = fitKernelOverheads(noisy)[0]
  assert.ok(n.scale! > 0 && n.layerUs >= 0 && n.tokenUs >= 0, JSON.stringify(n))
})

test("in-model scales: with the kernels' cached part known, the cached reads get the shallow model's own scale", () => {
  // truth: streamed kernels × 1.4, cached ones × 1.05, λ 20 µs, τ 0; the pair all cached, r1-mini a
  // fifth cached, r1-dram none
  const models = [
    ['shallow', 4, 0.6e-3, 0.6e-3],
    ['deep', 16, 2.2e-3, 2.2e-3],
    ['compute', 12, 14e-3, 2.8e-3],
    ['dram', 24, 70e-3, 0],
  ] as const
  const s = 1.4,
    sc = 1.05,
    l = 20e-6
  const samples: Sample[] = models.map(([role, layers, kernelS, kernelCacheS]) => ({
    role,
    threads: 1,
    terms: {...terms(role, layers, kernelS), kernelCacheS},
    decodeTps: 1 / (s * (kernelS - kernelCacheS) + sc * kernelCacheS + 10e-6 + layers * l),
    prefillTps: null,
  }))
  const [o] = fitKernelOverheads(samples)
  assert.ok(o.scaleCache !== undefined && o.scale !== undefined, JSON.stringify(o))
  // the shallow model is reproduced exactly by s_c with the fitted overheads
  const sh = samples[0]
  const y = 1 / sh.decodeTps! - 10e-6
  const back = o.scaleCache! * 0.6e-3 + o.layerUs * 1e-6 * 4 + o.tokenUs * 1e-6
  assert.ok(Math.abs(back - y) < 1e-4 * y, `${back} vs ${y}`) // the saved values are rounded
  // and sits below the streamed scale, as the truth does
  assert.ok(o.scaleCache! < o.scale!, JSON.stringify(o))
  // the planner scales each residency by its own
  const dk: DecodeKernels = {
    kernels: [
      {type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 1, nsPerWeight: 0},
      {type: 'Q4_K', residency: 'dram', threads: 1, nsPerRow: 2, nsPerWeight: 0},
    ],
    ops: [],
    overheads: [{threads: 1, scale: 1.5, scaleCache: 1.1, layerUs: 0, tokenUs: 0}],
  }
  const kr = kernelRates(dk, 1)!
  assert.ok(Math.abs(kr.op('Q4_K', 256, 1000, 'cache') - 1000e-9 * 1.1) < 1e-15)
  assert.ok(Math.abs(kr.op('Q4_K', 256, 1000, 'dram') - 2000e-9 * 1.5) < 1e-15)
  // older calibrations (no scaleCache): one scale for both
  const one = kernelRates({...dk, overheads: [{threads: 1, scale: 1.5, layerUs: 0, tokenUs: 0}]}, 1)!
  assert.equal(one.scaleCache, 1.5)
})

test('overheads: per layer and per token besides the kernels come back out of the shallow/deep pair at each thread count', () => {
  const o = fitKernelOverheads([...pair(1, 40e-6, 200e-6), ...pair(2, 90e-6, 100e-6)])
  assert.deepEqual(o, [
    {threads: 1, layerUs: 40, tokenUs: 200},
    {threads: 2, layerUs: 90, tokenUs: 100},
  ])
  // the deep model's layers cheaper than measured for the shallow one (noise, cache): λ 0, τ the
  // two models' mean rest (460 and 340 µs), no scale fitted from the pair alone
  const [flat] = fitKernelOverheads(pair(1, -10e-6, 500e-6))
  assert.deepEqual(flat, {threads: 1, layerUs: 0, tokenUs: 400})
  // a negative per-token part: τ 0 and λ ≥ 0 by least squares
  const neg = fitKernelOverheads(pair(1, 100e-6, -300e-6))
  assert.equal(neg[0].tokenUs, 0)
  assert.ok(neg[0].layerUs >= 0)
  // no deep model at a thread count: none for it
  assert.deepEqual(fitKernelOverheads(pair(1, 40e-6, 200e-6).filter((s) => s.role === 'shallow')), [])
})

test('planner: kernel decode is Σ ops × (hit × cached + (1 − hit) × DRAM op time), a routed tensor one op over its used experts; thread counts interpolate; unmeasured types scale Q4_K by type cost', () => {
  const dk: DecodeKernels = {
    kernels: [
      {type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 2, nsPerWeight: 0.03},
      {type: 'Q4_K', residency: 'dram', threads: 1, nsPerRow: 3, nsPerWeight: 0.05},
      {type: 'Q4_K', residency: 'cache', threads: 3, nsPerRow: 1, nsPerWeight: 0.01},
      {type: 'Q4_K', residency: 'dram', threads: 3, nsPerRow: 1, nsPerWeight: 0.03},
    ],
    ops: [
      {residency: 'cache', threads: 1, us: 2},
      {residency: 'dram', threads: 1, us: 4},
    ],
    overheads: [
      {threads: 1, layerUs: 50, tokenUs: 300},
      {threads: 3, layerUs: 90, tokenUs: 100},
    ],
  }
  const work = {cpuMats: [{type: 'Q4_K', k: 2048, rows: 1000, ops: 8}]} as Work
  const k1 = kernelRates(dk, 1)!
  const opC = 1000 * (2 + 0.03 * 2048) * 1e-9 + 2e-6,
    opD = 1000 * (3 + 0.05 * 2048) * 1e-9 + 4e-6
  assert.ok(Math.abs(kernelDecodeSeconds(work, k1, 0.25) - 8 * (0.25 * opC + 0.75 * opD)) < 1e-12)
  // 8 used experts of 1000 rows are one MUL_MAT_ID: 8 × their rows, one per-op cost
  const experts = {cpuMats: [{type: 'Q4_K', k: 2048, rows: 1000, ops: 8, layout: 'experts'}]} as Work
  const rowsC = opC - 2e-6,
    rowsD = opD - 4e-6
  const one = 0.25 * (8 * rowsC + 2e-6) + 0.75 * (8 * rowsD + 4e-6)
  assert.ok(Math.abs(kernelDecodeSeconds(experts, k1, 0.25) - one) < 1e-12)
  assert.ok(
    Math.abs(k1.op('Q4_K', 2048, 1000, 'dram', {layout: 'experts', amx: false}, 8) - (8 * rowsD + 4e-6)) < 1e-12,
  )
  assert.ok(Math.abs(k1.layerS - 50e-6) < 1e-12 && Math.abs(k1.tokenS - 300e-6) < 1e-12)
  // 2 threads: halfway between the 1- and 3-thread points
  const k2 = kernelRates(dk, 2)!
  assert.ok(Math.abs(k2.op('Q4_K', 2048, 1000, 'cache') - (1000 * (1.5 + 0.02 * 2048) * 1e-9 + 2e-6)) < 1e-12)
  assert.ok(Math.abs(k2.layerS - 70e-6) < 1e-12)
  // beyond the last point: the last point (no further scaling assumed)
  assert.ok(Math.abs(kernelRates(dk, 8)!.layerS - 90e-6) < 1e-12)
  // a type not measured: Q4_K's costs × its type cost, and named
  const q6 = k1.op('Q6_K', 2048, 1000, 'cache') - 2e-6
  assert.ok(Math.abs(q6 - (1000 * (2 + 0.03 * 2048) * 1e-9 * TYPE_COST.Q6_K) / TYPE_COST.Q4_K) < 1e-12)
  assert.deepEqual([...k1.unmeasured], ['Q6_K'])
  // without overheads (calibrate stopped before the pair) the kernels are not used
  assert.equal(kernelRates({...dk, overheads: []}, 1), null)
})

test('schema: a calibration with decode kernels validates; a negative time or an unknown residency does not', () => {
  const dk = {...fitKernels(fakeResults(['Q4_K', 'F32'])), overheads: [{threads: 1, layerUs: 10, tokenUs: 0}]}
  const profile = (decodeKernels: unknown) => ({
    ...JSON.parse(JSON.stringify(BASE)),
    calibration: {provenance: 'measured', measuredAt: '2026-12-02T00:00:00.000Z', decodeKernels},
  })
  assert.deepEqual(schemaErrors(hardwareProfileSchema, profile(dk)), [])
  const bad = JSON.parse(JSON.stringify(dk))
  bad.kernels[0].nsPerRow = -1
  assert.notDeepEqual(schemaErrors(hardwareProfileSchema, profile(bad)), [])
  const bad2 = JSON.parse(JSON.stringify(dk))
  bad2.kernels[0].residency = 'l2'
  assert.notDeepEqual(schemaErrors(hardwareProfileSchema, profile(bad2)), [])
  // stacked factors per type (or one untyped for every type); an empty type is refused
  const st = (x: object) => profile({...dk, stacked: [{residency: 'dram', threads: 1, factor: 1.6, ...x}]})
  assert.deepEqual(schemaErrors(hardwareProfileSchema, st({type: 'Q5_0'})), [])
  assert.deepEqual(schemaErrors(hardwareProfileSchema, st({})), [])
  assert.notDeepEqual(schemaErrors(hardwareProfileSchema, st({type: ''})), [])
  // prefill kernels: GFLOP/s per type, buffer, K and threads; never 0, no unknown field
  const pre = {...dk, prefill: [{type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 1, gflops: 140}]}
  assert.deepEqual(schemaErrors(hardwareProfileSchema, profile(pre)), [])
  for (const p of [{gflops: 0}, {k: undefined}, {threads: 0}, {rows: 8}]) {
    const b = {...pre, prefill: [{...pre.prefill[0], ...p}]}
    assert.notDeepEqual(
      schemaErrors(hardwareProfileSchema, profile(JSON.parse(JSON.stringify(b)))),
      [],
      JSON.stringify(p),
    )
  }
})

test('capacity: the hit share of each sweep total between the cached and streamed rates, made non-increasing; the half-hit total per thread count and row length; none without contrast', () => {
  const l3 = 32 * 2 ** 20
  const sweep = capacityCases(l3)
  const inSweep = (r: KernelResult) =>
    sweep.some((c) => c.k === r.k && c.rows === r.rows && c.ops === r.ops && r.type === 'q8_0')
  const base = fakeResults(['Q4_K', 'Q8_0']).filter((r) => !inSweep(r))
  // per byte: cached 1, streamed 2 at 2 threads (contrast); 1 and 1.1 at 1 thread (none)
  const perByte = {1: {c: 1e-10, d: 1.1e-10}, 2: {c: 1e-10, d: 2e-10}} as const
  const setPerByte = (r: KernelResult, f: (T: 1 | 2) => number) => ({
    ...r,
    timings: r.timings.map((t) => ({...t, bestS: f(t.threads as 1 | 2) * r.weightBytes * r.repeat})),
  })
  const rs = base.map((r) =>
    (r.k === 2048 || r.k === 128) && r.type === 'q8_0'
      ? setPerByte(r, (T) => (r.repeat > 1 ? perByte[T].c : perByte[T].d))
      : r,
  )
  const caps = sweep.map((c) => ({
    ...c,
    type: 'q8_0',
    weightBytes: c.rows * c.k * (34 / 32) * c.ops,
    buffer: 'CPU',
    timings: [1, 2].map((threads) => ({threads, iters: 3, bestS: 1, medianS: 1})),
  }))
  // 2 threads: the long-row sweep hits 0.9 below 0.4 of the L3 and 0.1 from there on, the short-row
  // one from 0.2 on (short rows lose the cache sooner), except one slow sample (hit 0.3) at 0.125 of
  // the L3, which the non-increasing fit pools with its larger neighbour; 1 thread: all alike
  const hitAt = (r: (typeof caps)[number]) =>
    r.k === 128 && r.weightBytes < 0.2 * l3
      ? 0.9
      : r.k === 2048 && r.weightBytes < 0.4 * l3
        ? r.weightBytes < 0.15 * l3
          ? 0.3
          : 0.9
        : 0.1
  const sized = caps.map((r) => setPerByte(r, (T) => (T === 1 ? 1.05e-10 : 2e-10 - hitAt(r) * 1e-10)))
  const llc = fitCapacity([...rs, ...sized])
  assert.deepEqual(
    llc.map((x) => [x.threads, x.k]),
    [
      [2, 128],
      [2, 2048],
    ],
  )
  const near = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`)
  const long = llc.find((x) => x.k === 2048)!,
    short = llc.find((x) => x.k === 128)!
  assert.equal(long.hits!.length, sweep.filter((c) => c.k === 2048).length)
  // each curve divided by its smallest total's share (cache-resident by construction): 0.9 → 1, 0.1 → 0.111
  assert.deepEqual(
    short.hits!.map((h) => h.hit),
    sized.filter((r) => r.k === 128).map((r) => Math.round((hitAt(r) / 0.9) * 1000) / 1000),
  )
  // the slow first long-row sample and the next one pooled: (0.3 + 0.9) ÷ 2 = 0.6 each, then ÷ 0.6
  assert.deepEqual(
    long.hits!.map((h) => h.hit),
    [1, 1, 0.167, 0.167, 0.167, 0.167, 0.167, 0.167, 0.167, 0.167],
  )
  // bytes: where the curve crosses one half, in log bytes between the two totals around it
  const [l0, l1, l2] = long.hits!.map((h) => h.bytes)
  near(long.bytes, Math.round(l1 * (l2 / l1) ** ((1 - 0.5) / (1 - 0.167))), 'long half-hit')
  assert.ok(l0 < long.bytes && l1 < long.bytes && long.bytes < l2)
  const [s0, s1] = short.hits!.map((h) => h.bytes)
  near(short.bytes, Math.round(s0 * (s1 / s0) ** ((1 - 0.5) / (1 - 0.111))), 'short half-hit')
  // the sweep is Q8_0 (the most bytes per unit of work) and is not fitted as a Q8_0 kernel
  assert.ok(sweep.every((c) => c.type === 'Q8_0' && c.repeat === 1))
  const dk = fitKernels([...rs, ...sized])
  assert.deepEqual(dk.llc, llc)
  assert.equal(dk.kernels.filter((k) => k.type === 'Q8_0' && k.residency === 'dram' && k.threads === 2).length, 1)
  // more sweep samples (their own references): at each total the largest share of any sample. This
  // one holds the short rows at 0.5 past 0.2 of the L3 (0.556 after its own ÷ 0.9) and has the long
  // rows' first total fast (its curve 1, 1, 0.111 …: below the main one's 0.167 there)
  const refs = rs.filter((r) => r.type === 'q8_0' && (r.k === 128 || r.k === 2048))
  const hitAt2 = (r: (typeof caps)[number]) =>
    r.k === 128 && r.weightBytes >= 0.2 * l3 ? 0.5 : r.k === 2048 && r.weightBytes < 0.15 * l3 ? 0.9 : hitAt(r)
  const sample = [...refs, ...caps.map((r) => setPerByte(r, (T) => (T === 1 ? 1.05e-10 : 2e-10 - hitAt2(r) * 1e-10)))]
  // (the largest of two: CAPACITY_PICKS.max; calibrate's own pick, the upper quartile, is checked below)
  const merged = capacityCurvesFrom(capacitySamples([...rs, ...sized], [sample]), CAPACITY_PICKS.max)
  const mShort = merged.find((x) => x.k === 128)!,
    mLong = merged.find((x) => x.k === 2048)!
  assert.deepEqual(
    mShort.hits!.map((h) => h.hit),
    sized.filter((r) => r.k === 128).map((r) => (hitAt(r) === 0.9 ? 1 : 0.556)),
  )
  // and the smallest where the samples differ (the low end of a decode range): the main sweep's 0.111
  assert.deepEqual(
    mShort.hits!.map((h) => h.low),
    sized.filter((r) => r.k === 128).map((r) => (hitAt(r) === 0.9 ? undefined : 0.111)),
  )
  assert.deepEqual(
    mLong.hits!.map((h) => h.hit),
    long.hits!.map((h) => h.hit),
  )
  assert.deepEqual(
    mLong.hits!.map((h) => h.low),
    long.hits!.map((h) => (h.hit === 1 ? undefined : 0.111)),
  )
  assert.ok(
    long.hits!.every((h) => h.low === undefined),
    'one sweep: no low',
  )
  assert.ok(mShort.bytes > short.bytes, 'the half-hit total moves out with the higher curve')
  // calibrate's pick: the upper quartile of the samples' shares (of two, the lower + ¾ of the gap),
  // the smallest as the low end
  const byQ75 = fitCapacity([...rs, ...sized], [sample])
  assert.deepEqual(fitKernels([...rs, ...sized], [sample]).llc, byQ75)
  const mid = byQ75.find((x) => x.k === 128)!.hits!
  mShort.hits!.forEach((h, i) => {
    const lo = h.low ?? h.hit
    assert.ok(Math.abs(mid[i].hit - (lo + 0.75 * (h.hit - lo))) < 1e-9, `total ${i}`)
    assert.equal(mid[i].low, h.low)
    // the largest share, the high end of a range, where it is above the median
    assert.equal(mid[i].high, h.low === undefined ? undefined : h.hit)
  })
  assert.equal(CAPACITY_PICKS.median([0.2, 0.9, 0.5]), 0.5)
  // the upper quartile, interpolated between order statistics (numpy's default)
  assert.equal(CAPACITY_PICKS.q75([0.2, 0.9, 0.5]), 0.7)
  assert.equal(CAPACITY_PICKS.q75([0.6, 0.2]), 0.5)
  assert.equal(CAPACITY_PICKS.q75([0.4]), 0.4)
  assert.ok(Math.abs(CAPACITY_PICKS.q75([0.1, 0.2, 0.3, 0.4, 0.5]) - 0.4) < 1e-12)
  // a sample without its references (stopped early) adds nothing
  assert.deepEqual(fitCapacity([...rs, ...sized], [sample.filter((r) => !refs.includes(r))]), llc)
  // every sample's curve, as fitCapacity saw them: its largest and smallest per total
  const all = capacitySamples([...rs, ...sized], [sample])
  assert.deepEqual(
    all.map((c) => [c.threads, c.k, c.shares.length]),
    [
      [2, 128, 2],
      [2, 2048, 2],
    ],
  )
  for (const c of all) {
    const m = merged.find((x) => x.k === c.k && x.threads === c.threads)!
    assert.deepEqual(
      c.bytes,
      m.hits!.map((h) => h.bytes),
    )
    assert.deepEqual(
      c.bytes.map((_, i) => Math.max(...c.shares.map((x) => x[i]))),
      m.hits!.map((h) => h.hit),
    )
    assert.deepEqual(
      c.bytes.map((_, i) => Math.min(...c.shares.map((x) => x[i]))),
      m.hits!.map((h) => h.low ?? h.hit),
    )
  }
  assert.deepEqual(
    capacitySamples([...rs, ...sized]).map((c) => c.shares.length),
    [1, 1],
  )
  assert.deepEqual(schemaErrors(calibrateResultSchema.properties.capacitySamples, all), [])
  assert.notDeepEqual(
    schemaErrors(calibrateResultSchema.properties.capacitySamples, [{...all[0], shares: [[1.5]]}]),
    [],
  )
  // the samples' references are Q8_0's own type cases: its lines take their fastest timing (a sample
  // whose cached cases ran at 0.8 of the main run's time), the curves still each sample's own
  const fastRefs = refs.map((r) => (r.repeat > 1 ? setPerByte(r, (T) => 0.8 * perByte[T].c) : r))
  const withFast = fitKernels([...rs, ...sized], [[...fastRefs, ...sample.slice(refs.length)]])
  const mainFast = fitKernels([
    ...rs.map((r) => fastRefs.find((f) => f.k === r.k && f.rows === r.rows && f.type === r.type) ?? r),
    ...sized,
  ])
  assert.deepEqual(withFast.kernels, mainFast.kernels)
  assert.notDeepEqual(withFast.kernels, dk.kernels)
  assert.deepEqual(withFast.llc, fitCapacity([...rs, ...sized], [[...fastRefs, ...sample.slice(refs.length)]]))
  assert.deepEqual(fastestOfSamples(rs, [[...fastRefs].reverse()]), fastestOfSamples(rs, [fastRefs]))
  assert.deepEqual(fastestOfSamples(rs, []), rs)
  // the schema takes the curve and refuses a share outside 0..1
  const profile = (x: unknown) => ({
    ...JSON.parse(JSON.stringify(BASE)),
    calibration: {provenance: 'measured', measuredAt: '2026-12-03T00:00:00.000Z', decodeKernels: x},
  })
  const withOverheads = {...dk, overheads: [{threads: 2, layerUs: 10, tokenUs: 0}]}
  assert.deepEqual(schemaErrors(hardwareProfileSchema, profile(withOverheads)), [])
  const bad = JSON.parse(JSON.stringify(withOverheads))
  bad.llc[0].hits[0].hit = 1.2
  assert.notDeepEqual(schemaErrors(hardwareProfileSchema, profile(bad)), [])
  // and a low share outside 0..1 (a hand-edited profile)
  const badLow = JSON.parse(JSON.stringify(withOverheads))
  badLow.llc[0].hits[0].low = -0.1
  assert.notDeepEqual(schemaErrors(hardwareProfileSchema, profile(badLow)), [])
  badLow.llc[0].hits[0].low = 0.5
  assert.deepEqual(schemaErrors(hardwareProfileSchema, profile(badLow)), [])
})

test('two kernel passes apart: each case and thread count keeps the faster timing; a case the second pass lacks or describes otherwise keeps the first', () => {
  const r = (type: string, k: number, t1: number, t2: number): KernelResult => ({
    type,
    k,
    rows: 512,
    ops: 4,
    repeat: 1,
    weightBytes: 1e6,
    buffer: 'CPU',
    timings: [
      {threads: 1, iters: 3, bestS: t1, medianS: t1 * 1.1},
      {threads: 2, iters: 3, bestS: t2, medianS: t2 * 1.1},
    ],
  })
  const first = [r('q4_K', 256, 1, 2), r('q8_0', 128, 3, 4), r('f16', 256, 5, 6)]
  const second = [r('q4_K', 256, 0.5, 3), {...r('q8_0', 128, 1, 1), rows: 256}]
  const m = fasterOfRuns(first, second)
  assert.deepEqual(
    m.map((x) => x.timings.map((t) => t.bestS)),
    [
      [0.5, 2],
      [3, 4],
      [5, 6],
    ],
  )
  assert.equal(m[0].timings[0].medianS, 0.55, 'the faster pass keeps its own median')
  assert.deepEqual(fasterOfRuns(first, []), first)
  // passes back to back in one run: the same merge over each pass, a last pass cut short included
  const back = bestOfPasses(
    [...first, r('q4_K', 256, 0.5, 3), r('q8_0', 128, 1, 1), r('f16', 256, 5, 6), r('q4_K', 256, 2, 1)],
    3,
  )
  assert.deepEqual(
    back.map((x) => x.timings.map((t) => t.bestS)),
    [
      [0.5, 1],
      [1, 1],
      [5, 6],
    ],
  )
  assert.deepEqual(bestOfPasses([], 3), [])
})

test('sweep samples: the first run carries SWEEP_SAMPLES more capacity sweeps with their references, one mid-run and one at the end; the main cases keep their order', () => {
  const l3 = 32 * 2 ** 20
  const main = kernelCases(l3)
  const sweep = sweepCases(l3)
  const sp = spreadSweeps(l3)
  assert.equal(SWEEP_SAMPLES, 2)
  assert.equal(sp.cases.length, main.length + SWEEP_SAMPLES * sweep.length)
  assert.deepEqual(
    sp.main.map((i) => sp.cases[i]),
    main,
  )
  assert.equal(sp.sweeps.length, SWEEP_SAMPLES)
  for (const s of sp.sweeps)
    assert.deepEqual(
      s.map((i) => sp.cases[i]),
      sweep,
    )
  // the references: CAPACITY_TYPE cached (repeat > 1) and streamed at both sweep row lengths
  assert.deepEqual(
    sweep
      .filter(
        (c) =>
          !capacityCases(l3).some((x) => x.k === c.k && x.ops === c.ops && x.rows === c.rows && x.repeat === c.repeat),
      )
      .map((c) => [c.type, c.k, c.repeat > 1]),
    [
      ['Q8_0', 128, true],
      ['Q8_0', 128, false],
      ['Q8_0', 2048, true],
      ['Q8_0', 2048, false],
    ],
  )
  // the first after half of the main cases
  assert.equal(sp.main.filter((i) => i < sp.sweeps[0][0]).length, Math.ceil(main.length / 2))
  assert.equal(sp.sweeps[1][sweep.length - 1], sp.cases.length - 1)
  assert.equal(firstRunCases(l3, 2), 2 * sp.cases.length)
})

test('nonIncreasing: pools adjacent violators to their mean; a non-increasing sequence stays as it is', () => {
  const r = (xs: number[]) => xs.map((x) => Math.round(x * 1e9) / 1e9)
  assert.deepEqual(r(nonIncreasing([1, 0.8, 0.9, 0.2])), [1, 0.85, 0.85, 0.2])
  assert.deepEqual(r(nonIncreasing([0.2, 0.4, 0.9])), [0.5, 0.5, 0.5])
  assert.deepEqual(nonIncreasing([1, 0.5, 0.5, 0]), [1, 0.5, 0.5, 0])
  assert.deepEqual(nonIncreasing([]), [])
})

test('buffers: a repacked type is also fitted in the plain CPU buffer; the planner times each weight in the buffer llama.cpp gives it', () => {
  // Q4_K repacked (law × 1) and again in the plain buffer (law × 1.5), as measureKernels' second run gives it
  const extra = fakeResults(['Q4_K', 'Q6_K'])
  const plain = typeCases(32 * 2 ** 20, ['Q4_K']).map((c) => {
    const l = LAW[residencyOf(c)]
    return {
      ...c,
      type: 'q4_K',
      weightBytes: c.rows * c.k * c.ops,
      buffer: 'CPU',
      timings: ([1, 2] as const).map((threads) => {
        const s = c.ops * c.repeat * (c.rows * 1.5 * (l[threads].a + l[threads].b * c.k) + l[threads].c)
        return {threads, iters: 5, bestS: s, medianS: s}
      }),
    }
  })
  const fit = fitKernels([...extra, ...plain])
  const q4 = fit.kernels.filter((x) => x.type === 'Q4_K' && x.residency === 'cache' && x.threads === 1)
  assert.deepEqual(q4.map((x) => x.buffer).sort(), ['CPU', 'CPU_REPACK'])
  const a = LAW.cache[1].a * 1e9
  assert.ok(Math.abs(q4.find((x) => x.buffer === 'CPU')!.nsPerRow - 1.5 * a) < 1e-3)
  assert.ok(Math.abs(q4.find((x) => x.buffer === 'CPU_REPACK')!.nsPerRow - a) < 1e-3)
  // the per-op cost still comes from the repacked small ops
  assert.ok(
    Math.abs(fit.ops!.find((o) => o.residency === 'cache' && o.threads === 1)!.us - LAW.cache[1].c * 1e6) < 1e-3,
  )

  const dk = {...fit, overheads: [{threads: 1, layerUs: 0, tokenUs: 0}]}
  const kr = kernelRates(dk, 1)!
  const c = LAW.cache[1].c
  const row = (f: number) => 1000 * f * (LAW.cache[1].a + LAW.cache[1].b * 2048) + c
  const near = (x: number, y: number) => Math.abs(x - y) < 1e-12
  assert.ok(near(kr.op('Q4_K', 2048, 1000, 'cache', {layout: 'matrix', amx: false}), row(1)))
  assert.ok(near(kr.op('Q4_K', 2048, 1000, 'cache', {layout: 'experts', amx: false}), row(1)))
  // MLA's 3-D per-head matrices stay out of CPU_REPACK
  assert.ok(near(kr.op('Q4_K', 2048, 1000, 'cache', {layout: 'stacked', amx: false}), row(1.5)))
  // rows not a multiple of 8: not repacked
  const odd = 1000 * 1.5 * (LAW.cache[1].a + LAW.cache[1].b * 2048) * (1004 / 1000) + c
  assert.ok(near(kr.op('Q4_K', 2048, 1004, 'cache', {layout: 'matrix', amx: false}), odd))
  assert.equal(kr.plainAssumed.size, 0)

  // under AMX: experts (MUL_MAT_ID) are not AMX's; a matrix AMX takes is
  const amx = {...dk, kernels: dk.kernels.map((x) => (x.buffer === 'CPU_REPACK' ? {...x, buffer: 'AMX'} : x))}
  const ka = kernelRates(amx, 1)!
  assert.ok(near(ka.op('Q4_K', 2048, 1000, 'cache', {layout: 'experts', amx: false}), row(1.5)))
  assert.ok(near(ka.op('Q4_K', 2048, 1000, 'cache', {layout: 'matrix', amx: true}), row(1)))

  // an older calibration without the plain run: the extra buffer's timings, and said
  const old = kernelRates({...dk, kernels: dk.kernels.filter((x) => !(x.type === 'Q4_K' && x.buffer === 'CPU'))}, 1)!
  assert.ok(near(old.op('Q4_K', 2048, 1000, 'cache', {layout: 'stacked', amx: false}), row(1)))
  assert.deepEqual([...old.plainAssumed], ['Q4_K'])
})

test("work: R1's CPU matmuls carry the layout that decides their buffer (MLA's per-head k_b/v_b stacked, routed experts, AMX's takers)", () => {
  const profile: ModelProfile = catalogModel('deepseek-r1')
  const inv = inventoryFromCatalog(profile, {quant: 'Q4_K_M'})
  const n = inv.shape.hp.nLayer
  const w = tallyWork(
    inv,
    {layerDevice: Array(n + 1).fill('CPU'), expertDevice: Array(n).fill('CPU'), gpus: []} as never,
    512,
  )
  const of = (layout: string) => new Set(w.cpuMats.filter((m) => m.layout === layout).map((m) => `${m.type} K${m.k}`))
  // attn_k_b (Q5_0, 128 wide, 128 heads × 512 rows) and attn_v_b (512 wide, 128 × 128 rows): 3-D MUL_MAT
  assert.deepEqual(of('stacked'), new Set(['Q5_0 K128', 'Q4_K K512']))
  const experts = w.cpuMats.filter((m) => m.layout === 'experts')
  assert.ok(experts.length > 0 && experts.every((m) => m.ops === 8 && !m.amx))
  // the output (Q6_K, 129280 rows of 7168) is a 2-D matrix AMX would take
  assert.ok(w.cpuMats.some((m) => m.layout === 'matrix' && m.type === 'Q6_K' && m.rows === 129280 && m.amx))
})

/** a 2-core AVX-512 host with a 32 MiB L3, for the capacity tests (cpuRates reads the calibration's sweep) */
const host = {
  cores: 2,
  threads: 2,
  sockets: 1,
  channelsPerSocket: 2,
  cpuBandwidthMeasured: true,
  cpuBandwidthGBs: 25,
  ghzKnown: true,
  ghz: 3,
  cpuVendor: 'amd',
  isa: 'avx512-vnni',
  l3Bytes: 32 * 2 ** 20,
} as unknown as PlanHost

test('capacity per row length: short rows take the short sweep at their thread count, log-interpolated up to K 2048; each op its own cache share', () => {
  const cal = {
    decodeKernels: {
      kernels: [],
      overheads: [],
      llc: [
        {threads: 1, bytes: 30e6, k: 2048},
        {threads: 2, bytes: 32e6, k: 2048},
        {threads: 2, bytes: 8e6, k: 128},
      ],
    },
  } as unknown as HardwareProfile['calibration']
  const r2 = cpuRates(host, cal, 2, 'llama.cpp', 'unaware')
  assert.equal(r2.llcBytes('mid'), 32e6)
  assert.equal(r2.llcBytesRow(128), 8e6)
  assert.equal(r2.llcBytesRow(64), 8e6)
  assert.ok(Math.abs(r2.llcBytesRow(512) - 20e6) < 1) // halfway in log K between 128 and 2048
  assert.equal(r2.llcBytesRow(7168), 32e6)
  // no short-row sweep at 1 thread (no contrast there): every row length takes the long one
  assert.equal(cpuRates(host, cal, 1, 'llama.cpp', 'unaware').llcBytesRow(128), 30e6)
  // a calibration from before the short-row sweep (entries without k): the long row everywhere
  const old = {
    decodeKernels: {kernels: [], overheads: [], llc: [{threads: 2, bytes: 32e6}]},
  } as unknown as HardwareProfile['calibration']
  assert.equal(cpuRates(host, old, 2, 'llama.cpp', 'unaware').llcBytesRow(128), 32e6)
  // each op's share: a short-row op half from DRAM, a long-row one all cached
  const dk: DecodeKernels = {
    kernels: [
      {type: 'Q8_0', residency: 'cache', threads: 2, nsPerRow: 1, nsPerWeight: 0},
      {type: 'Q8_0', residency: 'dram', threads: 2, nsPerRow: 3, nsPerWeight: 0},
    ],
    ops: [],
    overheads: [{threads: 2, layerUs: 0, tokenUs: 0}],
  }
  const work = {
    cpuMats: [
      {type: 'Q8_0', k: 128, rows: 1000, ops: 1},
      {type: 'Q8_0', k: 2048, rows: 1000, ops: 1},
    ],
  } as Work
  const s = kernelDecodeSeconds(work, kernelRates(dk, 2)!, (k) => (k < 2048 ? 0.5 : 1))
  assert.ok(Math.abs(s - (1000 * (0.5 * 1 + 0.5 * 3) + 1000 * 1) * 1e-9) < 1e-15)
})

test('decode parts: each op kind once (the same shape in every layer merged, cache share count-weighted), their seconds summing to the total; a plan with measured kernels lists them in its JSON, slowest first, schema-valid', () => {
  const dk: DecodeKernels = {
    kernels: [
      {type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 2, nsPerWeight: 0.03},
      {type: 'Q4_K', residency: 'dram', threads: 1, nsPerRow: 3, nsPerWeight: 0.05},
    ],
    ops: [
      {residency: 'cache', threads: 1, us: 2},
      {residency: 'dram', threads: 1, us: 4},
    ],
    overheads: [{threads: 1, layerUs: 0, tokenUs: 0}],
  }
  const mat = (rows: number, layout: CpuMat['layout'] = 'matrix', ops = 1) =>
    ({type: 'Q4_K', k: 2048, rows, ops, bytes: 1, layout, amx: false}) as CpuMat
  const work = {cpuMats: [mat(1000), mat(1000), mat(256, 'experts', 8), mat(500)]} as Work
  const parts: CpuOpPart[] = []
  const hits = [0.2, 0.6, 0, 1]
  let i = 0
  const total = kernelDecodeSeconds(work, kernelRates(dk, 1)!, () => hits[i++ % hits.length], parts)
  assert.equal(parts.length, 3)
  assert.ok(Math.abs(parts.reduce((t, x) => t + x.seconds, 0) - total) < 1e-15)
  const twice = parts.find((x) => x.rows === 1000)!
  assert.deepEqual([twice.count, twice.matrices, twice.layout], [2, 1, 'matrix'])
  assert.ok(Math.abs(twice.cacheShare - 0.4) < 1e-12)
  const experts = parts.find((x) => x.layout === 'experts')!
  assert.deepEqual([experts.count, experts.matrices, experts.rows], [1, 8, 256])

  // through a plan: a calibration with measured kernels gives prediction.decodeCpuOps
  const lite: ModelProfile = catalogModel('deepseek-v2-lite')
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const kernels = {...fitKernels(fakeResults()), overheads: [{threads: 1, layerUs: 0, tokenUs: 0}]}
  const withCal = (decodeKernels?: DecodeKernels): HardwareProfile => ({
    ...JSON.parse(JSON.stringify(BASE)),
    calibration: {
      provenance: 'measured',
      measuredAt: '2026-12-04T00:00:00.000Z',
      ...(decodeKernels ? {decodeKernels} : {}),
    },
  })
  const plan = makePlan(inv, [withCal(kernels)], {ctx: 512, engine: 'llama.cpp', threads: 1})
  const ops = plan.prediction.decodeCpuOps!
  assert.ok(ops.length > 3)
  assert.deepEqual(schemaErrors(planSchema, plan), [])
  for (let j = 1; j < ops.length; j++) assert.ok(ops[j - 1].us >= ops[j].us)
  // a plan file whose parts are out of range is refused (bench --plan reads plans back)
  for (const bad of [{cacheShare: 1.5}, {matrices: 0}, {layout: 'heads'}, {us: -1}]) {
    const b = JSON.parse(JSON.stringify(plan))
    Object.assign(b.prediction.decodeCpuOps[0], bad)
    assert.notDeepEqual(schemaErrors(planSchema, b), [], JSON.stringify(bad))
  }
  // V2-Lite: 26 MoE layers × 3 routed tensors, 6 of 64 experts each, one MUL_MAT_ID a tensor and layer
  const routed = ops.filter((o) => o.layout === 'experts')
  assert.ok(routed.length > 0 && routed.every((o) => o.matrices === 6))
  assert.equal(
    routed.reduce((t, o) => t + o.count, 0),
    26 * 3,
  )
  const sum = ops.reduce((t, o) => t + o.us, 0) / 1e3
  assert.ok(
    Math.abs(sum - plan.prediction.decodeMs!.cpuCompute!) < 0.01,
    `${sum} vs ${plan.prediction.decodeMs!.cpuCompute}`,
  )
  // no measured kernels: none
  assert.equal(
    makePlan(inv, [withCal()], {ctx: 512, engine: 'llama.cpp', threads: 1}).prediction.decodeCpuOps,
    undefined,
  )
})

test('capacity curves: the hit share at a reuse distance from the sweep curve (log-interpolated, falling as 1 ÷ distance past it), per row length and thread count', () => {
  const mb = 1e6
  const curve = [
    {bytes: 4 * mb, hit: 1},
    {bytes: 16 * mb, hit: 0.8},
    {bytes: 64 * mb, hit: 0.2},
  ]
  assert.equal(curveHit(curve, 1 * mb), 1)
  assert.equal(curveHit(curve, 16 * mb), 0.8)
  assert.ok(Math.abs(curveHit(curve, 32 * mb) - 0.5) < 1e-12) // halfway in log bytes from 16 to 64 MB
  assert.ok(Math.abs(curveHit(curve, 128 * mb) - 0.1) < 1e-12) // 0.2 × 64 ÷ 128
  const short = curve.map((p) => ({...p, hit: p.hit / 2}))
  const cal = {
    decodeKernels: {
      kernels: [],
      overheads: [],
      llc: [
        {threads: 1, bytes: 40 * mb, k: 2048, hits: curve.map((p) => ({...p, hit: 1}))},
        {threads: 2, bytes: 32 * mb, k: 2048, hits: curve},
        {threads: 2, bytes: 8 * mb, k: 128, hits: short},
      ],
    },
  } as unknown as HardwareProfile['calibration']
  const r2 = cpuRates(host, cal, 2, 'llama.cpp', 'unaware')
  assert.equal(r2.llcHit(2048, 16 * mb), 0.8)
  assert.equal(r2.llcHit(128, 16 * mb), 0.4)
  assert.ok(Math.abs(r2.llcHit(512, 16 * mb) - 0.6) < 1e-12) // halfway in log K
  assert.equal(r2.llcHit(2048, 0), 0)
  // between measured thread counts the shares interpolate linearly; past them the nearest
  const r3 = cpuRates(host, cal, 3, 'llama.cpp', 'unaware')
  assert.ok(Math.abs(r3.llcHit(2048, 64 * mb) - 0.2) < 1e-12)
  assert.equal(cpuRates(host, cal, 1, 'llama.cpp', 'unaware').llcHit(128, 64 * mb), 1) // no short sweep at 1 thread
  // llcShare takes the curve: dense weights at one token's bytes, routed experts at the working set
  assert.equal(
    llcShare({layout: 'matrix'}, (d) => r2.llcHit(2048, d), 16 * mb, 64 * mb),
    0.8,
  )
  assert.ok(Math.abs(llcShare({layout: 'experts'}, (d) => r2.llcHit(2048, d), 16 * mb, 64 * mb) - 0.2) < 1e-12)
  // a calibration without curves: capacity ÷ distance, as before
  const old = {
    decodeKernels: {kernels: [], overheads: [], llc: [{threads: 2, bytes: 32 * mb, k: 2048}]},
  } as unknown as HardwareProfile['calibration']
  assert.equal(cpuRates(host, old, 2, 'llama.cpp', 'unaware').llcHit(2048, 64 * mb), 0.5)
  // the low end: each point's smallest sample share where the calibration has one, else its share
  const withLow = JSON.parse(JSON.stringify(cal))
  withLow.decodeKernels.llc[1].hits[1].low = 0.4
  const rl = cpuRates(host, withLow, 2, 'llama.cpp', 'unaware')
  assert.equal(rl.llcHit(2048, 16 * mb), 0.8)
  assert.equal(rl.llcHit(2048, 16 * mb, 'low'), 0.4)
  assert.equal(rl.llcHit(2048, 2 * mb, 'low'), 1)
  assert.ok(Math.abs(rl.llcHit(2048, 32 * mb, 'low') - 0.3) < 1e-12) // halfway in log bytes from 0.4 to 0.2
  assert.equal(r2.llcHit(2048, 16 * mb, 'low'), 0.8) // no low shares: the same curve
  // the high end: the largest sample share where it is above the median, else the share
  withLow.decodeKernels.llc[1].hits[1].high = 0.95
  const rh = cpuRates(host, withLow, 2, 'llama.cpp', 'unaware')
  assert.equal(rh.llcHit(2048, 16 * mb, 'high'), 0.95)
  assert.equal(rh.llcHit(2048, 16 * mb), 0.8)
  assert.equal(r2.llcHit(2048, 16 * mb, 'high'), 0.8)
})

test('prefill kernels: every type at two row lengths × a ubatch of columns, ≈ 1 MB; fitted as GFLOP/s and kept out of the decode fit', () => {
  const cs = prefillCases()
  for (const type of KERNEL_TYPES) {
    const mine = cs.filter((c) => c.type === type)
    assert.equal(mine.length, 2, type)
    for (const c of mine) {
      assert.equal(c.cols, PREFILL_KERNEL_COLS)
      assert.equal(c.rows % 8, 0)
      assert.equal(c.k % (BLOCK[type] ?? 32), 0)
    }
  }
  assert.ok(
    kernelCases(32 * 2 ** 20).some((c) => (c.cols ?? 1) > 1),
    'the benchmark runs them',
  )
  // a decode fit with and without prefill results is the same; prefill points come back as GFLOP/s
  const dec: KernelResult[] = ['cache', 'dram'].flatMap((res) =>
    [256, 2048].map((k) => ({
      type: 'q4_K',
      k,
      rows: 512,
      ops: 4,
      repeat: res === 'cache' ? 8 : 1,
      weightBytes: 512 * k * 0.5625 * 4,
      buffer: 'CPU_REPACK',
      timings: [{threads: 1, iters: 5, bestS: 4 * (res === 'cache' ? 8 : 1) * 512 * (2 + 0.03 * k) * 1e-9, medianS: 1}],
    })),
  )
  const pre: KernelResult = {
    type: 'q4_K',
    k: 2048,
    rows: 1000,
    ops: 1,
    repeat: 1,
    cols: 512,
    weightBytes: 1000 * 2048 * 0.5625,
    buffer: 'CPU_REPACK',
    timings: [{threads: 2, iters: 5, bestS: (2 * 2048 * 1000 * 512) / 100e9, medianS: 1}],
  }
  assert.deepEqual(fitKernels([...dec, pre]).kernels, fitKernels(dec).kernels)
  assert.deepEqual(fitPrefillKernels([...dec, pre]), [
    {type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 2, gflops: 100},
  ])
  assert.deepEqual(fitKernels([...dec, pre]).prefill, fitPrefillKernels([pre]))
  assert.equal(fitKernels(dec).prefill, undefined)
})

test('planner: prefill weighs each CPU matmul by its measured kernel (buffer, row length); repacked experts run one matrix × vector per routed row', () => {
  const dk: DecodeKernels = {
    kernels: [{type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 2, nsPerWeight: 0.02, buffer: 'CPU_REPACK'}],
    ops: [],
    overheads: [],
    prefill: [
      {type: 'Q4_K', buffer: 'CPU_REPACK', k: 256, threads: 1, gflops: 100},
      {type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 1, gflops: 200},
      {type: 'Q4_K', buffer: 'CPU', k: 256, threads: 1, gflops: 40},
      {type: 'Q4_K', buffer: 'CPU', k: 2048, threads: 1, gflops: 50},
      {type: 'Q6_K', buffer: 'CPU', k: 256, threads: 1, gflops: 25},
      {type: 'Q6_K', buffer: 'CPU', k: 2048, threads: 1, gflops: 50},
      {type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 3, gflops: 600},
    ],
  }
  const pr = prefillRates(dk, 1)!
  const mat = (o: Partial<CpuMat>): CpuMat => ({
    type: 'Q4_K',
    k: 2048,
    rows: 512,
    ops: 1,
    bytes: 0,
    layout: 'matrix',
    amx: false,
    ...o,
  })
  assert.equal(pr.ref, 200e9)
  // K between the points: log-interpolated (K 724 ≈ halfway in log between 256 and 2048)
  assert.ok(Math.abs(pr.kernel(mat({k: 724})).rate - 150e9) < 0.2e9)
  // a 3-D MUL_MAT (MLA's per-head k_b/v_b) and rows not a multiple of 8 stay in the plain buffer
  assert.equal(pr.kernel(mat({layout: 'stacked'})).rate, 50e9)
  assert.equal(pr.kernel(mat({rows: 12})).rate, 50e9)
  // repacked experts: the cached matrix × vector line, 2K ÷ (a + bK) FLOP/s, whatever the batch
  const ex = mat({layout: 'experts', ops: 8})
  assert.ok(pr.kernel(ex).rowByRow)
  assert.ok(Math.abs(pr.kernel(ex).rate - (2 * 2048) / ((2 + 0.02 * 2048) * 1e-9)) < 1)
  // Q6_K has only plain points: its experts batch (vec_dot blocks), at the gemm rate
  assert.ok(!pr.kernel(mat({type: 'Q6_K', layout: 'experts'})).rowByRow)
  assert.equal(pr.kernel(mat({type: 'Q6_K', layout: 'experts', k: 256})).rate, 25e9)
  // a type not measured: Q4_K's rate at that K ÷ its TYPE_COST ratio, and named
  assert.ok(Math.abs(pr.kernel(mat({type: 'Q5_K'})).rate - (200e9 * TYPE_COST.Q4_K) / TYPE_COST.Q5_K) < 1)
  assert.deepEqual([...pr.unmeasured], ['Q5_K'])
  // thread counts interpolate linearly (2 threads: halfway to the 3-thread point)
  assert.equal(prefillRates(dk, 2)!.ref, 400e9)
  // per prompt token: reference FLOPs = FLOPs × ref ÷ rate (plain experts ÷ their batch efficiency);
  // the output matrix counts once per ubatch (ppOps)
  const work = {
    cpuMats: [
      mat({k: 2048, rows: 1000}),
      mat({type: 'Q6_K', k: 256, rows: 512, ops: 4, layout: 'experts'}),
      mat({k: 2048, rows: 4096, ppOps: 1 / 512}),
    ],
  } as Work
  const f = prefillKernelFlops(work, pr, 0.5)
  const plain = 2 * 2048 * 1000 + 2 * 256 * 512 * 4 + (2 * 2048 * 4096) / 512
  assert.equal(f.plain, plain)
  const ref = 2 * 2048 * 1000 + (2 * 256 * 512 * 4 * (200 / 25)) / 0.5 + (2 * 2048 * 4096) / 512
  assert.ok(Math.abs(f.ref - ref) < 1e-3, `${f.ref} vs ${ref}`)
  // without prefill points: none (the planner keeps its FLOP rate and width terms)
  assert.equal(prefillRates({...dk, prefill: []}, 1), null)
  assert.equal(MATMUL_K_REF, 2048)
})

test("cache share by reuse distance: a weight every token reads comes back after one token's bytes, a routed expert after the working set", () => {
  const mb = 1e6
  // qwen3moe-tiny-like: 26 MB working set, 22 MB read per token, 16 MB held
  assert.ok(Math.abs(llcShare({layout: 'matrix'}, 16 * mb, 22 * mb, 26 * mb) - 16 / 22) < 1e-12)
  assert.ok(Math.abs(llcShare({layout: 'stacked'}, 16 * mb, 22 * mb, 26 * mb) - 16 / 22) < 1e-12)
  assert.ok(Math.abs(llcShare({layout: 'experts'}, 16 * mb, 22 * mb, 26 * mb) - 16 / 26) < 1e-12)
  // all of it fits: 1; never more than 1; nothing on the CPU: 0
  assert.equal(llcShare({layout: 'experts'}, 32 * mb, 10 * mb, 11 * mb), 1)
  assert.equal(llcShare({layout: 'matrix'}, 32 * mb, 0, 0), 0)
  // bytes per token never counted above the working set (KV of a deep context is both)
  assert.equal(llcShare({layout: 'matrix'}, 10 * mb, 40 * mb, 20 * mb), 0.5)
})

/** one op's time on the plain-buffer line of a type at a residency, with a per-op cost of 1 µs (s) */
const plainLine = (kernels: DecodeKernels['kernels'], residency: string) => (type: string, k: number, rows: number) => {
  const l = kernels.find((x) => x.type === type && x.buffer === 'CPU' && x.residency === residency)!
  return rows * (l.nsPerRow + l.nsPerWeight * k) * 1e-9 + 1e-6
}

test('stacked: measured ÷ the plain-buffer line per residency and thread count (geometric mean over the shapes); the planner multiplies stacked weights by it', () => {
  const kernels: DecodeKernels['kernels'] = [
    {type: 'Q5_0', residency: 'cache', threads: 1, nsPerRow: 2, nsPerWeight: 0.01, buffer: 'CPU'},
    {type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 3, nsPerWeight: 0.02, buffer: 'CPU'},
    {type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 0, nsPerWeight: 0.01, buffer: 'CPU_REPACK'},
  ]
  const ops = [{residency: 'cache' as const, threads: 1, us: 1}]
  const line = plainLine(kernels, 'cache')
  const cases = stackedCases(32 * 2 ** 20)
  assert.equal(cases.length, 2 * STACKED_SHAPES.length)
  assert.ok(cases.every((c) => c.heads! > 1 && (c.cols ?? 1) === 1))
  const factor: Record<string, number> = {Q5_0: 2, Q4_K: 1.5}
  const results: KernelResult[] = cases
    .filter((c) => c.repeat > 1)
    .map((c) => ({
      ...c,
      type: c.type.toLowerCase().replace(/_k$/, '_K'),
      weightBytes: 1,
      buffer: 'CPU',
      timings: [
        {
          threads: 1,
          iters: 3,
          bestS: factor[c.type] * line(c.type, c.k, c.rows * c.heads!) * c.ops * c.repeat,
          medianS: 1,
        },
      ],
    }))
  const st = fitStacked(results, kernels, ops)
  // one factor per type: the two shapes differ (a Zen 4 guest: Q5_0 ×1.6, Q4_K ×2.3 streamed)
  assert.deepEqual(st, [
    {residency: 'cache', threads: 1, type: 'Q5_0', factor: 2},
    {residency: 'cache', threads: 1, type: 'Q4_K', factor: 1.5},
  ])
  // the stacked cases are no Q5_0/Q4_K kernel cases: the type fit leaves them out
  const dk = fitKernels([...fakeResults(['Q4_K', 'Q5_0']), ...results])
  const plain = fitKernels(fakeResults(['Q4_K', 'Q5_0']))
  assert.deepEqual(dk.kernels, plain.kernels)
  // planner: a stacked weight's time × the factor; a 2-D one as its line
  const kr = kernelRates({kernels, ops, overheads: [{threads: 1, layerUs: 0, tokenUs: 0}], stacked: st}, 1)!
  const stackedOp = kr.op('Q5_0', 128, 8192, 'cache', {layout: 'stacked', amx: false})
  assert.ok(Math.abs(stackedOp - 2 * line('Q5_0', 128, 8192)) < 1e-15)
  const stackedK = kr.op('Q4_K', 512, 2048, 'cache', {layout: 'stacked', amx: false})
  assert.ok(Math.abs(stackedK - 1.5 * line('Q4_K', 512, 2048)) < 1e-15)
  // a type without stacked cases: the geometric mean of the measured types' factors
  const kq = kernelRates(
    {
      kernels: [...kernels, {...kernels[0], type: 'Q8_0'}],
      ops,
      overheads: [{threads: 1, layerUs: 0, tokenUs: 0}],
      stacked: st,
    },
    1,
  )!
  const q8 = kq.op('Q8_0', 128, 8192, 'cache', {layout: 'stacked', amx: false})
  assert.ok(Math.abs(q8 - Math.sqrt(3) * kq.op('Q8_0', 128, 8192, 'cache')) < 1e-15)
  // a calibration from before the type was kept: its one factor for every type
  const untyped = kernelRates(
    {
      kernels,
      ops,
      overheads: [{threads: 1, layerUs: 0, tokenUs: 0}],
      stacked: [{residency: 'cache', threads: 1, factor: 1.7}],
    },
    1,
  )!
  assert.ok(
    Math.abs(untyped.op('Q4_K', 512, 2048, 'cache', {layout: 'stacked', amx: false}) - 1.7 * line('Q4_K', 512, 2048)) <
      1e-15,
  )
  assert.ok(Math.abs(kr.op('Q5_0', 128, 8192, 'cache') - line('Q5_0', 128, 8192)) < 1e-15)
  // no stacked cases measured (an older calibration): factor 1
  const old = kernelRates({kernels, ops, overheads: [{threads: 1, layerUs: 0, tokenUs: 0}]}, 1)!
  assert.ok(
    Math.abs(old.op('Q5_0', 128, 8192, 'cache', {layout: 'stacked', amx: false}) - line('Q5_0', 128, 8192)) < 1e-15,
  )
})

test('stacked: the decode attention cases (heads and one column too, but kvHeads) stay out of the factor', () => {
  // calibrations of 2026-12-03/04 put MLA's per-head products at ×3.8 streamed at one thread (×1.9
  // with these cases left out): the F16 attention cases' time over F16's line for rows × heads
  const kernels: DecodeKernels['kernels'] = [
    {type: 'Q5_0', residency: 'dram', threads: 1, nsPerRow: 2, nsPerWeight: 0.01, buffer: 'CPU'},
    {type: 'Q4_K', residency: 'dram', threads: 1, nsPerRow: 3, nsPerWeight: 0.02, buffer: 'CPU'},
    {type: 'F16', residency: 'dram', threads: 1, nsPerRow: 1, nsPerWeight: 0.05, buffer: 'CPU'},
    {type: 'F16', residency: 'cache', threads: 1, nsPerRow: 1, nsPerWeight: 0.05, buffer: 'CPU'},
  ]
  const ops = [{residency: 'dram' as const, threads: 1, us: 1}]
  const line = plainLine(kernels, 'dram')
  const result = (c: KernelCase, bestS: number): KernelResult => ({
    ...c,
    type: c.type.toLowerCase().replace(/_k$/, '_K'),
    weightBytes: 1,
    buffer: 'CPU',
    timings: [{threads: 1, iters: 3, bestS, medianS: bestS}],
  })
  const stacked = stackedCases(32 * 2 ** 20)
    .filter((c) => c.repeat === 1)
    .map((c) => result(c, 2 * line(c.type, c.k, c.rows * c.heads!) * c.ops))
  const attention = attentionCases(32 * 2 ** 20).filter((c) => (c.cols ?? 1) === 1)
  assert.ok(attention.length > 0 && attention.every((c) => c.heads! > 0 && c.kvHeads! > 0))
  // an attention case far from any matrix line: ×40 of F16's line for its rows × heads
  const attnResults = attention.map((c) => result(c, 40 * line('F16', c.k, c.rows * c.heads!) * c.ops * c.repeat))
  const alone = fitStacked(stacked, kernels, ops)
  assert.deepEqual(
    alone,
    STACKED_SHAPES.map((x) => ({residency: 'dram', threads: 1, type: x.type, factor: 2})),
  )
  assert.deepEqual(fitStacked([...stacked, ...attnResults], kernels, ops), alone)
})

test('cases on a server-sized cache stay within one graph: ops × repeat ≤ the native limit; the sweep keeps increasing totals', () => {
  for (const l3 of [32 * 2 ** 20, 256 * 2 ** 20, 2.3e9, 8 * 2 ** 30]) {
    const cs = kernelCases(l3)
    for (const c of cs) assert.ok(c.ops >= 1 && c.ops * c.repeat <= KERNEL_MAX_OPS, `${l3}: ${JSON.stringify(c)}`)
    for (const k of [128, 2048]) {
      const sweep = capacityCases(l3).filter((c) => c.k === k)
      assert.ok(sweep.length >= 1)
      for (let i = 1; i < sweep.length; i++) assert.ok(sweep[i].ops > sweep[i - 1].ops, `${l3} K ${k}`)
    }
  }
  // a 32 MiB L3 is not capped: every share of the sweep is there
  assert.equal(capacityCases(32 * 2 ** 20).length, 2 * CAPACITY_SHARES.length)
})

test('calibrate prints the decode kernels per thread count: scale and overheads, the cache curve, the per-head factor', () => {
  const dk: DecodeKernels = {
    kernels: [{type: 'Q4_K', residency: 'cache', threads: 1, nsPerRow: 0, nsPerWeight: 0.02, buffer: 'CPU_REPACK'}],
    ops: [],
    overheads: [
      {threads: 2, scale: 0.96, scaleCache: 1.12, layerUs: 0, tokenUs: 36.9},
      {threads: 1, scale: 0.95, layerUs: 4.8, tokenUs: 41},
    ],
    llc: [
      {
        threads: 1,
        bytes: 23.2 * 2 ** 20,
        k: 2048,
        hits: [
          {bytes: 16 * 2 ** 20, hit: 1},
          {bytes: 24 * 2 ** 20, hit: 0.385},
        ],
      },
    ],
    stacked: [{residency: 'dram', threads: 1, factor: 2.04}],
  }
  const lines = decodeKernelLines(dk)
  assert.match(lines[0], /decode kernels \(measured: 1 type/)
  assert.deepEqual(
    lines.slice(1).map((l) => l.trim().split(':')[0]),
    ['1 thread', '1 thread', '1 thread', '2 threads'],
  )
  assert.ok(
    lines.some((l) => /1 thread: kernels × 0\.95 inside a model \(cached reads × 0\.95\), 4\.8 µs per layer/.test(l)),
  )
  assert.ok(
    lines.some((l) => /half of a cyclic read of 23\.2 MiB served \(share 1\.00 at 16\.0, 0\.39 at 24\.0 MiB\)/.test(l)),
  )
  // the samples' spread where they differ
  const spread = JSON.parse(JSON.stringify(dk))
  spread.llc[0].hits.push({bytes: 32 * 2 ** 20, hit: 0.385, low: 0.2})
  assert.ok(
    decodeKernelLines(spread).some((l) =>
      /\(share 1\.00 at 16\.0, 0\.39 at 24\.0, 0\.20–0\.39 at 32\.0 MiB; slowest–fastest sample\)/.test(l),
    ),
  )
  assert.ok(lines.some((l) => /MLA per-head products × 2\.04 the plain line streamed/.test(l)))
  assert.deepEqual(decodeKernelLines(undefined), [])
})

test('a calibration whose models ran slower than their kernels add up to (in-model scale over BUSY_SCALE) says the machine was likely busy; a quiet one does not', () => {
  const samples = (scale: Record<1 | 2, number>): Sample[] =>
    fourModels({1: {s: scale[1], l: 20e-6, t: 0}, 2: {s: scale[2], l: 20e-6, t: 0}})
  const kernels = {kernels: [], ops: [], overheads: []}
  const meta = {measuredAt: '2026-12-03T00:00:00.000Z', llamaCppRelease: null, cpuVariant: null, models: []}
  const busyNote = (n: string) => /likely busier during the model rounds/.test(n)
  const busy = fitCalibration(samples({1: 1.45, 2: 0.95}), meta, kernels)
  const note = busy.notes!.find(busyNote)
  assert.ok(note, busy.notes!.join('\n'))
  assert.match(note, /× 1\.45 at 1t;/)
  assert.doesNotMatch(note, /at 2t/)
  assert.deepEqual(
    busyScales(busy.decodeKernels!.overheads).map((o) => o.threads),
    [1],
  )
  const quiet = fitCalibration(samples({1: 0.95, 2: 0.93}), meta, kernels)
  assert.ok(!quiet.notes!.some(busyNote), quiet.notes!.join('\n'))
  assert.deepEqual(busyScales([{threads: 1, scale: BUSY_SCALE, layerUs: 0, tokenUs: 0}]), [])
})

test('a budget that ended inside the first round: the hint scales it by the tests that did not run, in whole minutes, always more than it was', () => {
  assert.equal(budgetHintMinutes(480, 8, 12), 12) // 480 × 12 ÷ 8 = 720 s
  assert.equal(budgetHintMinutes(480, 11, 12), 9) // 524 s → 9 min (more than the 8 given)
  assert.equal(budgetHintMinutes(3, 1, 5), 1)
  assert.equal(budgetHintMinutes(300, 0, 4), 10) // nothing ran: twice the budget
  assert.ok(budgetHintMinutes(599, 9, 10) * 60 > 599)
})
