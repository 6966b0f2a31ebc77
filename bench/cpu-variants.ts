#!/usr/bin/env -S node --import tsx
/**
 * bench/cpu-variants — prefill and decode of one model under each CPU backend configuration this
 * machine can run, interleaved round by round so that machine noise hits all alike: ggml's pick
 * with its extra buffer types (on an AMX Xeon: AMX + CPU_REPACK, with the engine's AMX guard),
 * the same with --no-repack, and the best variant without AMX (zen4 / icelake …) with and
 * without CPU_REPACK. Prints t/s per round, the median per configuration and its ratio to
 * ggml's pick. This is the measurement behind the README's "CPU variants, AMX and repacking".
 *
 * Run:   npm run bench:cpu-variants -- [--model FILE] [--rounds 3] [-p 512] [-n 64] [-r 3] [-t 2]
 * Needs: a built addon; synthesizes build/models/r1-mini.gguf if --model is not given.
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {projectRoot} from '../src/lib/paths.js'
import {runBench} from '../src/runner/bench.js'
import {listEngineDevices} from '../src/runner/checkplan.js'
import {physicalCores} from '../src/runner/provenance.js'
import {synthModel} from '../src/runner/synth.js'

const {values: a} = parseArgs({
  options: {
    model: {type: 'string'},
    rounds: {type: 'string', default: '3'},
    p: {type: 'string', short: 'p', default: '512'},
    n: {type: 'string', short: 'n', default: '64'},
    r: {type: 'string', short: 'r', default: '3'},
    t: {type: 'string', short: 't'},
  },
})
const rounds = Number(a.rounds)
const [p, n, r] = [Number(a.p), Number(a.n), Number(a.r)]
const t = a.t ? Number(a.t) : physicalCores()

let model = a.model ?? join(projectRoot, 'build', 'models', 'r1-mini.gguf')
if (!a.model && !existsSync(model)) {
  console.log('synthesizing r1-mini …')
  model = (await synthModel({preset: 'r1-mini', quant: 'Q4_K_M', output: model})).path
}

const engine = await listEngineDevices()
const pick = engine.cpuVariant
const noAmx = engine.cpuVariants.find((v) => v.loadable && v.name !== pick)?.name
interface Config {
  label: string
  cpuVariant?: string
  repack: boolean
}
const configs: Config[] = [
  {label: `${pick} (ggml's pick), extra buffer types on`, repack: true},
  {label: `${pick}, --no-repack`, repack: false},
  ...(noAmx && engine.cpuExtraBufferTypes.includes('AMX')
    ? [
        {label: `${noAmx} (no AMX), extra buffer types on`, cpuVariant: noAmx, repack: true},
        {label: `${noAmx}, --no-repack`, cpuVariant: noAmx, repack: false},
      ]
    : []),
]

console.log(
  `model ${model}, pp${p} / tg${n}, ${r} repetitions, ${t} threads, ${rounds} rounds; CPU variants run here: ${engine.cpuVariants
    .filter((v) => v.loadable)
    .map((v) => v.name)
    .join(', ')}`,
)
const pp: number[][] = configs.map(() => [])
const tg: number[][] = configs.map(() => [])
for (let round = 1; round <= rounds; round++) {
  for (const [i, c] of configs.entries()) {
    const res = await runBench({
      path: model,
      nPrompt: [p],
      nGen: [n],
      reps: r,
      threads: t,
      runsDir: null,
      cpuVariant: c.cpuVariant,
      placement: {repack: c.repack},
    })
    const x = res.results.find((q) => q.nPrompt > 0)!.tps.mean
    const y = res.results.find((q) => q.nGen > 0)!.tps.mean
    pp[i].push(x)
    tg[i].push(y)
    const prov = res.provenance
    console.log(
      `round ${round}  ${c.label.padEnd(48)} pp${p} ${x.toFixed(1).padStart(8)} t/s  tg${n} ${y.toFixed(2).padStart(7)} t/s  [${prov.cpuVariant}; ${prov.extraBufferTypes?.join(', ') || 'no extra buffer types'}; ${prov.amxGuardedTensors ?? 0} guarded; load ${prov.loadMs} ms]`,
    )
  }
}
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]
console.log(`\nmedian over ${rounds} rounds (ratio to ggml's pick with extra buffer types):`)
for (const [i, c] of configs.entries()) {
  console.log(
    `  ${c.label.padEnd(48)} pp${p} ${median(pp[i]).toFixed(1).padStart(8)} t/s (${(median(pp[i]) / median(pp[0])).toFixed(2)})   tg${n} ${median(tg[i]).toFixed(2).padStart(7)} t/s (${(median(tg[i]) / median(tg[0])).toFixed(2)})`,
  )
}
