#!/usr/bin/env -S node --import tsx
/**
 * bench/op-profile (issue 13) — where a decoded token's time goes inside a model, node by node, to
 * hold the speed model's parts against: each matmul's time next to what calibrate's kernel lines
 * charge it (`plan --json`'s parts), the ops the model does not charge one by one (norms, the
 * router's sort, the experts' weighting), the logits' copy after the last node. It found the two
 * errors of the twelfth pass (docs/speed-fidelity.md): MLA's per-head products charged ×3.8 their
 * streamed line (the decode attention cases counted as stacked ones) and a per-op cost per routed
 * expert where MUL_MAT_ID is one op.
 *
 * Builds bench/native/opprof.cpp against the engine's llama.cpp (build/native/engine.json: its
 * headers and libraries; g++ as for the addon) into build/opprof, then decodes `-n` single tokens
 * with llama.cpp's eval callback asking for every node (one node per graph call: each node's time
 * is the gap between two callbacks, ≈ 0.5 µs of it the call) and as many without it.
 *
 * With `--hardware FILE` (a calibrated profile, e.g. reports/speed-fidelity-hardware.json) it plans the
 * model on it at the same thread count and depth and sets each kind of matmul (type, K, rows, layout:
 * plan --json's prediction.decodeCpuOps) beside the nodes of that kind.
 *
 * Run:   npm run bench:op-profile -- <model.gguf | synth preset> [-t 1] [-n 100] [-b 1] [--hardware FILE] [--json] [--all]
 *        (-b N: each decode a prompt of N tokens on an emptied cache, prefill's ubatch, -n of them; the
 *        plan comparison is decode's, so not with -b; --all: every node, not the heaviest 40 groups)
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {projectRoot} from '../src/lib/paths.js'
import {engineBuild} from '../src/engine/addon.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {SYNTH_PRESETS} from '../src/model/synth-presets.js'
import {runPlan} from '../src/planner/run.js'
import {loadHardware} from '../src/probe/machine.js'

const {values: a, positionals} = parseArgs({
  allowPositionals: true,
  options: {
    t: {type: 'string', short: 't', default: '1'},
    n: {type: 'string', short: 'n', default: '100'},
    b: {type: 'string', short: 'b', default: '1'},
    json: {type: 'boolean'},
    all: {type: 'boolean'},
    hardware: {type: 'string'},
  },
})
const threads = Number(a.t),
  tokens = Number(a.n),
  batch = Number(a.b)
// the profiler's context holds 512 tokens: 4 warm-up tokens + n
if (!(Number.isInteger(threads) && threads >= 1 && Number.isInteger(tokens) && tokens >= 1 && tokens <= 496)) {
  console.error('op-profile: -t takes a whole number ≥ 1, -n one in 1 … 496')
  process.exit(2)
}
if (!(Number.isInteger(batch) && batch >= 1 && batch <= 512)) {
  console.error('op-profile: -b takes a whole number of tokens in 1 … 512')
  process.exit(2)
}
if (batch > 1 && a.hardware) {
  console.error("op-profile: --hardware compares decode's parts: not with -b")
  process.exit(2)
}
if (positionals.length !== 1) {
  console.error(`op-profile: one model (a GGUF file or a synth preset: ${Object.keys(SYNTH_PRESETS).join(', ')})`)
  process.exit(2)
}
const model = Object.hasOwn(SYNTH_PRESETS, positionals[0])
  ? await cachedSynthModel({preset: positionals[0]})
  : positionals[0]
if (!existsSync(model)) {
  console.error(`op-profile: ${model}: no such file`)
  process.exit(2)
}

const build = engineBuild()
const src = join(projectRoot, 'bench', 'native', 'opprof.cpp')
const bin = join(projectRoot, 'build', 'opprof')
if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
  mkdirSync(join(projectRoot, 'build'), {recursive: true})
  const libs = build.libs.filter((l) => existsSync(join(build.libDir, l)))
  execFileSync(
    'g++',
    [
      '-O2',
      '-std=c++17',
      src,
      `-I${join(build.source, 'include')}`,
      `-I${join(build.source, 'ggml', 'include')}`,
      `-L${build.libDir}`,
      ...libs.map((l) => `-l:${l}`),
      `-Wl,-rpath,${build.libDir}`,
      '-o',
      bin,
    ],
    {stdio: 'inherit'},
  )
}
if (!readdirSync(build.libDir).some((f) => f.startsWith('libggml-cpu'))) {
  console.error(`op-profile: no CPU backend library in ${build.libDir}`)
  process.exit(1)
}
let out = ''
try {
  out = execFileSync(bin, [build.libDir, model, String(threads), String(tokens), String(batch)], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
} catch (e) {
  // opprof's own one line (a file llama.cpp cannot load, a failed decode), else the signal
  const err = e as {stderr?: string; signal?: string; status?: number}
  console.error(err.stderr?.trim() || `op-profile: opprof ended with ${err.signal ?? `status ${err.status}`}`)
  process.exit(1)
}

interface Group {
  op: string
  name: string
  weight: string
  shape: string
  /** a matmul's kind as the planner names it (type|K|rows|layout), else null */
  kind: string | null
  /** nodes of the group per token */
  nodes: number
  /** Σ of each node's fastest time (µs per token) */
  fastestUs: number
  medianUs: number
}
const groups = new Map<string, Group>()
let token = {profiledUs: 0, profiledMedianUs: 0, plainUs: 0, plainMedianUs: 0}
for (const line of out.trim().split('\n')) {
  const f = line.split('\t')
  if (f[0] === 'token') {
    const [pf, pm, tf, tm] = f.slice(1).map((x) => Number(x) * 1e6)
    token = {profiledUs: pf, profiledMedianUs: pm, plainUs: tf, plainMedianUs: tm}
    continue
  }
  const [op, name, weight, ne0, ne1, ne2, fast, med] = f.slice(1)
  // one group per op, name without its layer suffix, weight type and shape (a layer's nodes together)
  const stem = name.replace(/-\d+$/, '').replace(/^node_\d+$/, 'node')
  const shape = weight === '-' ? '' : `${ne0}×${ne1}${Number(ne2) > 1 ? `×${ne2}` : ''}`
  const key = [op, stem, weight, shape].join('\t')
  const g = groups.get(key) ?? {
    op,
    name: stem,
    weight,
    shape,
    kind: kindOf(op, weight, ne0, ne1, ne2),
    nodes: 0,
    fastestUs: 0,
    medianUs: 0,
  }
  g.nodes++
  g.fastestUs += Number(fast) * 1e6
  g.medianUs += Number(med) * 1e6
  groups.set(key, g)
}
const rows = [...groups.values()].sort((x, y) => y.fastestUs - x.fastestUs)

