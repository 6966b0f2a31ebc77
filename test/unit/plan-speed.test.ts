/**
 * Speed model (src/planner/speed.ts, issue 13): its parts as pure functions — thread count,
 * GPU matching by PCI id and name, layer-split prefill, engine builds, the calibration path —
 * and the published figures (bench/data/published-speeds.json) inside the predicted ranges.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import type {ModelProfile} from '../../src/schemas/model.js'
import {hardwareProfileSchema, type HardwareProfile} from '../../src/schemas/hardware.js'
import {planSchema} from '../../src/schemas/plan.js'
import {assertValid, schemaErrors} from '../../src/schemas/validate.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {makePlan} from '../../src/planner/plan.js'
import {matchGpu, normGpuName} from '../../src/planner/gpus.js'
import {GPU_LAYER_S, interpolateThroughput} from '../../src/planner/speed.js'
import {evaluateAll, summarize, type PublishedSpeeds} from '../../bench/speed-published.js'
import {rig} from '../fixtures/plan/rigs.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const model = (id: string): ModelProfile => catalogModel(id)
const lite = model('deepseek-v2-lite')
const r1 = model('deepseek-r1')

/** A one-socket 16-core desktop (2 × DDR5-4000), no GPU. */
function desktop(extra: Partial<HardwareProfile> = {}): HardwareProfile {
  const p = rig({id: 'desk', sockets: 1, ramGiB: 64, channels: 2, mts: 4000, cores: 16, gpus: 0})
  p.cpu = {
    ...p.cpu,
    vendor: 'AuthenticAMD',
    microarchitecture: 'Zen 4',
    flags: ['avx2', 'avx512f', 'avx512_vnni'],
    baseMHz: 4500,
  }
  return {...p, ...extra}
}

test('decode depends on the thread count: at 1 thread a small model is compute-bound', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const at = (threads: number) => makePlan(inv, [desktop()], {ctx: 4096, engine: 'llama.cpp', threads})
  const one = at(1),
    all = at(16)
  assert.ok(
    one.prediction.decodeTps < all.prediction.decodeTps * 0.7,
    `1 thread ${one.prediction.decodeTps}, 16 threads ${all.prediction.decodeTps}`,
  )
  const m1 = one.prediction.decodeMs!,
    m16 = all.prediction.decodeMs!
  assert.ok(m1.cpuCompute! > m1.cpuMemory!, 'one thread: compute term binds')
  assert.ok(m16.cpuMemory! > m16.cpuCompute!, 'all cores: memory term binds')
  assert.ok(one.prediction.prefillTps < all.prediction.prefillTps / 8)
  assert.equal(all.prediction.speedModel!.source, 'published-class')
})

test('GPU matching: PCI id first, then normalised name; a 4090 D is not a 4090; unknown GPUs say so', () => {
  assert.equal(normGpuName('NVIDIA GeForce RTX 4090 D'), 'rtx 4090 d')
  assert.equal(matchGpu('NVIDIA GeForce RTX 4090 D', '0x10de', '0x2685').spec!.tflops, 147.2)
  assert.equal(matchGpu('NVIDIA GeForce RTX 4090 D').spec!.name, 'NVIDIA GeForce RTX 4090 D')
  assert.equal(matchGpu('some renamed board', '0x10de', '0x2684').spec!.name, 'NVIDIA GeForce RTX 4090')
  assert.equal(matchGpu('NVIDIA L40', '0x10de', '0x0000').spec!.name, 'NVIDIA L40')
  assert.equal(matchGpu('NVIDIA RTX PRO 6000 Blackwell Workstation Edition').spec!.bandwidthGBs, 1792)
  for (const n of ['NVIDIA GeForce RTX 4080', 'NVIDIA GB10', 'NVIDIA RTX A6000']) assert.ok(matchGpu(n).spec, n)
  // datacenter Hopper parts: nvidia-smi's names and PCI ids (an H200 as the device machine's nvidia-smi names it)
  assert.equal(matchGpu('NVIDIA H200', '0x10de', '0x2335').spec!.bandwidthGBs, 4800)
  assert.equal(matchGpu('NVIDIA H200').spec!.tflops, 989.4)
  assert.equal(matchGpu('NVIDIA H100 80GB HBM3').spec!.bandwidthGBs, 3350)
  assert.equal(matchGpu('NVIDIA H100 PCIe').spec!.bandwidthGBs, 2000)
  assert.equal(matchGpu('NVIDIA H200 NVL').spec!.tflops, 835.5)
  const u = matchGpu('Moore Threads MTT S4000')
  assert.equal(u.spec, null)
  const hw = rig({sockets: 1, ramGiB: 64, gpus: 1, gpuName: 'Moore Threads MTT S4000', vramGiB: 48})
  hw.gpus[0] = {...hw.gpus[0], vendor: 'other', vendorId: '0x1ed5', deviceId: '0x0323', memoryBandwidthGBs: 768}
  const p = makePlan(inventoryFromCatalog(lite, {quant: 'Q4_K_M'}), [hw], {ctx: 4096, engine: 'llama.cpp', gpus: 1})
  assert.match(p.prediction.assumptions.join('\n'), /unknown GPU "Moore Threads MTT S4000".*assumed .* TFLOPS FP16/)
})

