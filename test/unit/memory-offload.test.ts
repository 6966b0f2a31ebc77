/**
 * Compute buffers under llama.cpp's op offload (src/planner/memory.ts, issue 13 item 5): a GPU that
 * computes an op whose weight is in RAM holds a copy of that weight in its compute buffer. Checked
 * against the one published log that shows it (Qwen3-235B-A22B Q3_K_S, Vulkan, -ngl 93 of 95,
 * n_ctx 4096, ub 512, no flash attention: "Vulkan0 compute buffer size = 791.61 MiB"), and in a
 * plan: experts in RAM make the first GPU's compute buffer hold the largest expert matrix.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import type {ModelProfile} from '../../src/schemas/model.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {attnHeadDims, computeBytes, KTRANSFORMERS_GPU_OVERHEAD_BYTES} from '../../src/planner/memory.js'
import {makePlan} from '../../src/planner/plan.js'
import {rig} from '../fixtures/plan/rigs.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const model = (id: string): ModelProfile => catalogModel(id)
const MiB = 2 ** 20

test('Qwen3-235B Vulkan log: 791.61 MiB = the output.weight copy + logits + final norm, not K·Q and logits at once', () => {
  const shape = inventoryFromCatalog(model('qwen3-235b-a22b'), {quant: 'Q3_K_M'}).shape
  const base = {
    shape,
    ctx: 4096,
    ubatch: 512,
    flashAttention: false,
    attnHeadDims: attnHeadDims(shape, 'per-head'),
    attention: true,
    ffn: true,
    output: true,
    host: false,
    kvLayout: 'per-head',
    kvBytesPerElem: 2,
    vElemsPerLayer: 512,
  }
  // output.weight Q6_K [4096, 151936]: 210 B per 256 weights
  const outputQ6K = (151936 * 4096 * 210) / 256
  const withCopy = computeBytes({...base, offloadOutputBytes: outputQ6K}, true) / MiB
  assert.ok(Math.abs(withCopy / 791.61 - 1) < 0.015, `${withCopy.toFixed(2)} MiB vs 791.61 logged`)
  // without the copy the K·Q phase binds: the 554 MiB the former plan had
  const kq = computeBytes(base, true) / MiB
  assert.ok(Math.abs(kq - 554.5) < 2, `${kq.toFixed(2)} MiB`)
  // and "K·Q and logits at once" would be far above the log
  assert.ok(kq + 296.75 > 791.61 * 1.05)
})

test('experts in RAM: the first GPU copies the largest expert matrix per offloaded op (ubatch ≥ 32), not below', () => {
  const inv = inventoryFromCatalog(model('deepseek-r1'), {quant: 'Q4_K_M'})
  const biggest = Math.max(...inv.tensors.filter((t) => t.role === 'routed_experts').map((t) => t.bytes))
  const hw = [rig({gpus: 2, vramGiB: 48})]
  const gpu0 = (ubatch: number, opOffload: 'on' | 'off' = 'on') =>
    makePlan(inv, hw, {
      ctx: 8192,
      engine: 'llama.cpp',
      gpus: 2,
      ubatch,
      placement: {kind: 'exps-cpu'},
      opOffload,
    }).devices.find((d) => d.id === 'GPU0')!.computeBytes
  const gpu1 = makePlan(inv, hw, {
    ctx: 8192,
    engine: 'llama.cpp',
    gpus: 2,
    ubatch: 512,
    placement: {kind: 'exps-cpu'},
  }).devices.find((d) => d.id === 'GPU1')!.computeBytes
  assert.ok(gpu0(512) > biggest, `${gpu0(512)} vs ${biggest}`)
  assert.ok(gpu0(16) < biggest / 4, 'ubatch 16: no op offload, no copy')
  assert.ok(gpu0(512, 'off') < biggest / 4, '--no-op-offload: no copy')
  assert.ok(gpu1 < biggest / 4, 'only the first GPU takes offloaded ops')
})

test('ktransformers: each GPU with layers carries its named overhead (CUDA graphs, Marlin workspace, static cache)', () => {
  const inv = inventoryFromCatalog(model('deepseek-r1'), {quant: 'Q4_K_M'})
  const hw = [rig({gpus: 1, gpuName: 'NVIDIA GeForce RTX 4090', vramGiB: 24, gpuBw: 1008})]
  const kt = makePlan(inv, hw, {ctx: 4096, engine: 'ktransformers'}).devices.find((d) => d.id === 'GPU0')!
  const ll = makePlan(inv, hw, {ctx: 4096, engine: 'llama.cpp', placement: {kind: 'exps-cpu'}}).devices.find(
    (d) => d.id === 'GPU0',
  )!
  assert.equal(kt.overheadBytes - ll.overheadBytes, KTRANSFORMERS_GPU_OVERHEAD_BYTES)
  // the tutorial's "at least 14GB VRAM" for V0.2 Q4_K_M: the plan now lands there (13–15 GiB with headroom)
  const gib = (kt.weightsBytes + kt.kvBytes + kt.computeBytes + kt.overheadBytes) / 2 ** 30
  assert.ok(gib > 13 && gib < 16, `${gib.toFixed(2)} GiB`)
})

test('op offload at a ubatch whose logits fit the per-tensor limit: the GPU computes them though output.weight stayed in RAM', () => {
  // llama.cpp places output.weight by a 512-column test op (WEIGHT_TEST_BATCH), but the scheduler
  // asks the GPU about the real op: on llvmpipe (128 MiB) r1-mini's logits at -ub 256 (100 MiB)
  // went to Vulkan0 (183 MiB measured) while output.weight stayed in RAM
  const inv = inventoryFromCatalog(model('deepseek-v2-lite'), {quant: 'Q4_K_M'})
  const hw = rig({gpus: 1, vramGiB: 16})
  // a limit above output.weight (164 MiB) and between the logits at -ub 256 and 512 (100 / 200 MiB)
  const limit = 180 * MiB
  hw.gpus[0].maxTensorBytes = limit
  const logits = (ub: number) => inv.shape.hp.nVocab * ub * 4
  assert.ok(logits(512) > limit && logits(256) < limit)
  assert.ok(inv.tensors.find((t) => t.role === 'output')!.bytes < limit)
  const dev = (ubatch: number, id: string) =>
    makePlan(inv, [hw], {
      ctx: 4096,
      engine: 'llama.cpp',
      ubatch,
      placement: {kind: 'exps-cpu'},
      opOffload: 'on',
    }).devices.find((d) => d.id === id)!.computeBytes
  assert.ok(dev(256, 'GPU0') > logits(256), `${dev(256, 'GPU0') / MiB} MiB on GPU0 at -ub 256`)
  assert.ok(dev(256, 'CPU') < logits(256) / 4, 'the host keeps no logits at -ub 256')
  assert.ok(dev(512, 'CPU') > logits(512), 'at -ub 512 the logits stay on the CPU')
})

test('a GPU holding output.weight whose per-tensor limit the logits at the ubatch exceed leaves them to the host, which copies the weight', () => {
  // llvmpipe (128 MiB), tiny at -ub 2048 / 4096: CPU 262.59 / 518.60 MiB = logits + output matrix + two rows
  const inv = inventoryFromCatalog(model('deepseek-v2-lite'), {quant: 'Q4_K_M'})
  const hw = rig({gpus: 1, vramGiB: 48})
  // output.weight (164 MiB) and its logits at the 512-column load test (200 MiB) fit; at -ub 1024 (400 MiB) they do not
  hw.gpus[0].maxTensorBytes = 256 * MiB
  const out = inv.tensors.find((t) => t.role === 'output')!
  const logits = (ub: number) => inv.shape.hp.nVocab * ub * 4
  const plan = (ubatch: number) =>
    makePlan(inv, [hw], {
      ctx: 4096,
      engine: 'llama.cpp',
      ubatch,
      batch: Math.max(ubatch, 2048),
      placement: {kind: 'all-gpu'},
    })
  const dev = (p: ReturnType<typeof plan>, id: string) => p.devices.find((d) => d.id === id)!
  const small = plan(512)
  assert.ok(dev(small, 'GPU0').weightsBytes > out.bytes, 'output.weight on the GPU')
  assert.ok(dev(small, 'GPU0').computeBytes > logits(512), 'its logits there at -ub 512')
  const big = plan(1024)
  assert.ok(
    dev(big, 'CPU').computeBytes >= logits(1024) + out.bytes,
    `${dev(big, 'CPU').computeBytes / MiB} MiB on the host`,
  )
  assert.ok(dev(big, 'GPU0').computeBytes < logits(1024) / 2, 'none on the GPU')
})
