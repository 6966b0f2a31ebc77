#!/usr/bin/env -S node --import tsx
/**
 * bench/runner-parity — our `bench` beside llama.cpp's own llama-bench of the same release, on the
 * same synthetic r1-mini file, same threads, same -p/-n/-r, interleaved round by round so that
 * machine noise hits both alike. Prints per-round t/s, the ratios ours/llama-bench for pp and tg
 * (goal ≥ 0.97), the routing-trace overhead of `run --trace`, and decode bandwidth use:
 * active bytes per token × tg t/s ÷ STREAM triad GB/s.
 *
 * Run:   npm run bench:runner-parity
 *        npm run bench:runner-parity -- --rounds 3 -p 512 -n 128 -r 5 -t 16 --profile my-rig.json
 * Needs: g++ (llama-bench compiles in ~15 s against the prebuilt libraries), a built addon.
 * Writes build/llama-bench/ (the binary) and build/models/r1-mini.gguf (moerig synth) if missing.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {pathToFileURL} from 'node:url'
import {engineBuild} from '../src/engine/addon.js'
import {projectRoot} from '../src/lib/paths.js'
import {runBench} from '../src/runner/bench.js'
import {runPrompt} from '../src/runner/run.js'
import {physicalCores} from '../src/runner/provenance.js'
import {measureMemBandwidth, membwArrayBytesPerThread} from '../src/engine/membw.js'
import {readGguf} from '../src/model/gguf.js'

const GOAL = 0.97
const EXPERT_RE = /\.ffn_(gate|up|down|gate_up)_exps\./

/** build/llama-bench/llama-bench, compiled once against the prebuilt libraries (bench/rpc.ts uses it too). */
export function compileLlamaBench(): string {
  const b = engineBuild()
  const src = b.source
  const out = join(projectRoot, 'build', 'llama-bench')
  const exe = join(out, 'llama-bench')
  if (existsSync(exe)) return exe
  mkdirSync(out, {recursive: true})
  const dir = join(src, 'tools', 'llama-bench')
  const cpp = readFileSync0(dir)
  console.log(`compiling llama-bench ${b.release} against ${b.libDir} …`)
  execFileSync(
    'g++',
    [
      '-O2',
      '-DNDEBUG',
      '-std=c++17',
      ...cpp,
      `-I${dir}`,
      `-I${join(src, 'include')}`,
      `-I${join(src, 'ggml', 'include')}`,
      `-I${join(src, 'common')}`,
      `-I${join(src, 'vendor')}`,
      `-L${b.libDir}`,
      '-l:libllama-common.so',
      ...b.libs.map((l) => `-l:${l}`),
      `-Wl,-rpath,${b.libDir}`,
      '-o',
      exe,
    ],
    {stdio: 'inherit'},
  )
  return exe
}

function readFileSync0(dir: string): string[] {
  return execFileSync('sh', ['-c', `ls ${dir}/*.cpp`], {encoding: 'utf8'})
    .trim()
    .split('\n')
}

interface Pair {
  pp: number | null
  tg: number | null
}

/** llama-bench -o json; run from the library folder (it looks for the CPU variants in its working folder). */
function runLlamaBench(exe: string, model: string, p: number, n: number, r: number, t: number): Pair {
  const out = execFileSync(
    exe,
    ['-m', model, '-p', String(p), '-n', String(n), '-r', String(r), '-t', String(t), '-o', 'json'],
    {cwd: engineBuild().libDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 2 ** 20},
  )
  const rows = JSON.parse(out) as Array<{n_prompt: number; n_gen: number; avg_ts: number}>
  return {
    pp: rows.find((x) => x.n_prompt > 0 && x.n_gen === 0)?.avg_ts ?? null,
    tg: rows.find((x) => x.n_gen > 0 && x.n_prompt === 0)?.avg_ts ?? null,
  }
}

