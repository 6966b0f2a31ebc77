#!/usr/bin/env -S node --import tsx
/**
 * bench/speed-refit (issue 13) — refit a calibration from its own measurements and judge it against
 * the rows bench/speed-fidelity measured, without measuring anything: change the fit
 * (src/runner/calibrate.ts fitCalibration, fitKernelOverheads) or the planner, run again, compare.
 * On a machine whose speed drifts by ±30 % between minutes (docs/speed-fidelity.md) this is the only
 * way to compare two fits on the same numbers.
 *
 * Run:   node --import tsx bench/speed-refit.ts [--calibrate reports/speed-fidelity-calibrate.json]
 *          [--rows reports/speed-fidelity-rows.json] [--hardware reports/speed-fidelity-hardware.json]
 *          [--stat token|rep]  (decode as calibrate fits it, the fastest token step; or the best repetition's mean)
 *          [--kernels FILE]  (another decode-kernel fit, e.g. from a second kernel run, on the same model measurements)
 *          [--capacity q75|median|max|mean]  (the capacity curves' share at each total from the calibrate
 *            result's capacitySamples: their upper quartile, as calibrate fits it since the sixteenth session,
 *            their median (the fourteenth pass's pick), the largest (before) or their mean; results without
 *            capacitySamples keep their curves)
 * Needs: the files bench/speed-fidelity writes, the synth models (cached).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {projectRoot} from '../src/lib/paths.js'
import {DEEP_PRESET, fitCalibration, modelTerms, type Sample} from '../src/runner/calibrate.js'
import {median} from '../src/runner/stats.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {SYNTH_PRESETS} from '../src/model/synth-presets.js'
import {runPlan} from '../src/planner/run.js'
import {loadHardware} from '../src/probe/machine.js'
import type {CalibrateResult} from '../src/schemas/calibrate.js'
import type {HardwareProfile} from '../src/schemas/hardware.js'
import {CAPACITY_PICKS, capacityCurvesFrom, type CapacityPick, type DecodeKernels} from '../src/runner/kernels.js'

const r = (f: string) => join(projectRoot, 'reports', f)
const {values: a} = parseArgs({
  options: {
    calibrate: {type: 'string', default: r('speed-fidelity-calibrate.json')},
    rows: {type: 'string', default: r('speed-fidelity-rows.json')},
    hardware: {type: 'string', default: r('speed-fidelity-hardware.json')},
    kernels: {type: 'string'},
    stat: {type: 'string', default: 'token'},
    capacity: {type: 'string', default: 'q75'},
  },
})
const cal = JSON.parse(readFileSync(a.calibrate!, 'utf8')) as CalibrateResult
const rows = JSON.parse(readFileSync(a.rows!, 'utf8')) as Array<{
  shape: string
  threads: number
  test: string
  decode: {measured: number | null; predicted: number}
  decodeRep?: {measured: number | null; predicted: number}
  prefill?: {measured: number | null; predicted: number}
}>
if (a.stat !== 'token' && a.stat !== 'rep') {
  console.error(`speed-refit: --stat must be token or rep, got "${a.stat}"`)
  process.exit(2)
}
const byRep = a.stat === 'rep'
const saved = await loadHardware(a.hardware!)
const base: HardwareProfile = {...saved, calibration: undefined}
if (!Object.hasOwn(SYNTH_PRESETS, DEEP_PRESET))
  SYNTH_PRESETS[DEEP_PRESET] = {
    ...SYNTH_PRESETS.tiny,
    name: DEEP_PRESET,
    hparams: {...SYNTH_PRESETS.tiny.hparams, nLayer: 16},
  }
const preset = (model: string) => /^synth (\S+) /.exec(model)?.[1] ?? model
// --kernels FILE: another kernel fit (calibration.decodeKernels, or {fit} as a script saved it) judged on these measurements
const otherKernels = a.kernels ? readKernels(a.kernels) : null
const kernelsIn = otherKernels ?? cal.calibration.decodeKernels
if (!(a.capacity! in CAPACITY_PICKS)) {
  console.error(`speed-refit: --capacity must be ${Object.keys(CAPACITY_PICKS).join(', ')}, got "${a.capacity}"`)
  process.exit(2)
}
if (a.capacity !== 'q75' && !cal.capacitySamples?.length) {
  console.error(
    'speed-refit: --capacity needs a calibrate result with capacitySamples (calibrate --json since this option)',
  )
  process.exit(2)
}
// the curves rebuilt from every sample with the pick (a result from before the median keeps no other)
const kernels = kernelsIn
  ? {
      ...kernelsIn,
      overheads: [],
      ...(cal.capacitySamples?.length
        ? {llc: capacityCurvesFrom(cal.capacitySamples, CAPACITY_PICKS[a.capacity as CapacityPick])}
        : {}),
    }
  : undefined
console.log(
  `capacity curves: ${cal.capacitySamples?.length ? a.capacity : 'as calibrated'} of ${cal.capacitySamples?.[0]?.shares.length ?? 1} sample(s) at each total`,
)

// one sample per role, model and thread count, as calibrate made them
const samples: Sample[] = []
for (const m of cal.measurements) {
  const test = /^(pp|tg)(\d+)$/.exec(m.test)
  if (!test) continue
  let s = samples.find((x) => x.role === m.role && x.terms.name === m.model && x.threads === m.threads)
  if (!s) {
    const sameModel = cal.measurements.filter(
      (x) => x.role === m.role && x.model === m.model && x.threads === m.threads,
    )
    const nPrompt = Number(/^pp(\d+)$/.exec(sameModel.find((x) => x.test.startsWith('pp'))?.test ?? '')?.[1] ?? 0)
    const nGen = Number(/^tg(\d+)$/.exec(sameModel.find((x) => x.test.startsWith('tg'))?.test ?? '')?.[1] ?? 0)
    const path = await cachedSynthModel({preset: preset(m.model), quant: 'Q4_K_M'})
    s = {
      role: m.role,
      threads: m.threads,
      terms: await modelTerms(path, base, m.threads, {nPrompt, nGen}, m.model, kernels),
      decodeTps: null,
      prefillTps: null,
    }
    samples.push(s)
  }
  // decode: the fastest token step where the calibration saved it (what calibrate fits), else the best repetition
  if (test[1] === 'tg') s.decodeTps = Math.max(s.decodeTps ?? 0, (byRep ? undefined : m.tokenTps) ?? m.tps)
  else s.prefillTps = Math.max(s.prefillTps ?? 0, m.tps)
}
const refit = fitCalibration(
  samples,
  {
    measuredAt: cal.calibration.measuredAt,
    llamaCppRelease: cal.calibration.llamaCppRelease ?? null,
    cpuVariant: cal.calibration.cpuVariant ?? null,
    models: cal.calibration.models ?? [],
  },
  kernels,
)
console.log(`overheads: ${JSON.stringify(refit.decodeKernels?.overheads ?? null)}`)
const profile: HardwareProfile = {...base, calibration: refit}
const rates: HardwareProfile = {...base, calibration: {...refit, decodeKernels: undefined}}
const pct = (p: number, m: number) => `${p >= m ? '+' : ''}${((p / m - 1) * 100).toFixed(1)} %`
/** a row's shape planned with a profile at its thread count */
const planRow = async (row: (typeof rows)[number], p: HardwareProfile, ctx: number, ubatch: number) =>
  (
    await runPlan({
      model: await cachedSynthModel({preset: row.shape, quant: 'Q4_K_M'}),
      hardware: 'x',
      profiles: [p],
      engine: 'llama.cpp',
      threads: row.threads,
      ctx,
      ubatch,
    })
  ).prediction
