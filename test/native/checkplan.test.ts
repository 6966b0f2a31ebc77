// check-plan without a GPU: error arithmetic, log parsing, the comparison on logged figures, the
// command end to end on a CPU-only plan (one model load, no decoding), its one-line refusals, and
// the planner flags the Vulkan cases rely on (--placement, a GPU's per-tensor limit).
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {
  comparePlanMemory,
  errorPct,
  LOG_RESOLUTION_BYTES,
  outOfBounds,
  parseContextBuffers,
} from '../../src/runner/checkplan.js'
import {CI_LLVMPIPE_PROFILE, planCase} from '../support/checkplan-cases.js'
import {cachedSynthModel} from '../../src/runner/synth.js'
import {parseBufferLines, type BufferFigure} from '../../src/runner/memory.js'
import type {LlamaDevice} from '../../src/engine/addon.js'
import {checkPlanResultSchema, type CheckPlanResult} from '../../src/schemas/checkplan.js'
import type {Plan} from '../../src/schemas/plan.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {MiB} from '../../src/lib/units.js'
import {cli, tempDir} from '../support/runner-helpers.js'

let dir = ''
let tiny = ''
let qwen = ''

before(async () => {
  dir = tempDir('moerig-checkplan-')
  tiny = await cachedSynthModel({preset: 'tiny'})
  qwen = await cachedSynthModel({preset: 'qwen3moe-tiny'})
})

const devices: LlamaDevice[] = [
  {name: 'CPU', description: 'cpu', type: 'cpu', backend: 'CPU', freeBytes: 1e10, totalBytes: 1e10},
  {
    name: 'Vulkan0',
    description: 'llvmpipe (LLVM 15.0.6, 256 bits)',
    type: 'gpu',
    backend: 'Vulkan',
    freeBytes: 2 ** 31,
    totalBytes: 2 ** 31,
  },
]

test('errorPct: relative to the allocation, signed, 0 within the log resolution, 100 for nothing allocated', () => {
  assert.equal(errorPct(110 * MiB, 100 * MiB), 10)
  assert.equal(errorPct(90 * MiB, 100 * MiB), -10)
  assert.equal(errorPct(MiB + LOG_RESOLUTION_BYTES, MiB), 0)
  assert.equal(errorPct(0, 0), 0)
  assert.equal(errorPct(MiB, 0), 100)
})

test('context logs: buffer lines and the host output buffer (counted as host compute)', () => {
  const b = parseContextBuffers([
    'llama_context: Vulkan_Host  output buffer size =     0.58 MiB',
    'llama_kv_cache:    Vulkan0 KV buffer size =     1.00 MiB',
    'sched_reserve:    Vulkan0 compute buffer size =     7.51 MiB',
    'sched_reserve: Vulkan_Host compute buffer size =   297.25 MiB',
  ])
  assert.deepEqual(
    b.map((x) => [x.buffer, x.kind, x.device]),
    [
      ['Vulkan0', 'kv', 'Vulkan0'],
      ['Vulkan0', 'compute', 'Vulkan0'],
      ['Vulkan_Host', 'compute', 'CPU'],
      ['Vulkan_Host', 'compute', 'CPU'],
    ],
  )
  assert.equal(b[3].bytes, Math.round(0.58 * MiB))
})

