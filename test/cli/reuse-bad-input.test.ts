/**
 * Issue #12, reuse part: capacities above the expert count, OPT against static, the wrong model's
 * GGUF and --gpu on a GPU-less profile. The analysis in-process; the CLI by spawning bin/run.js.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {analyzeReuse} from '../../src/reuse/analyze.js'
import {synthIds} from '../support/reuse-synth.js'
import {openTrace, writeTrace} from '../../src/trace/trace.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import type {ModelProfile} from '../../src/schemas/model.js'
import {writeInventoryGguf} from '../fixtures/gguf/model.js'
import {rig} from '../fixtures/plan/rigs.js'
import {tempDir} from '../support/tmp.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const dir = tempDir('moerig-reuse-bad-')

function moerig(args: string[]): {code: number; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8'})
  return {code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

function expectOneLine(args: string[], pattern: RegExp): void {
  const r = moerig(args)
  assert.ok(r.code > 0 && r.code < 128, `${args.join(' ')}: exit ${r.code}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, r.stderr)
  assert.match(lines[0], pattern)
  const j = moerig([...args, '--json'])
  assert.notEqual(j.code, 0)
  assert.match(JSON.parse(j.stdout).error.message, pattern)
}

const shape = {nMoe: 2, nExpert: 16, k: 2}
const T = 400
const trace = join(dir, 'sixteen.moetrace')
writeTrace(
  trace,
  {model: 'tiny', arch: 'deepseek2', nLayer: 3, moeLayers: [1, 2], nExpert: 16, k: 2, nTokens: T, hasWeights: false},
  synthIds(shape, T, {kind: 'markov', p: 0.3}, 7),
)

const options = (capacities: number[]) => ({
  capacities,
  vram: [],
  policies: ['lru', 'lfu', 'static', 'opt'] as const,
  window: 8,
  warmup: 0.1,
  facts: {expertBytes: null, denseBytes: null, source: 'none'},
  bandwidth: {pcieGBs: null, gpuGBs: null, cpuGBs: null, source: 'none'},
  optMemoryBytes: 1024 ** 3,
})

test('reuse --cache 32,64 on 16 experts: one configuration at 16, with a note saying it was clamped', async () => {
  const r = await analyzeReuse(openTrace(trace), options([8, 32, 64]))
  const all = r.cache.filter((c) => c.layer === 'all')
  assert.deepEqual([...new Set(all.map((c) => c.capacity))], [8, 16])
  assert.equal(all.filter((c) => c.capacity === 16 && c.policy === 'lru').length, 1)
  assert.ok(
    r.notes.some((n) => /--cache 32, 64: more than the 16 experts of a layer; clamped to 16/.test(n)),
    r.notes.join('\n'),
  )
})

test('OPT never sits below static: at c ≥ n_expert both reach 100 %, and after warm-up at every c', async () => {
  const r = await analyzeReuse(openTrace(trace), options([2, 4, 8, 16]))
  const row = (p: string, c: number) => r.cache.find((x) => x.layer === 'all' && x.policy === p && x.capacity === c)!
  assert.equal(row('opt', 16).hitRate, 1)
  assert.ok(row('opt', 16).hitRate >= row('static', 16).hitRate)
  for (const c of [2, 4, 8, 16]) {
    for (const p of ['lru', 'lfu', 'static']) {
      const other = r.cache.find((x) => x.layer === 'all' && x.policy === p && x.capacity === c)
      if (!other) continue
      assert.ok(
        row('opt', c).hitRateAfterWarmup >= other.hitRateAfterWarmup - 1e-12,
        `c=${c}: opt ${row('opt', c).hitRateAfterWarmup} < ${p} ${other.hitRateAfterWarmup}`,
      )
      if (p !== 'static') assert.ok(row('opt', c).hitRate >= other.hitRate - 1e-12)
    }
  }
})

test("reuse with another model's GGUF (same expert count), or --gpu 0 on a GPU-less profile → one line", () => {
  // a deepseek2 trace of 27 blocks / 64 experts / top-6, and a GGUF of the same model with k changed
  const lite: ModelProfile = catalogModel('deepseek-v2-lite')
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M', layout: 'mla'})
  const [gguf] = writeInventoryGguf(dir, 'lite', lite, inv)
  const liteShape = {nMoe: 26, nExpert: 64, k: 6}
  const moe = Array.from({length: 26}, (_, i) => i + 1)
  const other = join(dir, 'other.moetrace')
  writeTrace(
    other,
    {model: 'other', arch: 'qwen3moe', nLayer: 27, moeLayers: moe, nExpert: 64, k: 6, nTokens: 20, hasWeights: false},
    synthIds(liteShape, 20, {kind: 'uniform'}, 3),
  )
  expectOneLine(
    ['reuse', other, '--gguf', gguf],
    /GGUF .* is deepseek2, the trace's model \(other\) qwen3moe: give the GGUF or catalog model the trace was recorded with/,
  )
  const fewer = join(dir, 'fewer.moetrace')
  writeTrace(
    fewer,
    {model: 'lite', arch: 'deepseek2', nLayer: 27, moeLayers: moe, nExpert: 64, k: 2, nTokens: 20, hasWeights: false},
    synthIds({...liteShape, k: 2}, 20, {kind: 'uniform'}, 3),
  )
  expectOneLine(['reuse', fewer, '--gguf', gguf], /routes to 6 experts per token, the trace 2/)
  const cpuOnly = join(dir, 'cpu-only.json')
  writeFileSync(cpuOnly, JSON.stringify(rig({id: 'cpu-only', gpus: 0})))
  expectOneLine(
    ['reuse', trace, '--hardware', cpuOnly, '--gpu', '0'],
    /--gpu 0: hardware profile .*cpu-only\.json has no GPU/,
  )
  const two = join(dir, 'two.json')
  writeFileSync(two, JSON.stringify(rig({id: 'two', gpus: 2})))
  expectOneLine(
    ['reuse', trace, '--hardware', two, '--gpu', '5'],
    /--gpu 5: hardware profile .* has 2 GPUs; allowed: 0–1/,
  )
})

test('reuse --model with an unknown id fails with the same line as plan (one catalog reader)', async () => {
  const {loadInventory} = await import('../../src/reuse/inputs.js')
  const {resolveModel} = await import('../../src/planner/resolve.js')
  const message = async (p: Promise<unknown>) =>
    p.then(
      () => assert.fail('no error'),
      (e: Error) => e.message,
    )
  const fromReuse = await message(loadInventory({model: 'no-such-model'}))
  assert.match(fromReuse, /^unknown model "no-such-model": not a GGUF file and not a catalog id \(.*deepseek-r1/)
  assert.equal(fromReuse, await message(resolveModel('no-such-model', {})))
})
