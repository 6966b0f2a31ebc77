/**
 * Issue #12, planner part: bad input to `plan`, `profiles` and the planner gets one line naming the
 * problem and what is allowed (`--json`: {"error": {code, message}}), a non-zero exit, never a
 * V8 fatal error, NaN or a confident wrong plan. Planner cases as pure functions, the rest by
 * spawning bin/run.js (built by `tsc -b`).
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {isAbsolute, join} from 'node:path'
import {MoerigError} from '../../src/lib/errors.js'
import {checkThreads, maxThreads} from '../../src/lib/threads.js'
import {ggmlTypeByName} from '../../src/model/ggml-types.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {makePlan} from '../../src/planner/plan.js'
import {renderPlan} from '../../src/planner/render.js'
import {runPlan} from '../../src/planner/run.js'
import {profileErrors} from '../../src/profiles/hardware.js'
import type {HardwareProfile} from '../../src/schemas/hardware.js'
import type {ModelProfile} from '../../src/schemas/model.js'
import {ggufMetadata} from '../fixtures/gguf/model.js'
import {type KvValue, u32, writeGguf} from '../fixtures/gguf/writer.js'
import {rig} from '../fixtures/plan/rigs.js'
import {tempDir} from '../support/tmp.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const dir = tempDir('moerig-plan-bad-')
const lite: ModelProfile = catalogModel('deepseek-v2-lite')
const liteInv = inventoryFromCatalog(lite, {quant: 'Q4_K_M', layout: 'mla'})
const liteSpecs = liteInv.tensors.map((t) => ({
  name: t.name,
  shape: t.shape,
  type: ggmlTypeByName.get(t.typeName)!.id,
  bytes: t.bytes,
}))
const hwFile = join(dir, 'rig.json')
writeFileSync(hwFile, JSON.stringify(rig({id: 'rig', gpus: 2})))

function moerig(args: string[], cwd?: string): {code: number; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, [join(process.cwd(), 'bin/run.js'), ...args], {encoding: 'utf8', cwd})
  return {code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

/** One line on stderr with the pattern; under --json one {"error"} object; non-zero exit, no signal. */
function expectOneLine(args: string[], pattern: RegExp, code?: string): void {
  const r = moerig(args)
  assert.notEqual(r.code, 0, `${args.join(' ')}: exit 0`)
  assert.ok(r.code > 0 && r.code < 128, `${args.join(' ')}: died with ${r.code}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line: ${r.stderr}`)
  assert.match(lines[0], pattern)
  const j = moerig([...args, '--json'])
  assert.notEqual(j.code, 0)
  const err = JSON.parse(j.stdout).error
  assert.match(err.message, pattern)
  if (code) assert.equal(err.code, code)
}

/** The lite GGUF with some metadata replaced and/or another tensor list. */
function liteGguf(name: string, over: Record<string, KvValue> = {}, specs = liteSpecs): string {
  const kv = {...ggufMetadata(lite, liteInv), ...over}
  const p = join(dir, `${name}.gguf`)
  writeGguf(p, kv, specs)
  return p
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MoerigError, `not a MoerigError: ${e}`)
    assert.ok(!e.message.includes('\n'))
    assert.match(e.message, pattern)
    return true
  })
}

const plan = (model: string, more: Partial<Parameters<typeof runPlan>[0]> = {}) =>
  runPlan({model, hardware: 'rig', engine: 'llama.cpp', profiles: [rig({id: 'rig', gpus: 2})], ...more})

// ---- item 6: block_count 2^31 was a V8 fatal error (exit 133)
test('plan: block_count 2^31 → one line naming the key and the allowed range, also on --json', () => {
  const p = liteGguf('blocks-2e31', {'deepseek2.block_count': u32(2 ** 31)})
  expectOneLine(
    ['plan', p, '--hardware', hwFile],
    /deepseek2\.block_count is 2147483648; allowed: a whole number 1–4096/,
    'E_GGUF_META',
  )
})

