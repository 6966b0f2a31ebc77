#!/usr/bin/env -S node --import tsx
/**
 * bench/speed-fidelity (issue 13 item 7) — after `moerig calibrate`, is the calibrated speed model
 * right on this machine? For synthetic shapes × thread counts: `plan` the model with the
 * calibrated profile, measure pp/tg with the built-in runner, and print predicted vs measured
 * decode and prefill with the errors, then the goals: decode within 10 %, prefill within 20 %, for
 * every shape and thread count. All rows are measured together in interleaved rounds
 * (src/runner/rounds.ts: every model loaded in one child, round after round each test runs -r
 * repetitions, up to --rounds rounds or --rounds-budget), so a shared machine's slow minutes fall
 * on every row alike. Measured as calibrate measures (contention only slows): decode = 1 ÷ the
 * fastest single-token step of any round, prefill = the best repetition; the summary also judges
 * decode against the best round's median step (decodeMedian) and the best repetition (decodeRep).
 *
 * Shapes: r1-dram (DRAM-bound, 1.43 GiB read per token; r1-mini stands in when synth lacks it),
 * r1-mini (0.2 GB per token: cache-resident on a large L3), qwen3moe-tiny (qwen3moe structure) and
 * tiny. Each test is planned at the depth the bench runs (calibrate.ts modelTerms): decode with
 * context n for tg<n> (mean depth n/2), prefill with context = ubatch = the prompt.
 *
 * Run:   npm run bench:speed-fidelity -- [--hardware calibrated.json] [-t 1,2] [-r 2] [--rounds 6] [--rounds-budget 4m]
 *          [--shapes r1-dram,r1-mini,qwen3moe-tiny,tiny] [--budget 5m]
 *        without --hardware it runs calibrate first and saves reports/speed-fidelity-hardware.json
 *        --together: the rows are measured inside calibrate's rounds (the same minutes as the
 *        calibration models; tiny, r1-mini and r1-dram rows are then separate tests of the rounds
 *        their calibration tests ran in), not in rounds of their own afterwards
 *        --depth N: each shape's tg also after N tokens in the context (bench -d; not the DRAM-bound
 *        shape, whose fill takes minutes), judged against the plan at context 2N + n (its mid depth
 *        N + n/2: the test's mean depth) — the decode-at-depth check (decodeDepth)
 *        --sweep: instead, the attention sweep behind speed.ts CPU_ATTN_PAIR_FLOPS: tiny and
 *        qwen3moe-tiny prefill at pp64/256/1024 (ubatch = prompt) at 1 thread; the per-ubatch
 *        time t(u) = a + b·u + c·u² gives c, the attention cost per query × key, and per
 *        query × key × head c ÷ (½ × heads × layers)
 * Needs: a built addon; r1-dram is ≈ 9 GB (written once into .moerig-cache/synth).
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {cpus, loadavg} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {projectRoot} from '../src/lib/paths.js'
import {runBench} from '../src/runner/bench.js'
import {roundsFit, roundsTps, runRounds, type RoundsTest} from '../src/runner/rounds.js'
import {
  benchTps,
  cpuOnly,
  dramPreset,
  parseBudget,
  parseThreadList,
  runCalibrate,
  SMALL_MODEL_REPS,
} from '../src/runner/calibrate.js'
import {phaseComparison} from '../src/runner/planrun.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {SYNTH_PRESETS} from '../src/model/synth-presets.js'
import {runPlan} from '../src/planner/run.js'
import {loadHardware} from '../src/probe/machine.js'
import type {HardwareProfile} from '../src/schemas/hardware.js'
import type {CalibrateResult} from '../src/schemas/calibrate.js'

const {values: a} = parseArgs({
  options: {
    hardware: {type: 'string'},
    t: {type: 'string', short: 't'},
    r: {type: 'string', short: 'r', default: '2'},
    rounds: {type: 'string', default: '6'},
    'rounds-budget': {type: 'string', default: '4m'},
    shapes: {type: 'string'},
    budget: {type: 'string', default: '5m'},
    json: {type: 'boolean'},
    sweep: {type: 'boolean'},
    together: {type: 'boolean'},
    depth: {type: 'string'},
  },
})
const reps = Number(a.r)
const rounds = Number(a.rounds)
/** --depth N: each shape's tg also after N tokens in the context (bench -d), judged against the plan at that depth */
const depth = a.depth === undefined ? 0 : Number(a.depth)
if (!(Number.isInteger(depth) && depth >= 0)) {
  console.error(`speed-fidelity: --depth takes a whole number of tokens ≥ 0, got ${a.depth}`)
  process.exit(2)
}
if (!(Number.isInteger(reps) && reps >= 1 && Number.isInteger(rounds) && rounds >= 1)) {
  console.error('speed-fidelity: -r and --rounds take whole numbers ≥ 1')
  process.exit(2)
}
/** a duration flag in seconds, or one line and exit 2 */
const duration = (flag: string, text: string) => {
  try {
    return parseBudget(text)
  } catch (e) {
    console.error(`speed-fidelity: ${flag} ${(e as Error).message.replace(/^--budget /, '')}`)
    process.exit(2)
  }
}
const roundsBudgetS = duration('--rounds-budget', a['rounds-budget']!)
const budgetS = duration('--budget', a.budget!)
console.log(
  `machine: ${cpus()[0]?.model ?? '?'}, ${cpus().length} logical CPUs, load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
)
const threads = parseThreadList(a.t)
/**
 * CPU time the hypervisor gave to others while this guest's vCPUs wanted to run (steal, /proc/stat's
 * 8th column) and all CPU time, in ticks since boot; null off Linux. A share of a few per cent
 * over the run means other guests held the host's cores: two-thread rows then measure slow in places.
 */
const cpuTicks = (): {steal: number; total: number} | null => {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
    return f.length >= 8 ? {steal: f[7], total: f.reduce((x, y) => x + y, 0)} : null
  } catch {
    return null
  }
}
const ticks0 = cpuTicks()

if (a.sweep) {
  const SWEEP = [64, 256, 1024]
  for (const shape of ['qwen3moe-tiny', 'tiny']) {
    const path = await cachedSynthModel({preset: shape, quant: 'Q4_K_M'})
    const ms: number[] = []
    for (const u of SWEEP) {
      const r = await runBench({
        path,
        nPrompt: [u],
        nGen: [],
        reps,
        threads: 1,
        nUbatch: u,
        nBatch: Math.max(512, u),
        runsDir: null,
      })
      ms.push((u / benchTps(r, 'best').prefill!) * 1e3)
    }
    // exact quadratic through the three points
    const [u1, u2, u3] = SWEEP,
      [t1, t2, t3] = ms
    const c = ((t3 - t1) / (u3 - u1) - (t2 - t1) / (u2 - u1)) / (u3 - u2)
    const b = (t2 - t1) / (u2 - u1) - c * (u1 + u2)
    const a0 = t1 - b * u1 - c * u1 * u1
    const hp = SYNTH_PRESETS[shape].hparams
    const perPair = (c * 1e6) / (0.5 * hp.nHead * hp.nLayer)
    console.log(
      `${shape}: ${SWEEP.map((u, i) => `pp${u} ${ms[i].toFixed(1)} ms`).join(', ')} → a ${a0.toFixed(1)} ms per ubatch, b ${(b * 1e3).toFixed(1)} µs per token, c ${(c * 1e6).toFixed(0)} ns per query × key = ${perPair.toFixed(1)} ns per query × key × head (${hp.nHead} heads, ${hp.nLayer} layers); load ${loadavg()[0].toFixed(2)}`,
    )
  }
  process.exit(0)
}

/** pp/tg per shape: r1-dram's pp is short (5 GFLOP per token; the plan's ubatch follows it). */
const SHAPES: Record<string, {nPrompt: number; nGen: number}> = {
  'r1-dram': {nPrompt: 64, nGen: 8},
  'r1-mini': {nPrompt: 512, nGen: 16},
  'qwen3moe-tiny': {nPrompt: 512, nGen: 64},
  tiny: {nPrompt: 512, nGen: 64},
}
/** Shapes whose decode repetition takes well under a second: calibrate runs its small models' decode SMALL_MODEL_REPS times a round. */
const SMALL_SHAPES = new Set(['tiny', 'qwen3moe-tiny'])
const dram = dramPreset()
const shapes = (a.shapes ?? `${dram.preset},r1-mini,qwen3moe-tiny,tiny`)
  .split(',')
  .map((s) => s.trim())
  .filter((s, i, xs) => xs.indexOf(s) === i)
if (dram.note) console.log(`note: ${dram.note}`)

const paths = new Map<string, string>()
for (const shape of shapes) paths.set(shape, await cachedSynthModel({preset: shape, quant: 'Q4_K_M'}))
const shapePlacement = (shape: string) =>
  // the DRAM-bound shape loads without mmap, as calibrate does: with little free RAM the page
  // cache of a mapped 9 GB file is evicted while CPU_REPACK holds its copy (0.3 t/s seen)
  // and, as calibrate's CPU samples, with no offload device (calibrate.ts cpuOnly)
  cpuOnly(shape === dram.preset && dram.note === null ? {mmap: false} : {})
/**
 * The DRAM-bound shape gets no depth test: filling its context before every round is a prompt run at
 * its prefill speed (r1-dram: ≈ 2 minutes for 2048 tokens at one thread).
 */
const atDepth = (shape: string) => depth > 0 && shape !== dram.preset
/** every row's tg and pp test (and with --depth its tg at depth), model indexes into `set` */
const rowTests = (set: string[]) => {
  const tests: RoundsTest[] = []
  const keys: Array<{key: string; tg: number; pp: number; deep: number | null}> = []
  for (const [mi, shape] of set.entries()) {
    const spec = SHAPES[shape] ?? {nPrompt: 512, nGen: 32}
    // as calibrate measures: the small models' tests with its repetitions (a fastest step or best
    // repetition is the best of more with more of them, and spread over the round they see more of it)
    const rowReps = SMALL_SHAPES.has(shape) ? Math.max(reps, SMALL_MODEL_REPS) : reps
    for (const t of threads) {
      const tg = tests.push({model: mi, threads: t, nPrompt: 0, nGen: spec.nGen, reps: rowReps}) - 1
      const deep = atDepth(shape)
        ? tests.push({model: mi, threads: t, nPrompt: 0, nGen: spec.nGen, nDepth: depth, reps: rowReps}) - 1
        : null
      const pp = tests.length
      tests.push({
        model: mi,
        threads: t,
        nPrompt: spec.nPrompt,
        nGen: 0,
        reps: rowReps,
        nUbatch: spec.nPrompt,
        nBatch: Math.max(512, spec.nPrompt),
      })
      keys.push({key: `${shape}\t${t}`, tg, pp, deep})
    }
  }
  return {tests, keys}
}
type Tps = ReturnType<typeof roundsTps>
const measured = new Map<string, {decode: Tps; prefill: Tps; deep: Tps | null}>()
const keep = (keys: ReturnType<typeof rowTests>['keys'], results: Array<Parameters<typeof roundsTps>[0]>) => {
  for (const k of keys)
    if (results[k.tg] && results[k.pp])
      measured.set(k.key, {
        decode: roundsTps(results[k.tg]),
        prefill: roundsTps(results[k.pp]),
        deep: k.deep !== null && results[k.deep]?.rounds.length ? roundsTps(results[k.deep]) : null,
      })
}
if (a.together && a.hardware) {
  console.error('speed-fidelity: --together measures the rows in calibrate’s rounds; it cannot take --hardware')
  process.exit(2)
}

let profile: HardwareProfile
/** --together: calibrate's measurements (the same tests as some rows, in the same rounds) */
let calMeasurements: CalibrateResult['measurements'] = []
if (a.hardware) {
  profile = await loadHardware(a.hardware)
  if (!profile.calibration)
    console.log(`note: ${a.hardware} has no calibration: the published-class model is being judged`)
} else {
  const save = join(projectRoot, 'reports', 'speed-fidelity-hardware.json')
  console.log(`calibrating (budget ${a.budget}) → ${save} …`)
  const base = await loadHardware('probe')
  // --together: the rows ride in the calibration models' rounds (same minutes; the calibration
  // models' own rows are then judged on separate tests of the same rounds they were fitted in)
  const together = a.together ? rowTests(shapes) : null
  const r = await runCalibrate(
    {
      profile: base,
      savePath: save,
      threads,
      budgetS,
      force: true,
      ...(together
        ? {
            extraRounds: {
              models: shapes.map((x) => ({path: paths.get(x)!, placement: shapePlacement(x)})),
              tests: together.tests,
            },
          }
        : {}),
    },
    {
      onStep: (l) => console.log(`  ${l}`),
      onExtraRounds: (results) => {
        if (together) keep(together.keys, results)
      },
    },
  )
  console.log(`calibrated in ${r.seconds} s${r.partial ? ' (PARTIAL)' : ''}`)
  // the measurements behind the fit, for refitting offline (bench/speed-refit.ts)
  writeFileSync(join(projectRoot, 'reports', 'speed-fidelity-calibrate.json'), JSON.stringify(r, null, 1))
  if (together) calMeasurements = r.measurements
  profile = await loadHardware(save)
}
const c = profile.calibration
if (c) {
  console.log(
    `calibration ${c.measuredAt}: decode bandwidth ${c.decodeBandwidthGBs ?? '—'} GB/s at ${c.decodeThreads ?? '—'} threads; overhead ${c.tokenOverheadMs ?? '—'} ms/token + ${c.layerOverheadUs ?? '—'} µs/layer; ` +
      (c.cpuThroughput ?? [])
        .map((p) => `${p.threads}t prefill ${p.prefillGflops ?? '—'} / decode ${p.decodeGflops ?? '—'} GFLOP/s`)
        .join(', '),
  )
}

interface Row {
  shape: string
  threads: number
  test: string
  source: string
  decode: ReturnType<typeof phaseComparison>
  prefill: ReturnType<typeof phaseComparison>
  /** decode against the best round's median token step */
  decodeMedian: ReturnType<typeof phaseComparison>
  /** decode against the best repetition's mean (decode itself: the fastest token step, as calibrate fits) */
  decodeRep: ReturnType<typeof phaseComparison>
  /** rounds the row's tests ran */
  rounds: number
  /** --depth: decode after `depth` tokens in the context against the plan at that depth (tg<n> @ d<depth>) */
  decodeDepth?: ReturnType<typeof phaseComparison>
  /** decode by the rate model (the calibration without decodeKernels), when the kernels were measured */
  decodeRates: ReturnType<typeof phaseComparison> | null
  /** 1-minute load average when the row's measurement ended (2 vCPUs shared: a load above the thread count means waiting) */
  load: number
  /**
   * --together: calibrate's own run of the same test in the same rounds (t/s, decode as the fastest
   * token step) and how far the row's is from it (%): the noise floor of that row, not model error
   */
  sameTest?: {decode: number | null; decodeGapPct: number | null; prefill: number | null; prefillGapPct: number | null}
}
const rows: Row[] = []
// plan every row first, then measure them all in interleaved rounds (src/runner/rounds.ts): each
// row's best round is taken over the same minutes as the others', and a burst on the shared machine
// no longer lands on one row alone
interface Planned {
  shape: string
  t: number
  spec: {nPrompt: number; nGen: number}
  pDec: Awaited<ReturnType<typeof runPlan>>['prediction']
  pDecRates: Awaited<ReturnType<typeof runPlan>>['prediction'] | null
  pPre: Awaited<ReturnType<typeof runPlan>>['prediction']
  /** --depth: decode planned at the depth test's mean depth (context 2 × depth + n: the plan's mid depth) */
  pDeep: Awaited<ReturnType<typeof runPlan>>['prediction'] | null
}
const planned: Planned[] = []
for (const shape of shapes) {
  const spec = SHAPES[shape] ?? {nPrompt: 512, nGen: 32}
  const path = paths.get(shape)!
  for (const t of threads) {
    const plan = (ctx: number, ubatch: number) =>
      runPlan({model: path, hardware: 'x', profiles: [profile], engine: 'llama.cpp', threads: t, ctx, ubatch})
    const pDec = (await plan(spec.nGen, 512)).prediction
    // the same calibration without its decode kernels: the rate model (cached/streamed GFLOP/s and
    // DRAM bandwidth), judged against the same measurement
    const rateProfile: HardwareProfile | null = profile.calibration?.decodeKernels
      ? {...profile, calibration: {...profile.calibration, decodeKernels: undefined}}
      : null
    const pDecRates = rateProfile
      ? (
          await runPlan({
            model: path,
            hardware: 'x',
            profiles: [rateProfile],
            engine: 'llama.cpp',
            threads: t,
            ctx: spec.nGen,
            ubatch: 512,
          })
        ).prediction
      : null
    const pPre = (await plan(spec.nPrompt, spec.nPrompt)).prediction
    const pDeep = atDepth(shape) ? (await plan(2 * depth + spec.nGen, 512)).prediction : null
    planned.push({shape, t, spec, pDec, pDecRates, pPre, pDeep})
  }
}
// one child for every model when they fit in RAM together, else one per model
const modelSets = measured.size ? [] : roundsFit([...paths.values()]) ? [shapes] : shapes.map((x) => [x])
for (const set of modelSets) {
  const {tests, keys} = rowTests(set)
  const t0 = Date.now()
  const r = await runRounds(
    {
      models: set.map((shape) => ({path: paths.get(shape)!, placement: shapePlacement(shape)})),
      tests,
      rounds,
      budgetS: roundsBudgetS / modelSets.length,
    },
    {onLoaded: (m, ms) => console.log(`  loaded ${set[m]} in ${(ms / 1000).toFixed(1)} s`)},
  )
  console.log(`  ${set.join(', ')}: ${r.roundsRun} rounds in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  keep(keys, r.tests)
}
/** a signed per cent with one decimal ("+4.1"), and with its unit or a dash */
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`
const e = (x: number | null) => (x === null ? '—' : `${signed(x)} %`)
for (const p of planned) {
  const m = measured.get(`${p.shape}\t${p.t}`)
  if (!m) {
    console.log(`  ${p.shape} t${p.t}: not measured (the budget ended first)`)
    continue
  }
  const row: Row = {
    shape: p.shape,
    threads: p.t,
    test: `pp${p.spec.nPrompt}/tg${p.spec.nGen}`,
    source: p.pDec.speedModel?.source ?? '?',
    rounds: m.decode.rounds,
    decode: phaseComparison(p.pDec.decodeTps, p.pDec.decodeRange, m.decode.decode),
    prefill: phaseComparison(p.pPre.prefillTps, p.pPre.prefillRange, m.prefill.prefill),
    decodeMedian: phaseComparison(p.pDec.decodeTps, p.pDec.decodeRange, m.decode.decodeMedian),
    decodeRep: phaseComparison(p.pDec.decodeTps, p.pDec.decodeRange, m.decode.decodeRep),
    decodeRates: p.pDecRates ? phaseComparison(p.pDecRates.decodeTps, p.pDecRates.decodeRange, m.decode.decode) : null,
    load: loadavg()[0],
  }
  if (p.pDeep) row.decodeDepth = phaseComparison(p.pDeep.decodeTps, p.pDeep.decodeRange, m.deep?.decode ?? null)
  const same = sameTest(p.shape, p.t, p.spec, m.decode.decode, m.prefill.prefill)
  if (same) row.sameTest = same
  rows.push(row)
  console.log(
    `  ${p.shape} t${p.t}: decode ${row.decode.predicted.toFixed(1)} vs ${m.decode.decode?.toFixed(1) ?? 'not measured'} (${e(row.decode.errorPct)}), prefill ${row.prefill.predicted.toFixed(1)} vs ${m.prefill.prefill?.toFixed(1) ?? 'not measured'} (${e(row.prefill.errorPct)})` +
      (row.decodeDepth
        ? `, decode @ d${depth} ${row.decodeDepth.predicted.toFixed(1)} vs ${row.decodeDepth.measured?.toFixed(1) ?? '—'} (${e(row.decodeDepth.errorPct)})`
        : ''),
  )
}

const gaps = rows.flatMap((r) => [r.sameTest?.decodeGapPct, r.sameTest?.prefillGapPct]).filter((x) => x != null)
if (gaps.length)
  console.log(
    `  the same test as calibrate's, in the same rounds (${gaps.length} pairs): the row's measurement ${gaps.map((x) => signed(x!)).join(', ')} % from calibrate's — noise, not model error`,
  )
