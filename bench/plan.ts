#!/usr/bin/env -S node --import tsx
/**
 * bench/plan — how fast `moerig plan` reads a real-sized model and plans it.
 *
 * Writes DeepSeek-R1 Q4_K_M as unsloth ships it (legacy layout, 1025 tensors, nine shards,
 * 404 GB) as sparse files — real headers with the full tokenizer tables (129,280 tokens +
 * 127,741 merges), tensor data as holes, so it costs a few MB of disk — then times, side by side
 * in one run, interleaved round by round:
 *   header   readGguf() of all nine shards (given shard 5: the reader finds the others) (goal: well under a second, < 250 ms);
 *   hf       @huggingface/gguf's ggufAllShards() on the same files, for scale (not a goal);
 *   plan     makePlan() of that inventory on a dual-Xeon + 2 × A770 rig (goal: < 100 ms);
 *   quants   a six-quant --quants comparison from the catalog.
 * Prints each round, the best and the median of each, and the ratios. Wall clock and CPU time
 * (user + system of this process) are both recorded: on a busy machine wall clock drops with the
 * share of a core we get, CPU time does not; goals are checked on the median CPU time.
 *
 * Run:   npm run bench:plan                    (or: node --import tsx bench/plan.ts)
 *        npm run bench:plan -- --rounds 10 --keep /tmp/r1-sparse
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {ggufAllShards} from '@huggingface/gguf'
import {readGguf} from '../src/model/gguf.js'
import {inventoryFromCatalog, inventoryFromGguf} from '../src/model/inventory.js'
import {makePlan, quantRow} from '../src/planner/plan.js'
import type {ModelProfile} from '../src/schemas/model.js'
import {rig} from '../test/fixtures/plan/rigs.js'
import {ggufMetadata, writeInventoryGguf} from '../test/fixtures/gguf/model.js'
import {str, writeGguf, type KvValue} from '../test/fixtures/gguf/writer.js'
import {ggmlTypeByName} from '../src/model/ggml-types.js'

const GOAL_HEADER_MS = 250
const GOAL_PLAN_MS = 100
/** R1's tokenizer: 129,280 tokens and 127,741 merges (GGUF metadata of unsloth's R1, ik_llama.cpp #389). */
const R1_TOKENS = 129280
const R1_MERGES = 127741

const {values} = parseArgs({
  options: {rounds: {type: 'string', default: '5'}, keep: {type: 'string'}, 'no-hf': {type: 'boolean'}},
})
const rounds = Math.max(1, Number(values.rounds))
const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'moerig-bench-plan-'))
mkdirSync(dir, {recursive: true})

const r1: ModelProfile = JSON.parse(
  readFileSync(new URL('../profiles/models/deepseek-r1.json', import.meta.url), 'utf8'),
)
const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy'})

// Build the nine shards with the real tokenizer table sizes (the merges go in through the metadata hook).
const t0 = performance.now()
const paths = writeInventoryGguf(dir, 'DeepSeek-R1-Q4_K_M', r1, inv, 9, R1_TOKENS)
{
  // rewrite shard 1 with the merges too: the biggest part of a real R1 header
  const g = await readGguf(paths[0])
  const kv: Record<string, KvValue> = {...ggufMetadata(r1, inv, R1_TOKENS)}
  kv['tokenizer.ggml.merges'] = {
    type: 'array',
    itemType: 'string',
    value: Array.from({length: R1_MERGES}, (_, i) => `Ġ${i} t${i}`),
  }
  kv['tokenizer.ggml.model'] = str('gpt2')
  kv['split.no'] = {type: 'u16', value: 0}
  kv['split.count'] = {type: 'u16', value: 9}
  kv['split.tensors.count'] = {type: 'i32', value: inv.tensors.length}
  writeGguf(
    paths[0],
    kv,
    g.tensors
      .filter((t) => t.shard === 0)
      .map((t) => ({name: t.name, shape: t.shape, type: ggmlTypeByName.get(t.typeName)!.id, bytes: t.bytes})),
  )
}
const apparent = paths.reduce((s, p) => s + statSync(p).size, 0)
const onDisk = paths.reduce((s, p) => s + statSync(p).blocks * 512, 0)
console.log(
  `model: ${paths.length} sparse shards, ${(apparent / 1e9).toFixed(1)} GB apparent, ${(onDisk / 1e6).toFixed(1)} MB on disk, header of shard 1 ${((statSync(paths[0]).blocks * 512) / 1e6).toFixed(1)} MB; written in ${(performance.now() - t0).toFixed(0)} ms`,
)

const hw = [rig({id: 'dual-xeon-2xa770', sockets: 2, ramGiB: 1024, channels: 16, mts: 5600, gpus: 2})]
const quants = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0']
const times: Record<string, number[]> = {header: [], hf: [], plan: [], quants: []}
const cpu: Record<string, number[]> = {header: [], hf: [], plan: [], quants: []}
/** Run f, push its wall-clock and CPU milliseconds. */
async function timed<T>(key: string, f: () => Promise<T> | T): Promise<T> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const out = await f()
  times[key].push(performance.now() - t0)
  const c = process.cpuUsage(c0)
  cpu[key].push((c.user + c.system) / 1000)
  return out
}
let tensors = 0
let planSummary = ''
for (let r = 1; r <= rounds; r++) {
  const g = await timed('header', () => readGguf(paths[4]))
  tensors = g.tensors.length
  if (!values['no-hf']) await timed('hf', () => ggufAllShards(paths[0], {allowLocalFile: true}))
  const plan = await timed('plan', () => makePlan(inventoryFromGguf(g), hw, {ctx: 8192, engine: 'llama.cpp'}))
  planSummary = plan.verdict.headline
  await timed('quants', () => {
    for (const q of quants)
      quantRow(makePlan(inventoryFromCatalog(r1, {quant: q}), hw, {ctx: 32768, engine: 'llama.cpp'}))
  })
  const f = (k: string) => `${times[k].at(-1)!.toFixed(1)} ms (cpu ${cpu[k].at(-1)!.toFixed(1)})`
  console.log(
    `round ${r}: header ${f('header')}${values['no-hf'] ? '' : `, @huggingface/gguf ${f('hf')}`}, plan ${f('plan')}, 6-quant comparison ${f('quants')}`,
  )
}

const best = (a: number[]) => Math.min(...a)
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
console.log('')
const line = (k: string) =>
  `wall best ${best(times[k]).toFixed(1)} / median ${median(times[k]).toFixed(1)} ms, cpu best ${best(cpu[k]).toFixed(1)} / median ${median(cpu[k]).toFixed(1)} ms`
console.log(
  `header read (9 shards, ${tensors} tensors, 404 GB): ${line('header')}  (goal cpu < ${GOAL_HEADER_MS} ms: ${median(cpu.header) < GOAL_HEADER_MS ? 'met' : 'NOT met'})`,
)
if (times.hf.length)
  console.log(
    `@huggingface/gguf ggufAllShards: ${line('hf')}  (cpu ratio hf/ours ${(median(cpu.hf) / median(cpu.header)).toFixed(1)}×)`,
  )
console.log(
  `full plan from the GGUF inventory: ${line('plan')}  (goal cpu < ${GOAL_PLAN_MS} ms: ${median(cpu.plan) < GOAL_PLAN_MS ? 'met' : 'NOT met'})`,
)
console.log(`6-quant comparison (catalog): ${line('quants')}`)
console.log(`plan: ${planSummary}`)
if (!values.keep) rmSync(dir, {recursive: true, force: true})