// ---- item 10: metadata that contradicts the tensors
test('plan: metadata contradicting the tensor list → one line naming the key, its value and what the tensors say', async () => {
  const cases: Array<[string, Record<string, KvValue>, RegExp, typeof liteSpecs?]> = [
    [
      'block-plus-1',
      {'deepseek2.block_count': u32(28)},
      /block_count is 28 but the tensors have blocks 0–26 \(27 blocks\)/,
    ],
    ['block-minus-1', {'deepseek2.block_count': u32(26)}, /block_count is 26 but the tensors have blocks 0–26/],
    ['block-1e6', {'deepseek2.block_count': u32(1_000_000)}, /block_count is 1000000; allowed/],
    [
      'experts-0',
      {'deepseek2.expert_count': u32(0)},
      /expert_count is 0 but blk\.1\.ffn_down_exps\.weight holds 64 experts/,
    ],
    ['used-gt-experts', {'deepseek2.expert_used_count': u32(100)}, /expert_used_count is 100; allowed: 1–64/],
    ['used-0', {'deepseek2.expert_used_count': u32(0)}, /expert_used_count is 0; allowed: 1–64/],
    [
      'dense-99',
      {'deepseek2.leading_dense_block_count': u32(99)},
      /leading_dense_block_count is 99, more than the 27 blocks/,
    ],
    [
      'dense-5',
      {'deepseek2.leading_dense_block_count': u32(5)},
      /leading_dense_block_count is 5 but the tensors have routed experts from block 1/,
    ],
    ['no-tensors', {}, /lists no tensors/, []],
    ['block-missing', {}, /block 13 has no tensors/, liteSpecs.filter((t) => !t.name.startsWith('blk.13.'))],
    [
      'embd',
      {'deepseek2.embedding_length': u32(4096)},
      /embedding_length is 4096 but token_embd\.weight rows are 2048 wide/,
    ],
    ['heads-kv', {'deepseek2.attention.head_count_kv': u32(3)}, /head_count_kv is 3; allowed: a divisor of/],
    [
      'float-key',
      {'deepseek2.block_count': {type: 'f32', value: 26.5}},
      /block_count is 26\.5; allowed: a whole number/,
    ],
    ['negative', {'deepseek2.expert_count': {type: 'i32', value: -1}}, /expert_count is -1; allowed/],
    [
      'u64-huge',
      {'deepseek2.context_length': {type: 'u64', value: 2n ** 60n}},
      /context_length is 1152921504606846976; allowed/,
    ],
  ]
  for (const [name, over, pattern, specs] of cases) await rejects(plan(liteGguf(name, over, specs)), pattern)
})

// ---- item 7: --threads past the machine
test("--threads above the planned machine's logical CPUs → one line with the allowed range", async () => {
  const r = rig({id: 'rig', gpus: 1, cores: 8})
  await rejects(
    plan('deepseek-r1', {profiles: [r], threads: 9999}),
    /--threads 9999: allowed 1–16 \(the logical CPUs of hardware profile rig\)/,
  )
  assert.equal((await plan('deepseek-r1', {profiles: [r], threads: 16})).threads, 16)
  assert.throws(() => checkThreads('-t', 0), /-t 0: allowed 1–/)
  assert.throws(() => checkThreads('-t', maxThreads() + 1), /logical CPUs of this machine/)
  expectOneLine(
    ['plan', 'deepseek-r1', '--hardware', hwFile, '--threads', '9999'],
    /--threads 9999: allowed 1–128/,
    'E_USAGE',
  )
})