test('comparePlanMemory: plan devices beside engine devices (GPU0 = Vulkan0), errors per kind, unplanned devices shown', async () => {
  const plan = await planCase(tiny, 'exps-cpu', 4096, 'f16')
  const gpu = plan.devices.find((d) => d.id === 'GPU0')!
  const buffers: BufferFigure[] = parseBufferLines([
    `load_tensors: Vulkan_Host model buffer size = ${(plan.devices[0].weightsBytes / MiB).toFixed(2)} MiB`,
    `load_tensors:     Vulkan0 model buffer size = ${(gpu.weightsBytes / MiB).toFixed(2)} MiB`,
    `llama_kv_cache:   Vulkan0 KV buffer size = ${((gpu.kvBytes * 1.05) / MiB).toFixed(2)} MiB`,
    `sched_reserve:    Vulkan0 compute buffer size = ${((gpu.computeBytes * 0.8) / MiB).toFixed(2)} MiB`,
    'sched_reserve:    Vulkan1 compute buffer size = 3.00 MiB',
  ])
  const r = comparePlanMemory({plan, planPath: 'p.json'}, tiny, [...devices, {...devices[1], name: 'Vulkan1'}], buffers)
  assert.deepEqual(schemaErrors(checkPlanResultSchema, r), [])
  const g = r.devices.find((d) => d.id === 'GPU0')!
  assert.equal(g.engineDevice, 'Vulkan0')
  assert.equal(g.errorPct.weights, 0)
  assert.ok(Math.abs(g.errorPct.kv - -4.76) < 0.1, `${g.errorPct.kv}`)
  assert.ok(Math.abs(g.errorPct.compute - 25) < 0.1, `${g.errorPct.compute}`)
  assert.deepEqual(
    r.devices.map((d) => d.id),
    ['CPU', 'GPU0', 'Vulkan1'],
  )
  assert.equal(r.maxErrorPct, 100) // Vulkan1: allocated, never planned
  // CPU compute: planned, no line logged → +100 %
  assert.deepEqual(
    outOfBounds(r).sort(),
    ['CPU compute +100.0 %', 'GPU0 KV -4.8 %', 'GPU0 compute +25.0 %', 'Vulkan1 compute -100.0 %'].sort(),
  )
})

test('check-plan on a CPU-only plan: one line per device and kind, --json schema-valid and within bounds (no GPU backend loaded)', () => {
  const planPath = join(dir, 'cpu.json')
  const mk = cli([
    'plan',
    tiny,
    '--hardware',
    CI_LLVMPIPE_PROFILE,
    '--gpus',
    '0',
    '--ctx',
    '2048',
    '--kv-type',
    'q8_0',
    '-o',
    planPath,
  ])
  assert.equal(mk.status, 0, mk.stderr)
  const text = cli(['check-plan', planPath])
  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, /device\s+buffer\s+planned\s+allocated\s+error/)
  assert.match(text.stdout, /^CPU\s+weights\s+[\d.]+ MiB\s+[\d.]+ MiB/m)
  assert.match(text.stdout, /within bounds/)
  const j = cli(['check-plan', planPath, '--json'])
  assert.equal(j.status, 0, j.stderr)
  const r = JSON.parse(j.stdout) as CheckPlanResult
  assert.deepEqual(schemaErrors(checkPlanResultSchema, r), [])
  assert.deepEqual(
    r.devices.map((d) => d.id),
    ['CPU'],
  )
  assert.deepEqual(Object.keys(r.devices[0].planned).sort(), ['computeBytes', 'kvBytes', 'weightsBytes'])
  assert.deepEqual(Object.keys(r.devices[0].allocated).sort(), ['computeBytes', 'kvBytes', 'weightsBytes'])
  assert.ok(r.maxErrorPct <= 10, `${r.maxErrorPct}`)
  assert.equal(r.kvType, 'q8_0')
  assert.equal(r.context, 2048)
  assert.equal(r.mmap, false)
  assert.ok(r.buffers.some((b) => b.kind === 'kv' && b.device === 'CPU'))
})

