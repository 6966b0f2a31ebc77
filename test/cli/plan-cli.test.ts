/**
 * `moerig plan` and `moerig models` end to end (spawning bin/run.js, built by `tsc -b`), and
 * planning from a GGUF file: a sparse split GGUF written from the catalog inventory reads back
 * to the same inventory.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type {ModelProfile} from '../../src/schemas/model.js'
import {modelsListSchema} from '../../src/schemas/model.js'
import {planSchema, type Plan} from '../../src/schemas/plan.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {readGguf} from '../../src/model/gguf.js'
import {inventoryFromCatalog, inventoryFromGguf} from '../../src/model/inventory.js'
import {rig} from '../fixtures/plan/rigs.js'
import {writeInventoryGguf} from '../fixtures/gguf/model.js'
import {str, u32, writeGguf} from '../fixtures/gguf/writer.js'
import {makePlan} from '../../src/planner/plan.js'
import {tempDir} from '../support/tmp.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const dir = tempDir('moerig-plan-')
const hwFile = join(dir, 'rig.json')
writeFileSync(hwFile, JSON.stringify(rig({id: 'rig', gpus: 2})))
const lite: ModelProfile = catalogModel('deepseek-v2-lite')

function moerig(...args: string[]): {code: number; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8'})
  return {code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

test('a sparse split GGUF reads back to the catalog inventory (both deepseek2 layouts)', async () => {
  for (const layout of ['mla', 'legacy'] as const) {
    const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M', layout})
    const paths = writeInventoryGguf(dir, `lite-${layout}`, lite, inv, 3, 100)
    const g = await readGguf(paths[2])
    const back = inventoryFromGguf(g)
    assert.equal(back.layout, layout)
    assert.equal(back.quant, 'Q4_K_M')
    assert.equal(back.tensors.length, inv.tensors.length)
    assert.equal(back.totalBytes, inv.totalBytes)
    assert.deepEqual(back.byRole, inv.byRole)
    assert.deepEqual(back.moeLayers, inv.moeLayers)
    const hp = back.shape.hp
    assert.deepEqual(
      [
        hp.nLayer,
        hp.nEmbd,
        hp.nHead,
        hp.kvLoraRank,
        hp.nopeDim,
        hp.vHeadDim,
        hp.ropeDim,
        hp.nExpert,
        hp.nExpertUsed,
        hp.nExpertShared,
        hp.nFfExp,
        hp.nLayerDenseLead,
        hp.qLoraRank,
      ],
      [27, 2048, 16, 512, 128, 128, 64, 64, 6, 2, 1408, 1, 0],
    )
  }
})

test('plan <catalog id> --json: schema-valid plan with placement, KV, commands', () => {
  const r = moerig('plan', 'deepseek-r1', '--hardware', hwFile, '--ctx', '16384', '--json')
  assert.equal(r.code, 0, r.stderr)
  const plan = JSON.parse(r.stdout) as Plan
  assert.deepEqual(schemaErrors(planSchema, plan), [])
  assert.equal(plan.model.id, 'deepseek-r1')
  assert.equal(plan.kv.bytesPerToken, 70_272)
  assert.equal(plan.context, 16384)
  assert.equal(plan.fits, true)
  assert.ok(plan.placement.nGpuLayers === 62)
  assert.match(plan.commands.llamaServer, /^llama-server -m .* -c 16384 -ngl 62 /)
  assert.ok(plan.commands.flashMoe && plan.commands.ktransformers)
})

test('plan <GGUF> -o writes the plan; --emit prints every config; verdict comes first', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const [path] = writeInventoryGguf(dir, 'lite', lite, inv, 1, 100)
  const out = join(dir, 'out', 'plan.json')
  const r = moerig('plan', path, '--hardware', hwFile, '--ctx', '4096', '--emit', '-o', out)
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout.split('\n')[0], /^FITS /)
  assert.match(r.stdout, /# llama-bench/)
  assert.match(r.stdout, /# ktransformers: save as rules.yaml/)
  const plan = JSON.parse(readFileSync(out, 'utf8')) as Plan
  assert.deepEqual(schemaErrors(planSchema, plan), [])
  assert.equal(plan.model.source, 'gguf')
  assert.equal(plan.model.path, path)
  assert.equal(plan.model.tensorCount, inv.tensors.length)
})

test('plan --quants gives one row per quant', () => {
  const r = moerig('plan', 'deepseek-r1', '--hardware', hwFile, '--quants', 'Q2_K,Q4_K_M,Q8_0', '--json')
  assert.equal(r.code, 0, r.stderr)
  const plan = JSON.parse(r.stdout) as Plan
  assert.deepEqual(
    plan.rows!.map((x) => x.quant),
    ['Q2_K', 'Q4_K_M', 'Q8_0'],
  )
  assert.ok(plan.rows![0].fileBytes < plan.rows![1].fileBytes && plan.rows![1].fileBytes < plan.rows![2].fileBytes)
  assert.ok(plan.rows![0].decodeTps > plan.rows![2].decodeTps)
  assert.equal(plan.rows![0].maxContext.length, 3) // 0, 1, 2 GPUs
})

test('bad input: one line and a non-zero exit, JSON errors under --json', () => {
  const unknown = moerig('plan', 'no-such-model', '--hardware', hwFile)
  assert.notEqual(unknown.code, 0)
  assert.equal(unknown.stderr.trim().split('\n').length, 1)
  assert.match(unknown.stderr, /unknown model "no-such-model".*deepseek-r1/)
  const bad = join(dir, 'bad.gguf')
  writeFileSync(bad, 'GGML not a gguf at all')
  const j = moerig('plan', bad, '--hardware', hwFile, '--json')
  assert.notEqual(j.code, 0)
  assert.equal(JSON.parse(j.stdout).error.code, 'E_GGUF_MAGIC')
  const gpus = moerig('plan', 'deepseek-r1', '--hardware', hwFile, '--gpus', '5')
  assert.notEqual(gpus.code, 0)
  assert.match(gpus.stderr, /--gpus 5/)
  const hw = moerig('plan', 'deepseek-r1', '--hardware', join(dir, 'missing.json'))
  assert.notEqual(hw.code, 0)
  assert.match(hw.stderr, /missing\.json/)
})

test('models --json lists the catalog with computed and published sizes', () => {
  const r = moerig('models', '--json')
  assert.equal(r.code, 0, r.stderr)
  const list = JSON.parse(r.stdout)
  assert.deepEqual(schemaErrors(modelsListSchema, list), [])
  const r1 = list.models.find((m: {id: string}) => m.id === 'deepseek-r1')
  const q4 = r1.quants.find((q: {quant: string; layout: string}) => q.quant === 'Q4_K_M' && q.layout === 'legacy')
  assert.equal(q4.publishedGB, 404.3)
  assert.ok(Math.abs(q4.deltaPercent) < 0.5)
})

test('a dense (non-MoE) GGUF plans without expert overrides', async () => {
  const E = 512,
    L = 4,
    V = 1000,
    F = 1024
  const q4 = (s: number[]) => ({type: 12, bytes: (s[0] / 256) * 144 * s[1]})
  const t = [
    {name: 'token_embd.weight', shape: [E, V], ...q4([E, V])},
    {name: 'output_norm.weight', shape: [E], type: 0, bytes: E * 4},
    {name: 'output.weight', shape: [E, V], ...q4([E, V])},
  ]
  for (let i = 0; i < L; i++) {
    for (const [n, s] of [
      ['attn_q', [E, E]],
      ['attn_k', [E, 256]],
      ['attn_v', [E, 256]],
      ['attn_output', [E, E]],
      ['ffn_gate', [E, F]],
      ['ffn_up', [E, F]],
      ['ffn_down', [F, E]],
    ] as Array<[string, number[]]>)
      t.push({name: `blk.${i}.${n}.weight`, shape: s, ...q4(s)})
  }
  const path = join(dir, 'dense.gguf')
  writeGguf(
    path,
    {
      'general.architecture': str('llama'),
      'llama.block_count': u32(L),
      'llama.embedding_length': u32(E),
      'llama.attention.head_count': u32(8),
      'llama.attention.head_count_kv': u32(4),
      'llama.context_length': u32(4096),
      'general.file_type': u32(15),
    },
    t,
  )
  const inv = inventoryFromGguf(await readGguf(path))
  assert.deepEqual(inv.moeLayers, [])
  const plan = makePlan(inv, [rig({gpus: 1})], {ctx: 4096, engine: 'llama.cpp'})
  assert.deepEqual(schemaErrors(planSchema, plan), [])
  assert.equal(plan.kv.bytesPerToken, L * 2 * 256 * 2)
  assert.deepEqual(plan.placement.tensorOverrides, [])
  assert.equal(plan.placement.nCpuMoe, null)
  assert.doesNotMatch(plan.commands.llamaServer, /exps|n-cpu-moe/)
})
