/**
 * Speed model terms added in issue 13's second pass (src/planner/speed.ts): the last-level-cache
 * term, the prefill width efficiency, the per-ubatch overhead, the attention cost per query × key
 * on mainline CPU kernels, and the RPC seam — each as a pure function or as a difference between
 * two plans that differ in that one input.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import type {ModelProfile} from '../../src/schemas/model.js'
import type {HardwareProfile} from '../../src/schemas/hardware.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {makePlan} from '../../src/planner/plan.js'
import {
  cacheTerm,
  handoffSeconds,
  LLC_WEIGHT_FRACTION,
  MATMUL_K_HALF_PREFILL,
  MATMUL_K_REF,
  rpcHopSeconds,
  widthEff,
} from '../../src/planner/speed.js'
import {rig, testCalibration} from '../fixtures/plan/rigs.js'
import {ASSUMED_LINK} from '../../src/planner/rpc.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const lite: ModelProfile = catalogModel('deepseek-v2-lite')

/** a one-socket 16-core desktop, no GPU, with the given L3 */
function desk(l3Bytes: number | null, calibration?: HardwareProfile['calibration']): HardwareProfile {
  const p = rig({id: 'desk', sockets: 1, ramGiB: 64, channels: 2, mts: 4000, cores: 16, gpus: 0})
  p.cpu = {...p.cpu, vendor: 'AuthenticAMD', microarchitecture: 'Zen 4', flags: ['avx2', 'avx512f', 'avx512_vnni']}
  p.cpu.baseMHz = 4500
  p.cpu.l3Bytes = l3Bytes
  return calibration ? {...p, calibration} : p
}

test('cache term: a working set inside the usable LLC is read from cache, a 10× larger one mostly from DRAM', () => {
  const rates = {llcBytes: () => 100e6, llcBw: () => 400e9, bw: () => 40e9}
  const inside = cacheTerm(50e6, 80e6, rates, 'mid')
  assert.equal(inside.hit, 1)
  assert.equal(inside.dramS, 0)
  assert.ok(Math.abs(inside.cacheS - 50e6 / 400e9) < 1e-12)
  const big = cacheTerm(50e6, 1e9, rates, 'mid')
  assert.ok(Math.abs(big.hit - 0.1) < 1e-12)
  assert.ok(Math.abs(big.dramS - (50e6 * 0.9) / 40e9) < 1e-12)
  assert.equal(cacheTerm(50e6, 0, rates, 'mid').hit, 0)
  assert.ok(LLC_WEIGHT_FRACTION.low < LLC_WEIGHT_FRACTION.mid && LLC_WEIGHT_FRACTION.mid < LLC_WEIGHT_FRACTION.high)
})

test('cache term in a plan: a model that fits the L3 decodes faster than with no cache; the plan says how much came from it', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const opts = {ctx: 4096, engine: 'llama.cpp' as const, threads: 16}
  const none = makePlan(inv, [desk(null)], opts).prediction
  const huge = makePlan(inv, [desk(64 * 2 ** 30)], opts).prediction
  assert.ok(huge.decodeTps > none.decodeTps * 1.05, `${huge.decodeTps} vs ${none.decodeTps}`)
  assert.equal(none.decodeMs!.cpuCache, 0)
  assert.ok(huge.decodeMs!.cpuCache! > 0 && huge.decodeMs!.cpuMemory! < 1e-6)
  assert.match(huge.assumptions.join('\n'), /last-level cache: 65536 MiB L3 .* 100 % of the CPU's decode bytes/)
  assert.match(none.assumptions.join('\n'), /last-level cache: size unknown/)
  // a server L3 (32 MiB) against a 10 GB model changes nothing that matters
  const small = makePlan(inv, [desk(32 * 2 ** 20)], opts).prediction
  assert.ok(Math.abs(small.decodeTps / none.decodeTps - 1) < 0.01)
})

test('width efficiency: 1 from the reference row length up, below it K ÷ (K + K½) relative to the reference', () => {
  assert.equal(widthEff(MATMUL_K_REF, MATMUL_K_HALF_PREFILL), 1)
  assert.equal(widthEff(7168, MATMUL_K_HALF_PREFILL), 1)
  const e256 = widthEff(256, MATMUL_K_HALF_PREFILL)
  const want = 256 / (256 + MATMUL_K_HALF_PREFILL) / (MATMUL_K_REF / (MATMUL_K_REF + MATMUL_K_HALF_PREFILL))
  assert.ok(Math.abs(e256 - want) < 1e-12)
  assert.ok(widthEff(128, MATMUL_K_HALF_PREFILL) < e256 && e256 < widthEff(1024, MATMUL_K_HALF_PREFILL))
  assert.equal(widthEff(0, MATMUL_K_HALF_PREFILL), 1)
})