test('check-plan refuses, in one line: a missing model file, another model, a missing plan, a GPU plan without the GPU', async () => {
  const plan = await planCase(tiny, 'all-gpu', 512, 'f16')
  const gone = join(dir, 'gone.json')
  writeFileSync(gone, JSON.stringify({...plan, model: {...plan.model, path: join(dir, 'nope.gguf')}}))
  let r = cli(['check-plan', gone])
  assert.equal(r.status, 1)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, /model of plan .* is missing: .*nope\.gguf: no such file/)
  r = cli(['check-plan', gone, '--json'])
  assert.equal(JSON.parse(r.stdout).error.code, 'E_PLAN_MODEL')

  const ok = join(dir, 'gpu.json')
  writeFileSync(ok, JSON.stringify(plan))
  r = cli(['check-plan', ok, '--model', qwen])
  assert.equal(r.status, 1)
  assert.match(r.stderr, /made for a different model \(\d+ tensors, \d+ bytes; .* has \d+ tensors, \d+ bytes\)/)
  r = cli(['check-plan', join(dir, 'no-such-plan.json')])
  assert.equal(r.status, 1)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  // no GPU backend at all: the plan's GPU0 does not exist here
  r = cli(['check-plan', ok], {env: {MOERIG_BACKENDS: 'cpu'}})
  assert.equal(r.status, 1)
  assert.match(r.stderr, /places tensors on GPU0, but the engine sees no GPU/)
})

test('plan --placement forces the three placements; a GPU per-tensor limit keeps the output matrix in RAM', async () => {
  const nLayer = 4
  const all = await planCase(tiny, 'all-gpu', 512, 'f16')
  const exps = await planCase(tiny, 'exps-cpu', 512, 'f16')
  const ncm = await planCase(tiny, 'n-cpu-moe=2', 512, 'f16')
  for (const p of [all, exps, ncm]) assert.equal(p.placement.nGpuLayers, nLayer + 1)
  const gpuExperts = (p: Plan) => p.devices.find((d) => d.id === 'GPU0')!.expertLayers
  assert.deepEqual(gpuExperts(all), [1, 2, 3])
  assert.deepEqual(gpuExperts(exps), [])
  assert.deepEqual(gpuExperts(ncm), [2, 3])
  assert.equal(ncm.placement.nCpuMoe, 2)
  assert.ok(exps.placement.tensorOverrides.some((o) => o.device === 'CPU' && /exps/.test(o.pattern)))

  const bad = cli(['plan', tiny, '--hardware', CI_LLVMPIPE_PROFILE, '--placement', 'half'])
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /--placement half: use auto, all-gpu, exps-cpu or n-cpu-moe=N/)
  const nogpu = cli(['plan', tiny, '--hardware', CI_LLVMPIPE_PROFILE, '--gpus', '0', '--placement', 'all-gpu'])
  assert.equal(nogpu.status, 1)
  assert.match(nogpu.stderr, /puts layers on a GPU/)

  // qwen3moe-tiny: logits [151936, 512] F32 = 297 MiB > llvmpipe's 128 MiB → output.weight stays on the CPU
  const q = await planCase(qwen, 'all-gpu', 512, 'f16')
  const cpu = q.devices.find((d) => d.id === 'CPU')!
  const out = q.weights.byRole?.output ?? 0
  assert.ok(out > 0)
  assert.ok(cpu.weightsBytes >= out, `CPU ${cpu.weightsBytes} holds the output matrix ${out}`)
  assert.ok(cpu.computeBytes > 296 * MiB, 'and computes the logits')
})

test('probe lists the devices the engine sees beside the PCI view (engineDevices, from the runner child)', () => {
  const r = cli(['probe', '--json', '--models-dir', dir])
  assert.equal(r.status, 0, r.stderr)
  const p = JSON.parse(r.stdout) as {
    engineDevices?: Array<{name: string; backend: string; memoryTotalBytes: number | null}>
  }
  const cpu = p.engineDevices?.find((d) => d.name === 'CPU')
  assert.ok(cpu, JSON.stringify(p.engineDevices))
  assert.equal(cpu.backend, 'CPU')
  assert.ok((cpu.memoryTotalBytes ?? 0) > 0)
  const text = cli(['probe', '--models-dir', dir], {env: {GGML_VK_VISIBLE_DEVICES: '0'}})
  assert.match(text.stdout, /^Engine\s+CPU \[CPU, cpu\]/m)
})
