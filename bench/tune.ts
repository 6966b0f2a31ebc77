#!/usr/bin/env -S node --import tsx
/**
 * bench/tune — how good is `moerig tune`'s search (issue 14)? On the synthetic models, on this
 * machine:
 *   1. exhaustive: every configuration of tune's space that fits (the same space, the same
 *      predictions) measured with --exhaustive-reps repetitions; its measurement time is T;
 *   2. tune: the plan-guided search with a budget of --share × T;
 *   3. side by side: tune's winner, the exhaustive best and llama.cpp's defaults re-measured in
 *      interleaved rounds (machine noise hits all alike), medians compared.
 * Prints how close tune gets (goal: ≥ 0.95 of the exhaustive best at ≤ 25 % of its measurement
 * time) and the gain over llama.cpp's defaults. The exhaustive search runs on the first preset
 * only (the small model); the others compare tune (--budget) against the defaults.
 * The load average is printed with every number: on a shared machine they are noisy.
 *
 * Run:   npm run bench:tune -- [--presets tiny,r1-mini] [--share 0.25] [--budget 3m] [-p 256] [-n 16]
 *        [--objective decode] [--exhaustive-reps 2] [--rounds 3]
 * Needs: a built addon; synthesizes the presets (cached under .moerig-cache/synth).
 */
import {cpus, loadavg} from 'node:os'
import {parseArgs} from 'node:util'
import {loadHardware} from '../src/probe/machine.js'
import {parseBudget} from '../src/runner/calibrate.js'
import {median} from '../src/runner/stats.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {benchMeasurer} from '../src/tune/measure.js'
import {score, search, type Candidate, type Objective} from '../src/tune/search.js'
import {configFlags} from '../src/tune/space.js'
import {prepareTune, type TunePrep} from '../src/tune/tune.js'

const {values: a} = parseArgs({
  options: {
    presets: {type: 'string', default: 'tiny,r1-mini'},
    share: {type: 'string', default: '0.25'},
    budget: {type: 'string', default: '3m'},
    p: {type: 'string', short: 'p', default: '256'},
    n: {type: 'string', short: 'n', default: '16'},
    objective: {type: 'string', default: 'decode'},
    'exhaustive-reps': {type: 'string', default: '2'},
    rounds: {type: 'string', default: '3'},
  },
})
const tests = {nPrompt: Number(a.p), nGen: Number(a.n)}
const objective = a.objective as Objective
const share = Number(a.share)
const rounds = Number(a.rounds)
const exReps = Number(a['exhaustive-reps'])
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')
const profile = await loadHardware('probe')
console.log(
  `bench/tune on ${profile.cpu.model} (${cpus().length} logical CPUs), objective ${objective}, pp${tests.nPrompt}/tg${tests.nGen}; load average ${load()}`,
)

const flagsOf = (prep: TunePrep, c: Candidate) =>
  `${configFlags(c.config)}${prep.predictions.get(c.id)!.placement.nGpuLayers ? ' (GPU)' : ''}`

/** Interleaved re-measurement of a few configurations: medians of each round's mean score. */
async function sideBySide(prep: TunePrep, model: string, cands: Candidate[]): Promise<number[]> {
  const m = benchMeasurer({path: model, tests, prediction: (id) => prep.predictions.get(id)!})
  const scores: number[][] = cands.map(() => [])
  for (let r = 1; r <= rounds; r++) {
    for (const [i, c] of cands.entries()) {
      const x = await m.measure(c, 3)
      const mean = (v: number[]) => (v.length ? v.reduce((s, y) => s + y, 0) / v.length : null)
      const s = score(objective, mean(x.decode), mean(x.prefill))
      if (s !== null) scores[i].push(s)
      console.log(`  round ${r} ${flagsOf(prep, c).padEnd(64)} ${s?.toFixed(2) ?? 'failed'} t/s  (load ${load()})`)
    }
  }
  return scores.map((v) => median(v) ?? 0)
}