/**
 * A matmul node's kind in the planner's terms (speed.ts CpuMat): MUL_MAT_ID a routed stack (rows
 * per expert), a 3-D MUL_MAT MLA's per-head stack (rows × heads), else a 2-D matrix; null for other nodes.
 */
function kindOf(op: string, weight: string, ne0: string, ne1: string, ne2: string): string | null {
  if (op !== 'MUL_MAT' && op !== 'MUL_MAT_ID') return null
  const [k, r, m] = [ne0, ne1, ne2].map(Number)
  const [rows, layout] = op === 'MUL_MAT_ID' ? [r, 'experts'] : m > 1 ? [r * m, 'stacked'] : [r, 'matrix']
  return kindKey({type: weight, k, rows, layout})
}

/** one key for a node's kind and a planned one (ggml's 'q4_K' and the planner's 'Q4_K' alike) */
function kindKey(o: {type: string; k: number; rows: number; layout: string}): string {
  return `${o.type.toUpperCase()}|${o.k}|${o.rows}|${o.layout}`
}

/** plan --json's decodeCpuOps on --hardware at this thread count and depth, or null */
async function plannedOps(): Promise<Map<string, {us: number; count: number; cacheShare: number}> | null> {
  if (!a.hardware) return null
  const plan = await runPlan({
    model,
    hardware: 'x',
    profiles: [await loadHardware(a.hardware)],
    engine: 'llama.cpp',
    threads,
    ctx: 4 + tokens,
    ubatch: 512,
  })
  const ops = plan.prediction.decodeCpuOps
  if (!ops) {
    console.error(
      `op-profile: ${a.hardware} has no measured decode kernels (run moerig calibrate): nothing planned per op`,
    )
    process.exit(2)
  }
  return new Map(ops.map((o) => [kindKey(o), o]))
}
const planned = await plannedOps()
const matmul = (g: Group) => g.op === 'MUL_MAT' || g.op === 'MUL_MAT_ID'
const sum = (gs: Group[]) => gs.reduce((s, g) => s + g.fastestUs, 0)
/** a matmul kind: its nodes' time measured (none yet) and the plan's charge (null: not planned) */
const newKind = (kind: string) => {
  const p = planned?.get(kind)
  return {
    measuredUs: 0,
    nodes: 0,
    names: new Set<string>(),
    plannedUs: p?.us ?? null,
    count: p?.count ?? null,
    cacheShare: p?.cacheShare ?? null,
  }
}
const kinds = new Map<string, ReturnType<typeof newKind>>()
for (const g of rows.filter((x) => x.kind)) {
  const k = kinds.get(g.kind!) ?? newKind(g.kind!)
  k.measuredUs += g.fastestUs
  k.nodes += g.nodes
  k.names.add(g.name)
  kinds.set(g.kind!, k)
}
// planned kinds no node matched (a shape the model does not have as planned)
for (const kind of planned?.keys() ?? []) if (!kinds.has(kind)) kinds.set(kind, newKind(kind))
const byKind = [...kinds].sort((x, y) => y[1].measuredUs - x[1].measuredUs)
if (a.json) {
  const kindRows = byKind.map(([kind, k]) => ({kind, ...k, names: [...k.names]}))
  console.log(
    JSON.stringify(
      {model, threads, tokens, batch, token, groups: rows, ...(planned ? {kinds: kindRows} : {})},
      null,
      1,
    ),
  )
  process.exit(0)
}
console.log(`${model}, ${threads} thread(s), ${tokens} ${batch > 1 ? `prompts of ${batch} tokens` : 'tokens'} each way`)
console.log(
  `${batch > 1 ? 'prompt' : 'token'}: ${token.plainUs.toFixed(1)} µs fastest, ${token.plainMedianUs.toFixed(1)} median without the profiler; ${token.profiledUs.toFixed(1)} / ${token.profiledMedianUs.toFixed(1)} with it`,
)
console.log(
  `nodes' fastest times summed: ${sum(rows).toFixed(1)} µs (matmuls ${sum(rows.filter(matmul)).toFixed(1)}, the rest ${sum(rows.filter((g) => !matmul(g))).toFixed(1)})`,
)
console.log(
  `\n| µs per ${batch > 1 ? 'prompt' : 'token'} (fastest) | median | nodes | op | name | weight | K × rows (× matrices) |`,
)
console.log('|---:|---:|---:|---|---|---|---|')
for (const g of a.all ? rows : rows.slice(0, 40))
  console.log(
    `| ${g.fastestUs.toFixed(1)} | ${g.medianUs.toFixed(1)} | ${g.nodes} | ${g.op} | ${g.name} | ${g.weight} | ${g.shape} |`,
  )