test('per-ubatch overhead: a calibrated per-layer cost slows prefill by layers × cost per ubatch, more for short ubatches', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const cal = (layerOverheadUs: number): HardwareProfile['calibration'] => testCalibration({layerOverheadUs})
  const ms = (us: number, ubatch: number) =>
    makePlan(inv, [desk(null, cal(us))], {ctx: 4096, engine: 'llama.cpp', threads: 16, ubatch}).prediction
      .prefillMsPerUbatch!
  const layers = inv.shape.hp.nLayer
  // prefillMsPerUbatch is rounded to 0.1 ms by the plan
  assert.ok(Math.abs(ms(1000, 512) - ms(0, 512) - layers * 1) < 0.2, `${ms(1000, 512)} vs ${ms(0, 512)}`)
  const share = (ub: number) => 1 - ms(0, ub) / ms(1000, ub)
  assert.ok(share(64) > share(512), 'a fixed cost weighs more on a short ubatch')
})

test('CPU attention in prefill: mainline kernels pay a cost per query × key × head (said in the plan); ik_llama.cpp plain FLOPs', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const plan = (ctx: number, engineBuild?: 'ik_llama.cpp') =>
    makePlan(inv, [desk(null)], {ctx, engine: 'llama.cpp', threads: 16, ...(engineBuild ? {engineBuild} : {})})
      .prediction
  assert.ok(plan(32768).prefillTps < plan(1024).prefillTps * 0.8, 'attention over a long context slows prefill')
  assert.match(plan(4096).assumptions.join('\n'), /FLOP-equivalents per query × key × head/)
  assert.doesNotMatch(plan(4096, 'ik_llama.cpp').assumptions.join('\n'), /per query × key × head/)
})

test('RPC: the network term (planner/rpc.ts) is inside the hand-off time', () => {
  const h = {
    cpuGpu: 2,
    gpuGpu: 1,
    rpc: 3,
    rpcCross: {onto: 2, off: 1, outputRemote: false},
    rpcDecode: {roundTrips: 1, bytes: 3 * 28672},
    rpcLink: ASSUMED_LINK,
  }
  assert.equal(rpcHopSeconds(h, 'mid'), ASSUMED_LINK.rttS.mid + (3 * 28672) / ASSUMED_LINK.bytesPerS.mid)
  assert.ok(handoffSeconds(h, 'mid') > rpcHopSeconds(h, 'mid'))
  const none = {...h, rpc: 0, rpcDecode: {roundTrips: 0, bytes: 0}}
  assert.equal(handoffSeconds(none, 'mid') + rpcHopSeconds(h, 'mid'), handoffSeconds(h, 'mid'))
})

test('calibrated decode: compute on cached weights runs at the cached rate, streamed weights at the DRAM rate', () => {
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const cal = (decodeCacheGflops?: number): HardwareProfile['calibration'] => ({
    provenance: 'measured',
    measuredAt: '2026-12-02T00:00:00.000Z',
    decodeBandwidthGBs: 5000,
    decodeThreads: 16,
    cpuThroughput: [
      {threads: 16, decodeGflops: 50, prefillGflops: 1000, ...(decodeCacheGflops ? {decodeCacheGflops} : {})},
    ],
    tokenOverheadMs: 0,
    layerOverheadUs: 0,
  })
  const opts = {ctx: 4096, engine: 'llama.cpp' as const, threads: 16}
  const cached = (c?: number) => makePlan(inv, [desk(64 * 2 ** 30, cal(c))], opts).prediction.decodeMs!.cpuCompute!
  const streamed = (c?: number) => makePlan(inv, [desk(null, cal(c))], opts).prediction.decodeMs!.cpuCompute!
  assert.ok(Math.abs(cached(200) * 4 - cached()) < cached() * 0.01, `${cached(200)} vs ${cached()}`)
  assert.equal(streamed(200), streamed())
  assert.match(
    makePlan(inv, [desk(null, cal(200))], opts).prediction.assumptions.join('\n'),
    /200 GFLOP\/s on cached weights/,
  )
})