const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '—' : x.toFixed(d))
/**
 * A row's own spread: how far its fastest token step (decode's measurement) runs above the best
 * round's median step, in %. Where it passes the ±10 % goal the row's error is within its noise.
 */
const spreadPct = (r: (typeof rows)[number]): number | null =>
  r.decode.measured && r.decodeMedian.measured ? 100 * (r.decode.measured / r.decodeMedian.measured - 1) : null
console.log('')
console.log(
  '| shape | threads | tests | decode predicted | decode measured | decode error | decode spread | rate model (no kernels) | prefill predicted | prefill measured | prefill error | load (1 min) | speed model |',
)
console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
for (const r of rows) {
  console.log(
    `| ${r.shape} | ${r.threads} | ${r.test} | ${f(r.decode.predicted)} t/s | ${f(r.decode.measured)} t/s | ${e(r.decode.errorPct)} | ${spreadPct(r) === null ? '—' : `${spreadPct(r)!.toFixed(0)} %`} | ${r.decodeRates ? `${f(r.decodeRates.predicted)} t/s (${e(r.decodeRates.errorPct)})` : '—'} | ${f(r.prefill.predicted)} t/s | ${f(r.prefill.measured)} t/s | ${e(r.prefill.errorPct)} | ${r.load.toFixed(1)} | ${r.source} |`,
  )
}
const med = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN
}
console.log('')
for (const [phase, goal] of [
  ['decode', 10],
  ['prefill', 20],
  ['decodeRep', 10],
  ['decodeMedian', 10],
  ...(rows.some((r) => r.decodeRates) ? ([['decodeRates', 10]] as const) : []),
  ...(rows.some((r) => r.decodeDepth) ? ([['decodeDepth', 10]] as const) : []),
] as const) {
  const errs = rows.map((r) => r[phase]?.errorPct ?? null).filter((x): x is number => x !== null)
  const within = errs.filter((x) => Math.abs(x) <= goal).length
  // the predicted range, where the row has one (decode and prefill)
  const ranged = rows.map((r) => (r[phase] as {inRange?: boolean | null} | null)?.inRange ?? null)
  const inRange = ranged.filter((x) => x === true).length,
    judged = ranged.filter((x) => x !== null).length
  const worst = rows
    .filter((r) => r[phase]?.errorPct != null)
    .sort((x, y) => Math.abs(y[phase]!.errorPct!) - Math.abs(x[phase]!.errorPct!))[0]
  // no row measured (a calibration the budget cut short, a failed run): nothing met
  if (!errs.length) {
    console.log(`${phase}: no row measured — NOT MET`)
    continue
  }
  console.log(
    `${phase}: ${within} of ${errs.length} within ±${goal} % (goal: all); median |error| ${med(errs.map(Math.abs)).toFixed(1)} %` +
      (worst ? `; worst ${worst.shape} t${worst.threads} ${e(worst[phase]!.errorPct)}` : '') +
      (judged ? `; ${inRange} of ${judged} inside the predicted range` : '') +
      ` — ${within === errs.length ? 'MET' : 'NOT MET'}`,
  )
  if (phase === 'decode') {
    const noisy = rows.filter((r) => (spreadPct(r) ?? 0) > goal)
    if (noisy.length)
      console.log(
        `  rows whose own spread (fastest step ÷ best round's median) is past ±${goal} %: ${noisy.map((r) => `${r.shape} t${r.threads} ${spreadPct(r)!.toFixed(0)} % (error ${e(r.decode.errorPct)})`).join(', ')}`,
      )
  }
}
const ticks1 = cpuTicks()
const stealPct =
  ticks0 && ticks1 && ticks1.total > ticks0.total
    ? Math.round((1000 * (ticks1.steal - ticks0.steal)) / (ticks1.total - ticks0.total)) / 10
    : null