if (planned) {
  const pct = (m: number, p: number | null) =>
    p === null || m === 0 ? '—' : `${p >= m ? '+' : ''}${((p / m - 1) * 100).toFixed(1)} %`
  console.log(`\nmatmuls by kind against the plan on ${a.hardware} (${threads} thread(s), depth ${4 + tokens}):`)
  console.log(
    '\n| kind (type, K, rows, layout) | measured µs | planned µs | planned − measured | nodes / planned ops | cache share (plan) | names |',
  )
  console.log('|---|---:|---:|---:|---|---:|---|')
  for (const [kind, k] of byKind)
    console.log(
      `| ${kind.replaceAll('|', ' ')} | ${k.measuredUs.toFixed(1)} | ${k.plannedUs === null ? '—' : k.plannedUs.toFixed(1)} | ${pct(k.measuredUs, k.plannedUs)} | ${k.nodes} / ${k.count ?? '—'} | ${k.cacheShare === null ? '—' : k.cacheShare.toFixed(2)} | ${[...k.names].join(', ')} |`,
    )
  const m = byKind.reduce((t, [, k]) => t + k.measuredUs, 0),
    p = byKind.reduce((t, [, k]) => t + (k.plannedUs ?? 0), 0)
  console.log(`\nall matmuls: measured ${m.toFixed(1)} µs, planned ${p.toFixed(1)} µs (${pct(m, p)})`)
}