async function runOurs(model: string, p: number, n: number, r: number, t: number): Promise<Pair> {
  const res = await runBench({path: model, nPrompt: [p], nGen: [n], reps: r, threads: t, runsDir: null})
  return {
    pp: res.results.find((x) => x.nPrompt > 0)?.tps.mean ?? null,
    tg: res.results.find((x) => x.nGen > 0)?.tps.mean ?? null,
  }
}

/** Bytes read per decoded token: every tensor but the routed experts and the embedding table, plus k of n experts. */
async function activeBytesPerToken(model: string): Promise<{active: number; total: number}> {
  const g = await readGguf(model)
  const arch = g.arch
  const nExpert = Number(g.metadata[`${arch}.expert_count`] ?? 0)
  const k = Number(g.metadata[`${arch}.expert_used_count`] ?? 0)
  let dense = 0
  let experts = 0
  for (const t of g.tensors) {
    if (t.name === 'token_embd.weight') continue // one row per token
    if (EXPERT_RE.test(`.${t.name}`) || EXPERT_RE.test(t.name)) experts += t.bytes
    else dense += t.bytes
  }
  return {active: dense + (nExpert > 0 ? (experts * k) / nExpert : experts), total: g.tensorBytes}
}

async function triadGBs(profile: string | undefined, threads: number): Promise<{gbs: number; source: string}> {
  if (profile) {
    const p = JSON.parse(readFileSync(profile, 'utf8'))
    if (p.bandwidth?.triadGBs) return {gbs: p.bandwidth.triadGBs, source: `probe --measure profile ${profile}`}
    console.log(`(${profile} has no measured bandwidth; measuring)`)
  }
  const cpus = Array.from({length: threads}, (_, i) => i)
  const r = await measureMemBandwidth({
    nodes: [{id: 0, cpus}],
    arrayBytesPerThread: membwArrayBytesPerThread(threads, null),
    repetitions: 5,
    perNode: false,
  })
  return {gbs: r.triadGBs, source: `addon memBandwidth now, ${threads} threads`}
}