console.log(
  `load average at the end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}` +
    (stealPct === null ? '' : `; steal ${stealPct} % of CPU time over the run (other guests holding the host's cores)`),
)
writeFileSync(join(projectRoot, 'reports', 'speed-fidelity-rows.json'), JSON.stringify(rows, null, 1))
if (a.json) console.log(JSON.stringify({calibration: c ?? null, rows, stealPct}, null, 2))

/** calibrate's run of a row's test (same shape, threads and pp/tg), and the row's distance from it */
function sameTest(
  shape: string,
  t: number,
  spec: {nPrompt: number; nGen: number},
  decode: number | null,
  prefill: number | null,
): Row['sameTest'] | null {
  const of = (test: string) =>
    calMeasurements.find((x) => x.threads === t && x.test === test && new RegExp(`^synth ${shape} `).test(x.model))
  const tg = of(`tg${spec.nGen}`),
    pp = of(`pp${spec.nPrompt}`)
  if (!tg && !pp) return null
  const cd = tg ? (tg.tokenTps ?? tg.tps) : null,
    cp = pp ? pp.tps : null
  const gap = (row: number | null, cal: number | null) =>
    row !== null && cal ? Math.round((row / cal - 1) * 1000) / 10 : null
  return {decode: cd, decodeGapPct: gap(decode, cd), prefill: cp, prefillGapPct: gap(prefill, cp)}
}