const errs: number[] = [],
  rateErrs: number[] = []
for (const row of rows) {
  const n = Number(/tg(\d+)/.exec(row.test)?.[1] ?? 0)
  const plan = async (p: HardwareProfile) => (await planRow(row, p, n, 512)).decodeTps!
  const k = await plan(profile),
    rt = await plan(rates)
  const m = (byRep ? (row.decodeRep ?? row.decode) : row.decode).measured!
  errs.push(Math.abs(k / m - 1) * 100)
  rateErrs.push(Math.abs(rt / m - 1) * 100)
  console.log(
    `${row.shape.padEnd(14)} t${row.threads}  measured ${m.toFixed(1).padStart(7)}  kernels ${k.toFixed(1).padStart(7)} (${pct(k, m)})  rates ${rt.toFixed(1).padStart(7)} (${pct(rt, m)})  [bench printed ${row.decode.predicted.toFixed(1)}]`,
  )
}
console.log(
  `decode median |error|: kernels ${median(errs)!.toFixed(1)} % (${errs.filter((x) => x <= 10).length} of ${errs.length} within 10 %), rates ${median(rateErrs)!.toFixed(1)} % (${rateErrs.filter((x) => x <= 10).length} within 10 %)`,
)
// prefill: the test's prompt as one ubatch (what bench/speed-fidelity plans)
const ppErrs: number[] = []
for (const row of rows) {
  const n = Number(/pp(\d+)/.exec(row.test)?.[1] ?? 0)
  const m = row.prefill?.measured
  if (!n || !m) continue
  const pp = (await planRow(row, profile, n, n)).prefillTps!
  ppErrs.push(Math.abs(pp / m - 1) * 100)
  console.log(
    `${row.shape.padEnd(14)} t${row.threads}  prefill measured ${m.toFixed(1).padStart(8)}  predicted ${pp.toFixed(1).padStart(8)} (${pct(pp, m)})  [bench printed ${row.prefill!.predicted.toFixed(1)}]`,
  )
}
if (ppErrs.length)
  console.log(
    `prefill median |error|: ${median(ppErrs)!.toFixed(1)} % (${ppErrs.filter((x) => x <= 20).length} of ${ppErrs.length} within 20 %)`,
  )

/** A kernel fit file, or one line naming what is wrong with it and exit 2. */
function readKernels(path: string): DecodeKernels {
  try {
    const j = JSON.parse(readFileSync(path, 'utf8'))
    const fit = j?.fit ?? j
    if (!Array.isArray(fit?.kernels)) throw new Error('no kernels[] (a calibration.decodeKernels or {fit})')
    return fit as DecodeKernels
  } catch (e) {
    console.error(`speed-refit: --kernels ${path}: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(2)
  }
}