const f = (x: number | null) => (x === null ? '   n/a' : x.toFixed(2).padStart(8))

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      model: {type: 'string'},
      rounds: {type: 'string', default: '2'},
      p: {type: 'string', short: 'p', default: '128'},
      n: {type: 'string', short: 'n', default: '32'},
      r: {type: 'string', short: 'r', default: '3'},
      t: {type: 'string', short: 't'},
      profile: {type: 'string'},
      'trace-tokens': {type: 'string', default: '32'},
    },
  })
  const model = values.model ?? join(projectRoot, 'build', 'models', 'r1-mini.gguf')
  if (!existsSync(model)) {
    console.log(`synthesizing ${model} (moerig synth --preset r1-mini) …`)
    execFileSync(process.execPath, [join(projectRoot, 'bin', 'run.js'), 'synth', '--preset', 'r1-mini', '-o', model], {
      stdio: 'inherit',
    })
  }
  const [rounds, p, n, r] = [values.rounds, values.p, values.n, values.r].map(Number)
  const t = values.t ? Number(values.t) : physicalCores()
  const exe = compileLlamaBench()
  console.log(`runner-parity: ${model}, -p ${p} -n ${n} -r ${r} -t ${t}, ${rounds} interleaved rounds`)
  console.log('round   llama-bench pp   ours pp   llama-bench tg   ours tg   (t/s)')
  const ratios = {pp: [] as number[], tg: [] as number[]}
  const best = {lb: {pp: 0, tg: 0}, us: {pp: 0, tg: 0}}
  const oursTg: number[] = []
  for (let i = 1; i <= rounds; i++) {
    // alternate which goes first, so that slow drifts in machine load do not favour one side
    let lb: Pair
    let us: Pair
    if (i % 2 === 1) {
      lb = runLlamaBench(exe, model, p, n, r, t)
      us = await runOurs(model, p, n, r, t)
    } else {
      us = await runOurs(model, p, n, r, t)
      lb = runLlamaBench(exe, model, p, n, r, t)
    }
    if (lb.pp && us.pp) ratios.pp.push(us.pp / lb.pp)
    if (lb.tg && us.tg) ratios.tg.push(us.tg / lb.tg)
    if (us.tg) oursTg.push(us.tg)
    for (const k of ['pp', 'tg'] as const) {
      best.lb[k] = Math.max(best.lb[k], lb[k] ?? 0)
      best.us[k] = Math.max(best.us[k], us[k] ?? 0)
    }
    console.log(`${String(i).padStart(5)}   ${f(lb.pp)}        ${f(us.pp)}   ${f(lb.tg)}        ${f(us.tg)}`)
  }
  const med = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : NaN)
  for (const k of ['pp', 'tg'] as const) {
    const m = med(ratios[k])
    // best-vs-best is the least disturbed by other load on the machine; the per-round median shows the spread
    const bb = best.lb[k] > 0 ? best.us[k] / best.lb[k] : NaN
    console.log(
      `${k}: ours / llama-bench = ${bb.toFixed(3)} best-vs-best (${best.us[k].toFixed(2)} / ${best.lb[k].toFixed(2)} t/s), ` +
        `${m.toFixed(3)} median per round (${ratios[k].map((x) => x.toFixed(3)).join(', ')}); goal ≥ ${GOAL}: ${bb >= GOAL ? 'met' : 'NOT met'}`,
    )
  }

  // trace overhead: the same prompt and generation with and without the routing trace, interleaved
  const prompt =
    'The history of the Roman Empire spans more than a thousand years, from the founding of the city to the fall of Constantinople. '.repeat(
      2,
    )
  const nTok = Number(values['trace-tokens'])
  const plain = {pre: [] as number[], dec: [] as number[]}
  const traced = {pre: [] as number[], dec: [] as number[]}
  const tracePath = join(projectRoot, 'build', 'runner-parity.moetrace')
  for (let i = 0; i < rounds; i++) {
    const plainRun = () => runPrompt({path: model, prompt, nPredict: nTok, threads: t, nCtx: 1024, runsDir: null})
    const tracedRun = () =>
      runPrompt({path: model, prompt, nPredict: nTok, threads: t, nCtx: 1024, runsDir: null, tracePath})
    // alternate the order here too
    const first = i % 2 === 0 ? await plainRun() : await tracedRun()
    const second = i % 2 === 0 ? await tracedRun() : await plainRun()
    const [a, b] = i % 2 === 0 ? [first, second] : [second, first]
    plain.pre.push(a.prefill.tps ?? 0)
    plain.dec.push(a.decode.tps ?? 0)
    traced.pre.push(b.prefill.tps ?? 0)
    traced.dec.push(b.decode.tps ?? 0)
  }
  console.log(
    `trace mode (run --trace, ${nTok} tokens): prefill ${med(traced.pre).toFixed(2)} vs ${med(plain.pre).toFixed(2)} t/s (${(med(traced.pre) / med(plain.pre)).toFixed(3)}×), ` +
      `decode ${med(traced.dec).toFixed(2)} vs ${med(plain.dec).toFixed(2)} t/s (${(med(traced.dec) / med(plain.dec)).toFixed(3)}×)`,
  )

  // decode bandwidth use
  const bytes = await activeBytesPerToken(model)
  const bw = await triadGBs(values.profile, t)
  const tg = med(oursTg)
  const used = (bytes.active * tg) / 1e9
  console.log(
    `decode bandwidth: ${(bytes.active / 1e6).toFixed(1)} MB active per token (of ${(bytes.total / 1e6).toFixed(1)} MB) × ${tg.toFixed(2)} t/s = ${used.toFixed(2)} GB/s` +
      ` = ${((100 * used) / bw.gbs).toFixed(1)}% of triad ${bw.gbs.toFixed(1)} GB/s (${bw.source})`,
  )
}

// run as a script (not when bench/rpc.ts imports compileLlamaBench)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  main().catch((e: unknown) => {
    console.error(`runner-parity: error: ${(e as Error).message.split('\n')[0]}`)
    process.exit(1)
  })