test("prefill over a layer split does not add the GPUs' FLOPS", () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const hw = (n: number) => [
    rig({sockets: 1, ramGiB: 64, gpus: n, gpuName: 'NVIDIA GeForce RTX 3090', vramGiB: 24, gpuBw: 936}),
  ]
  const one = makePlan(inv, hw(1), {ctx: 4096, engine: 'llama.cpp', gpus: 1, placement: {kind: 'all-gpu'}})
  const four = makePlan(inv, hw(4), {ctx: 4096, engine: 'llama.cpp', gpus: 4, placement: {kind: 'all-gpu'}})
  assert.ok(
    four.prediction.prefillTps <= one.prediction.prefillTps * 1.001,
    `${four.prediction.prefillTps} vs ${one.prediction.prefillTps}`,
  )
  assert.ok(four.prediction.decodeTps < one.prediction.decodeTps, 'three GPU→GPU boundaries cost decode time')
})

test('ktransformers: GGUF builds prefill without AMX; kt-kernel uses AMX where the CPU has it; NUMA-unaware is slower', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  const hw = [
    rig({sockets: 2, cores: 64, ramGiB: 2048, gpus: 1, gpuName: 'NVIDIA GeForce RTX 4090', vramGiB: 24, gpuBw: 1008}),
  ]
  const gguf = makePlan(inv, hw, {ctx: 4096, engine: 'ktransformers'})
  const amx = makePlan(inv, hw, {ctx: 4096, engine: 'ktransformers', engineBuild: 'kt-kernel'})
  assert.match(gguf.prediction.assumptions.join('\n'), /no AMX/)
  assert.match(amx.prediction.assumptions.join('\n'), /AMX \(kt-kernel/)
  assert.ok(amx.prediction.prefillTps > 2 * gguf.prediction.prefillTps)
  assert.equal(gguf.prediction.speedModel!.engineBuild, 'ktransformers-0.2.1')
  const unaware = makePlan(inv, hw, {ctx: 4096, engine: 'ktransformers', numaAware: false})
  assert.equal(unaware.prediction.speedModel!.numa, 'unaware')
  assert.ok(unaware.prediction.decodeTps < gguf.prediction.decodeTps * 0.75)
  assert.throws(
    () => makePlan(inv, hw, {ctx: 4096, engine: 'llama.cpp', engineBuild: 'kt-kernel'}),
    /kt-kernel is a ktransformers build/,
  )
})

test('MLA decode slows with depth through the latent attention compute, not only the KV bytes', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  const hw = [
    rig({
      sockets: 1,
      cores: 96,
      ramGiB: 768,
      channels: 12,
      gpus: 1,
      gpuName: 'NVIDIA GeForce RTX 4090',
      vramGiB: 24,
      gpuBw: 1008,
    }),
  ]
  const at = (ctx: number) =>
    makePlan(inv, hw, {ctx, engine: 'ktransformers', engineBuild: 'ktransformers-0.2'}).prediction
  const short = at(2048),
    long = at(20480)
  assert.ok(long.decodeTps < short.decodeTps * 0.85, `${short.decodeTps} → ${long.decodeTps}`)
  assert.ok(long.decodeMs!.attention! > 5 * short.decodeMs!.attention!)
})

test('calibration: a hand-written calibration section validates and replaces the class constants, and the plan says so', () => {
  const base = desktop()
  const calibrated: HardwareProfile = {
    ...base,
    calibration: {
      provenance: 'measured',
      measuredAt: '2026-01-02T03:04:05Z',
      llamaCppRelease: 'b6918',
      cpuVariant: 'zen4',
      models: ['synth dram-1g Q4_K_M'],
      decodeBandwidthGBs: 40,
      decodeThreads: 16,
      cpuThroughput: [
        {threads: 1, prefillGflops: 100, decodeGflops: 20},
        {threads: 16, prefillGflops: 1200, decodeGflops: 300},
      ],
      tokenOverheadMs: 1,
      layerOverheadUs: 50,
    },
  }
  assertValid(hardwareProfileSchema, calibrated, 'calibrated profile')
  assert.ok(
    schemaErrors(hardwareProfileSchema, {...calibrated, calibration: {...calibrated.calibration, provenance: 'spec'}})
      .length > 0,
  )
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const p = makePlan(inv, [calibrated], {ctx: 256, engine: 'llama.cpp', threads: 16})
  assert.deepEqual(schemaErrors(planSchema, p), [])
  assert.equal(p.prediction.speedModel!.source, 'calibration')
  const text = p.prediction.assumptions.join('\n')
  assert.match(text, /calibration of 2026-01-02T03:04:05Z \(measured, llama\.cpp b6918, CPU variant zen4\)/)
  assert.match(text, /40 GB\/s effective/)
  // mid decode = 1 / (max(bytes / 40 GB/s, cost FLOPs / 300 GFLOP/s) + layers × 50 µs + 1 ms)
  const bytes = p.prediction.bytesPerToken!.CPU
  const m = p.prediction.decodeMs!
  assert.ok(Math.abs(m.cpuMemory! - (bytes / 40e9) * 1e3) < 0.01, `${m.cpuMemory} vs ${(bytes / 40e9) * 1e3}`)
  const layers = inv.shape.hp.nLayer
  assert.ok(Math.abs(m.sync! - (layers * 50e-3 + 1)) < 0.01, `sync ${m.sync}`)
  const expected = 1000 / (Math.max(m.cpuMemory!, m.cpuCompute!) + m.attention! + layers * 50e-3 + 1)
  assert.ok(Math.abs(p.prediction.decodeTps - expected) < 0.02, `${p.prediction.decodeTps} vs ${expected}`)
  // threads between calibrated points interpolate; the plan's prefill follows the measured throughput
  assert.equal(
    interpolateThroughput(
      [
        {threads: 1, gflops: 100},
        {threads: 16, gflops: 1200},
      ],
      8,
    ),
    100 + (1100 * 7) / 15,
  )
  const p8 = makePlan(inv, [calibrated], {ctx: 256, engine: 'llama.cpp', threads: 8})
  assert.ok(p8.prediction.prefillTps < p.prediction.prefillTps)
  assert.match(p8.prediction.assumptions.join('\n'), /prefill CPU 613 GFLOP\/s at 8 threads \(calibrated\)/)
  // the range is the calibration's spread, far narrower than the class range
  const r = p.prediction.decodeRange!,
    rc = makePlan(inv, [base], {ctx: 256, engine: 'llama.cpp', threads: 16}).prediction.decodeRange!
  assert.ok(r.high / r.low < rc.high / rc.low)
})