// ---- item 14: the default context must fit the model
test('no --ctx: a model trained on 2048 tokens is planned at 2048, an explicit --ctx above it is refused', async () => {
  const p = liteGguf('ctx-2048', {'deepseek2.context_length': u32(2048)})
  const pl = await plan(p)
  assert.equal(pl.context, 2048)
  await rejects(plan(p, {ctx: 8192}), /--ctx 8192 is more than .* trained context of 2048/)
  const r = moerig(['plan', p, '--hardware', hwFile, '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).context, 2048)
})

// ---- item 11: implausible profiles
test('hardware profiles with 0 or 1e308 memory, bandwidth or VRAM are refused with the JSON path', () => {
  const mutate = (f: (p: HardwareProfile) => void): string[] => {
    const p = rig({id: 'rig', gpus: 1}) as HardwareProfile
    f(p)
    return profileErrors(JSON.parse(JSON.stringify(p)))
  }
  const cases: Array<[(p: HardwareProfile) => void, RegExp]> = [
    [(p) => void ((p.memory as {totalBytes: number}).totalBytes = 0), /^\/memory\/totalBytes must be ≥/],
    [(p) => void ((p.memory as {totalBytes: number}).totalBytes = 1e308), /^\/memory\/totalBytes must be ≤/],
    [
      (p) => void ((p.memory as {theoreticalBandwidthGBs: number}).theoreticalBandwidthGBs = 0),
      /^\/memory\/theoreticalBandwidthGBs must be >/,
    ],
    [
      (p) => void ((p.memory as {theoreticalBandwidthGBs: number}).theoreticalBandwidthGBs = 1e308),
      /^\/memory\/theoreticalBandwidthGBs must be ≤/,
    ],
    [(p) => void ((p.gpus[0] as {vramBytes: number}).vramBytes = 0), /^\/gpus\/0\/vramBytes must be ≥/],
    [(p) => void ((p.gpus[0] as {vramBytes: number}).vramBytes = 1e308), /^\/gpus\/0\/vramBytes must be ≤/],
    [
      (p) => void ((p.gpus[0] as {memoryBandwidthGBs: number}).memoryBandwidthGBs = 1e308),
      /^\/gpus\/0\/memoryBandwidthGBs must be ≤/,
    ],
    [
      (p) => void ((p.gpus[0] as {memoryBandwidthGBs: number}).memoryBandwidthGBs = 0),
      /^\/gpus\/0\/memoryBandwidthGBs must be >/,
    ],
    [(p) => void (p.bandwidth = {triadGBs: 1e308, perNode: []}), /^\/bandwidth\/triadGBs must be ≤/],
    [(p) => void (p.bandwidth = {triadGBs: 0, perNode: []}), /^\/bandwidth\/triadGBs must be >/],
    [(p) => void ((p.cpu as {threads: number}).threads = 1e9), /^\/cpu\/threads must be ≤/],
  ]
  for (const [f, pattern] of cases) {
    const errs = mutate(f)
    assert.ok(
      errs.some((e) => pattern.test(e)),
      `${pattern}: ${errs.join('; ')}`,
    )
  }
  const bad = join(dir, 'bad-rig.json')
  const p = rig({id: 'bad-rig', gpus: 1})
  ;(p.gpus[0] as {memoryBandwidthGBs: number}).memoryBandwidthGBs = 1e308
  writeFileSync(bad, JSON.stringify(p))
  expectOneLine(
    ['plan', 'deepseek-r1', '--hardware', bad],
    /\/gpus\/0\/memoryBandwidthGBs must be ≤ 100000/,
    'E_PROFILE',
  )
})

// ---- item 22: profiles validate printed each error twice
test('profiles validate: each problem once (stdout), then one summary line (stderr)', () => {
  const bad = join(dir, 'twice.json')
  const p = rig({id: 'twice', gpus: 1})
  ;(p.memory as {totalBytes: number}).totalBytes = 0
  writeFileSync(bad, JSON.stringify(p))
  const r = moerig(['profiles', 'validate', bad])
  assert.notEqual(r.code, 0)
  const all = r.stdout + r.stderr
  assert.equal(all.split('/memory/totalBytes').length - 1, 1, all)
  assert.match(r.stderr.trim(), /^moerig: error: 1 of 1 hardware profile file invalid \(1 problem listed above\)$/)
})

// ---- item 12: one NUMA node is the whole machine
test("one NUMA node: the NUMA limit is the RAM limit (a VM's unreliable node free memory is not used)", () => {
  const p = rig({id: 'vm', sockets: 1, gpus: 0, ramGiB: 512})
  p.numa.nodes[0].memFreeBytes = 2 * 1024 ** 3 // what a VM reported for node 0
  const pl = makePlan(liteInv, [p], {ctx: 4096, engine: 'llama.cpp'})
  assert.equal(pl.fits, true, pl.verdict.headline)
  assert.equal(pl.numa!.nodes[0].capacityBytes, pl.devices.find((d) => d.id === 'CPU')!.capacityBytes)
})

// ---- item 13: the plan's model path and the probe's disk figure
test("plans store the model's absolute path; -o from another folder stays usable", () => {
  const p = liteGguf('relpath')
  const out = join(dir, 'plan.json')
  const r = moerig(['plan', 'relpath.gguf', '--hardware', hwFile, '-o', out, '--force', '--json'], dir)
  assert.equal(r.code, 0, r.stderr)
  const saved = JSON.parse(readFileSync(out, 'utf8'))
  assert.ok(isAbsolute(saved.model.path), saved.model.path)
  assert.equal(saved.model.path, p)
  assert.ok(saved.model.shards.every((s: string) => isAbsolute(s)))
  assert.match(saved.commands.llamaServer, new RegExp(`-m ${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`))
})

test('plan --hardware probe knows the free disk (as probe measures it)', async () => {
  const {loadHardware} = await import('../../src/probe/machine.js')
  const p = await loadHardware('probe')
  assert.ok(p.disk && typeof p.disk.freeBytes === 'number', JSON.stringify(p.disk))
})

// ---- item 15: RPC with CPU-only machines, remote GPUs, small models
test('RPC of CPU-only machines: prefill > 0 without a PCIe term; remote GPUs named as unused; small models in M params', async () => {
  const a = rig({id: 'cpu-a', gpus: 0, ramGiB: 256, hostname: 'a'})
  const b = rig({id: 'cpu-b', gpus: 0, ramGiB: 256, hostname: 'b'})
  const pl = await runPlan({model: 'deepseek-r1', quant: 'Q2_K', hardware: 'x', engine: 'llama.cpp', profiles: [a, b]})
  assert.equal(pl.fits, true, pl.verdict.headline)
  assert.ok(pl.prediction.prefillTps > 1, `prefill ${pl.prediction.prefillTps}`)
  assert.ok(pl.prediction.prefillRange!.low > 0)
  assert.ok(!pl.prediction.assumptions.some((x) => /PCIe|GPU FP16/.test(x)), pl.prediction.assumptions.join('\n'))
  const g = rig({id: 'gpu-b', gpus: 1, ramGiB: 256, hostname: 'b'})
  const pg = await runPlan({model: 'deepseek-r1', quant: 'Q2_K', hardware: 'x', engine: 'llama.cpp', profiles: [a, g]})
  assert.ok(
    pg.notes!.some((n) => /gpu-b: its 1 GPU is not used/.test(n)),
    pg.notes!.join('\n'),
  )
  const small = makePlan(liteInv, [a], {ctx: 2048, engine: 'llama.cpp'})
  small.model.params = 29_900_000
  small.model.activeParams = 14_600_000
  small.model.fileBytes = 20_800_000
  const text = renderPlan(small)
  assert.match(text, /29\.9 M params, 14\.6 M active · 20\.8 MB/)
  assert.doesNotMatch(text, /0\.0 B params/)
})

// ---- item 22: ktransformers KV type, empty --quants
test('ktransformers --kv-type q4_0 is refused (its MLA cache is bf16); --quants "," is refused', async () => {
  await rejects(
    plan('deepseek-r1', {engine: 'ktransformers', kvType: 'q4_0'}),
    /--kv-type q4_0: ktransformers caches .* bf16 only; allowed: bf16/,
  )
  assert.equal((await plan('deepseek-r1', {engine: 'ktransformers'})).kvType, 'bf16')
  expectOneLine(
    ['plan', 'deepseek-r1', '--hardware', hwFile, '--quants', ','],
    /--quants needs at least one quant/,
    'E_USAGE',
  )
})

test('--mmap takes auto, on or off; anything else is one usage line', () => {
  expectOneLine(
    ['plan', 'deepseek-r1', '--hardware', hwFile, '--mmap', 'maybe'],
    /--mmap must be one of auto, on, off, got maybe/,
    'E_USAGE',
  )
})

test('--op-offload takes auto, on or off; off with ktransformers is one line naming the engine', () => {
  expectOneLine(
    ['plan', 'deepseek-r1', '--hardware', hwFile, '--op-offload', 'never'],
    /--op-offload must be one of auto, on, off, got never/,
    'E_USAGE',
  )
  expectOneLine(
    ['plan', 'deepseek-r1', '--hardware', hwFile, '--engine', 'ktransformers', '--op-offload', 'off'],
    /--op-offload off is llama.cpp's --no-op-offload; ktransformers computes the weights in RAM by its own rules/,
    'E_USAGE',
  )
})
