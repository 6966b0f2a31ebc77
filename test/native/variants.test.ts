// Every CPU variant this machine can execute × synth preset × extra buffer types on/off × flash
// attention on/off: load, context, a prompt and a few decode steps in the runner child, with the
// logits compared across the matrix. ggml's own scoring decides which variants run here (an AMX
// Xeon runs sapphirerapids with the AMX extra buffer type; a Zen 5 runs zen4 …): the test prints
// them. This is the test that would have caught the AMX abort (and the wrong logits AMX gave
// 3-D MLA weights with flash attention off) before a user did.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {resolve} from 'node:path'
import {listEngineDevices} from '../../src/runner/checkplan.js'
import {CHECK_PROMPT, runDecodeChecks} from '../../src/runner/decodecheck.js'
import type {DecodeCheckCase, DecodeCheckOutcome} from '../../src/runner/protocol.js'
import type {LlamaInitResult} from '../../src/engine/addon.js'
import {tempDir, synthTiny} from '../support/runner-helpers.js'

const PRESETS = ['tiny', 'tiny-legacy', 'qwen3moe-tiny'] as const
const STEPS = 3
/**
 * Largest relative L2 distance of the first 16 prompt logits from the reference (ggml's pick,
 * extra buffer types off, flash attention off). Kernels differ in summation order and AMX
 * quantizes activations its own way: measured up to about 0.05 between correct configurations on
 * an AMX Xeon; the broken AMX path gave all-zero logits (distance 1).
 */
const MAX_REL_L2 = 0.25

interface Cell {
  preset: string
  repack: boolean
  fa: 'on' | 'off'
}

const cells: Cell[] = PRESETS.flatMap((preset) =>
  [true, false].flatMap((repack) => (['off', 'on'] as const).map((fa) => ({preset, repack, fa}))),
)
let models: Record<string, string> = {}
let engine: LlamaInitResult

before(async () => {
  const dir = tempDir('moerig-variants-')
  models = Object.fromEntries(PRESETS.map((p) => [p, resolve(synthTiny(dir, p))]))
  engine = await listEngineDevices()
})

function casesFor(): DecodeCheckCase[] {
  return cells.map((c) => ({
    model: {path: models[c.preset], nGpuLayers: 0, useExtraBufts: c.repack},
    context: {nCtx: 128, nBatch: 64, nUbatch: 64, threads: 1, flashAttn: c.fa},
    prompt: CHECK_PROMPT,
    steps: STEPS,
  }))
}

function relL2(a: number[], b: number[]): number {
  let num = 0
  let den = 0
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2
    den += b[i] ** 2
  }
  return Math.sqrt(num / Math.max(den, 1e-12))
}

const results = new Map<string, DecodeCheckOutcome[]>()

test("the engine lists CPU variants with ggml's scores, and ggml's pick is loadable", (t) => {
  const runnable = engine.cpuVariants.filter((v) => v.loadable)
  assert.ok(runnable.length > 0)
  assert.equal(engine.cpuVariant, engine.cpuVariantBest)
  assert.ok(runnable.some((v) => v.name === engine.cpuVariant))
  for (const v of engine.cpuVariants) assert.equal(v.loadable, v.score > 0)
  t.diagnostic(
    `CPU variants this machine runs: ${runnable.map((v) => v.name).join(', ')} (ggml picks ${engine.cpuVariant}; extra buffer types ${engine.cpuExtraBufferTypes.join(', ') || 'none'})`,
  )
})

test('every runnable CPU variant × preset × extra buffer types × flash attention loads, decodes, gives finite non-zero logits', async (t) => {
  const runnable = engine.cpuVariants.filter((v) => v.loadable).map((v) => v.name)
  // two children at a time: one CPU variant per process
  const queue = [...runnable]
  const work = async () => {
    for (let v = queue.shift(); v; v = queue.shift()) {
      const r = await runDecodeChecks(casesFor(), {cpuVariant: v})
      assert.equal(r.init.cpuVariant, v)
      results.set(v, r.cases)
    }
  }
  await Promise.all([work(), work()])
  for (const v of runnable) {
    const out = results.get(v)!
    assert.equal(out.length, cells.length, `${v}: every case ran`)
    out.forEach((o, i) => {
      const c = cells[i]
      const what = `${v} ${c.preset} ${c.repack ? 'repack' : 'no-repack'} fa ${c.fa}`
      assert.equal(o.check.logitsFinite, true, `${what}: finite logits`)
      assert.ok(
        o.check.promptMeanAbs > 0.01,
        `${what}: logits are not all zero (mean |logit| ${o.check.promptMeanAbs})`,
      )
      assert.equal(o.check.nSteps, STEPS, `${what}: decode steps`)
    })
    const guarded = out.filter((o) => o.amxGuarded.length > 0).length
    t.diagnostic(`${v}: ${out.length} cases ran${guarded ? `, ${guarded} with 3-D weights kept out of AMX` : ''}`)
  }
})

test("every configuration computes what the plain one does (logits within tolerance of ggml's pick, no repack, no flash attention)", (t) => {
  const ref = results.get(engine.cpuVariant)
  assert.ok(ref, 'the matrix ran')
  let worst = {d: 0, what: ''}
  for (const [v, out] of results) {
    out.forEach((o, i) => {
      const c = cells[i]
      const r = ref[cells.findIndex((x) => x.preset === c.preset && !x.repack && x.fa === 'off')]
      const d = relL2(o.check.promptHead, r.check.promptHead)
      if (d > worst.d) worst = {d, what: `${v} ${c.preset} ${c.repack ? 'repack' : 'no-repack'} fa ${c.fa}`}
      assert.ok(
        d < MAX_REL_L2,
        `${v} ${c.preset} ${c.repack ? 'repack' : 'no-repack'} fa ${c.fa}: logits differ from the reference by ${d.toFixed(3)} (relative L2)`,
      )
    })
  }
  t.diagnostic(`largest relative L2 distance from the reference: ${worst.d.toFixed(4)} (${worst.what})`)
})