test('published figures (bench/data/published-speeds.json): every decode figure inside the predicted range; medians reported', async () => {
  const data = JSON.parse(
    readFileSync(new URL('../../bench/data/published-speeds.json', import.meta.url), 'utf8'),
  ) as PublishedSpeeds
  const rows = await evaluateAll(data)
  assert.deepEqual(
    rows.filter((r) => r.error).map((r) => r.id),
    [],
  )
  const out = rows
    .filter((r) => r.decode && !r.decode.inRange)
    .map((r) => `${r.id}: ${r.decode!.published} not in ${r.decode!.low}–${r.decode!.high}`)
  assert.deepEqual(out, [])
  const s = summarize(rows)
  const fit = s.find((x) => x.phase === 'decode' && x.split === 'fit')!
  assert.ok(fit.medianAbsErrorPct! <= 15, `decode fit median |error| ${fit.medianAbsErrorPct}`)
  const ppOut = rows.filter((r) => r.prefill && !r.prefill.inRange && r.split === 'fit').map((r) => r.id)
  assert.deepEqual(ppOut, [])
})

test("calibration: a GPU's measured per-layer cost is paid per layer it runs; a calibration before it (bandwidth only) keeps it inside that bandwidth", () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const hw = rig({id: 'g1', sockets: 1, ramGiB: 64, channels: 2, mts: 4800, cores: 16, gpus: 1, vramGiB: 24})
  const cal = (gpu: Record<string, number>): HardwareProfile => ({
    ...hw,
    calibration: {
      provenance: 'measured',
      measuredAt: '2026-01-02T03:04:05Z',
      tokenOverheadMs: 0,
      layerOverheadUs: 0,
      gpus: [{index: hw.gpus[0].index ?? 0, name: 'x', ...gpu}],
    },
  })
  const plan = (p: HardwareProfile) =>
    makePlan(inv, [p], {ctx: 256, engine: 'llama.cpp', gpus: 1, placement: {kind: 'all-gpu'}}).prediction
  const launches = inv.shape.hp.nLayer + 1
  const measured = plan(cal({layerUs: 130}))
  assert.ok(Math.abs(measured.decodeMs!.sync! - launches * 0.13) < 1e-6, `sync ${measured.decodeMs!.sync}`)
  assert.match(measured.assumptions.join('\n'), /130 µs per layer a token and a ubatch \(calibrated/)
  // the spec × η bandwidth stays where the calibration has no bandwidth
  const uncal = plan(hw)
  assert.equal(measured.decodeMs!.gpu, uncal.decodeMs!.gpu)
  assert.ok(Math.abs(uncal.decodeMs!.sync! - launches * GPU_LAYER_S.mid * 1e3) < 1e-6)
  // prefill pays it once per ubatch, for the layers it runs (the output computes only the last token)
  const both = plan(cal({layerUs: 130, prefillTflops: 50}))
  const more = plan(cal({layerUs: 260, prefillTflops: 50}))
  assert.ok(Math.abs(more.prefillMsPerUbatch! - both.prefillMsPerUbatch! - inv.shape.hp.nLayer * 0.13) < 1e-3)
  const legacy = plan(cal({bandwidthGBs: 110}))
  assert.equal(legacy.decodeMs!.sync, 0)
  assert.match(
    legacy.assumptions.join('\n'),
    /110 GB\/s effective \(calibrated\); its per-layer cost inside that bandwidth/,
  )
})