const presets = a.presets!.split(',').map((s) => s.trim())
for (const [pi, preset] of presets.entries()) {
  const model = await cachedSynthModel({preset, quant: 'Q4_K_M'})
  const prep = await prepareTune({
    model,
    profiles: [profile],
    objective,
    budgetS: 1,
    outDir: null,
    tests,
    space: {ubatchValues: [128, 256, 512]},
  })
  console.log(
    `\n${preset} (${model}): ${prep.total} configurations, ${prep.candidates.length} fit; load average ${load()}`,
  )
  const exhaustive = pi === 0
  let exBest: Candidate | null = null
  let exSeconds = 0
  if (exhaustive) {
    const m = benchMeasurer({path: model, tests, prediction: (id) => prep.predictions.get(id)!})
    let best = -1
    for (const [i, c] of prep.candidates.entries()) {
      const r = await m.measure(c, exReps)
      exSeconds += r.seconds
      const mean = (v: number[]) => (v.length ? v.reduce((s, y) => s + y, 0) / v.length : null)
      const s = score(objective, mean(r.decode), mean(r.prefill))
      if (s !== null && s > best) {
        best = s
        exBest = c
      }
      if (i % 10 === 0 || i === prep.candidates.length - 1)
        console.log(
          `  exhaustive ${i + 1}/${prep.candidates.length}: ${exSeconds.toFixed(0)} s, best ${best.toFixed(2)} (${exBest ? flagsOf(prep, exBest) : '—'}); load ${load()}`,
        )
    }
  }
  const budgetS = exhaustive ? share * exSeconds : parseBudget(a.budget!)
  const t0 = performance.now()
  const s = await search(
    prep.candidates,
    benchMeasurer({path: model, tests, prediction: (id) => prep.predictions.get(id)!}),
    {objective, budgetS, now: () => performance.now() / 1000, tests},
  )
  const winner = prep.candidates.find((c) => c.id === s.winner)!
  console.log(
    `  tune: ${s.measured.length} measured in ${s.measureSeconds.toFixed(0)} s (budget ${budgetS.toFixed(0)} s${exhaustive ? `, ${((100 * s.measureSeconds) / exSeconds).toFixed(0)} % of exhaustive's ${exSeconds.toFixed(0)} s` : ''}; wall ${((performance.now() - t0) / 1000).toFixed(0)} s), stop: ${s.stop}; winner ${flagsOf(prep, winner)}`,
  )
  const side = [
    winner,
    ...(exBest && exBest.id !== winner.id ? [exBest] : []),
    ...(prep.defaults ? [prep.defaults] : []),
  ]
  const uniq = side.filter((c, i) => side.findIndex((x) => x.id === c.id) === i)
  console.log(`  side by side, ${rounds} interleaved rounds of 3 repetitions:`)
  const med = await sideBySide(prep, model, uniq)
  const of = (c: Candidate | null) => (c ? med[uniq.findIndex((x) => x.id === c.id)] : null)
  const w = of(winner)!
  const ex = of(exBest)
  const d = of(prep.defaults)
  console.log(`  ${preset} result (median ${objective} score, t/s; load average ${load()}):`)
  console.log(`    tune winner      ${w.toFixed(2)}  ${flagsOf(prep, winner)}`)
  if (ex !== null && exBest)
    console.log(
      `    exhaustive best  ${ex.toFixed(2)}  ${flagsOf(prep, exBest)}\n    tune / exhaustive = ${(w / ex).toFixed(3)} (goal ≥ 0.95) at ${((100 * s.measureSeconds) / exSeconds).toFixed(0)} % of its measurement time (goal ≤ 25 %)`,
    )
  if (d !== null && prep.defaults)
    console.log(
      `    llama.cpp defaults ${d.toFixed(2)}  ${flagsOf(prep, prep.defaults)}\n    gain over defaults = ×${(w / d).toFixed(3)}`,
    )
}
