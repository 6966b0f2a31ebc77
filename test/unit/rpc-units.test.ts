// Pure parts of llama.cpp RPC support (issue 15): --rpc endpoint parsing, rpc-server's option
// checks and banner parsing, the planner's network transfer term, and the names of RPC devices.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {endpointText, isLoopback, parseEndpoint, parseEndpoints} from '../../src/engine/rpc.js'
import {checkServeOptions, parseBannerDevice} from '../../src/runner/rpc-server.js'
import {
  ASSUMED_LINK,
  crossingBytes,
  measuredLink,
  planLink,
  rpcCrossings,
  rpcTraffic,
  rpcTransferSeconds,
  rpcTransferWords,
} from '../../src/planner/rpc.js'
import {MoerigError} from '../../src/lib/errors.js'
import {checkPlanRpc, nameRpcBuffers, rpcDevices} from '../../src/runner/rpc-engine.js'
import {deviceOfBuffer, parseBufferLines} from '../../src/runner/memory.js'
import {engineDeviceOf, engineGpus} from '../../src/runner/planrun.js'
import type {LlamaDevice} from '../../src/engine/addon.js'
import type {Plan} from '../../src/schemas/plan.js'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {makePlan} from '../../src/planner/plan.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {loadHardwareProfile} from '../../src/profiles/hardware.js'
import {modelProfilesDir, projectRoot} from '../../src/lib/paths.js'

function usage(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MoerigError, String(e))
    assert.equal(e.code, 'E_USAGE')
    assert.match(e.message, re)
    assert.ok(!e.message.includes('\n'), 'one line')
    return true
  })
}

test('--rpc: host:port lists parse in order; names and IPv4 both work', () => {
  assert.deepEqual(parseEndpoints('127.0.0.1:50052,box-b.lan:50053'), [
    {host: '127.0.0.1', port: 50052},
    {host: 'box-b.lan', port: 50053},
  ])
  assert.deepEqual(parseEndpoints(' 10.0.0.2:1 '), [{host: '10.0.0.2', port: 1}])
  assert.equal(endpointText(parseEndpoint('localhost:65535')), 'localhost:65535')
})

test('--rpc: bad entries are one line naming the entry', () => {
  usage(() => parseEndpoints('127.0.0.1'), /"127\.0\.0\.1": expected host:port/)
  usage(() => parseEndpoints('127.0.0.1:0'), /port "0" is not a number from 1 to 65535/)
  usage(() => parseEndpoints('127.0.0.1:70000'), /port "70000"/)
  usage(() => parseEndpoints('127.0.0.1:abc'), /port "abc"/)
  usage(() => parseEndpoints('300.1.1.1:50052'), /not an IPv4 address/)
  usage(() => parseEndpoints('[::1]:50052'), /IPv6 addresses are not supported/)
  usage(() => parseEndpoints('::1:50052'), /IPv6/)
  usage(() => parseEndpoints('a b:1'), /not a host name or IPv4 address/)
  usage(() => parseEndpoints('a:1,,b:2'), /no empty entries/)
  usage(() => parseEndpoints('a:1,a:1'), /a:1 is named twice/)
  usage(() => parseEndpoints(':50052'), /expected host:port/)
})

test('rpc-server: loopback by default; another address needs --expose; bad --mem/--device refused', () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('localhost'))
  assert.ok(!isLoopback('0.0.0.0') && !isLoopback('192.168.1.2'))
  checkServeOptions({host: '127.0.0.1', port: 50052})
  checkServeOptions({host: '0.0.0.0', port: 50052, expose: true})
  usage(() => checkServeOptions({host: '0.0.0.0', port: 50052}), /no authentication.*--expose/)
  usage(() => checkServeOptions({host: '127.0.0.1', port: 50052, memGiB: 0}), /--mem 0/)
  usage(() => checkServeOptions({host: '127.0.0.1', port: 50052, devices: 'CPU;rm'}), /--device/)
  usage(() => checkServeOptions({host: '127.0.0.1', port: 0}), /port "0"/)
})

test("rpc-server: the banner's device lines", () => {
  assert.deepEqual(parseBannerDevice('  CPU: AMD EPYC (2048 MiB, 1024 MiB free)'), {
    name: 'CPU',
    description: 'AMD EPYC',
    totalBytes: 2048 * 1024 ** 2,
    freeBytes: 1024 * 1024 ** 2,
  })
  assert.equal(parseBannerDevice('  CUDA0: NVIDIA GeForce RTX 5090 (32109 MiB, 31588 MiB free)')?.name, 'CUDA0')
  assert.equal(parseBannerDevice('  endpoint       : 127.0.0.1:50052'), null)
})

test('planner RPC term: round trip + hidden state over bandwidth, per crossing', () => {
  // R1: n_embd 7168 → 28 672 B per token crossing
  assert.equal(crossingBytes(7168, 1), 28672)
  const link = measuredLink({rttUs: 100, uploadGBs: 2, downloadGBs: 1})
  const r1 = {nEmbd: 7168, nVocab: 129280}
  const remote = (d: string) => d.startsWith('RPC')
  // CPU → RPC0 → CPU, output local: the hidden state out and back, one round trip (the fetch back)
  const mid = rpcCrossings(['CPU', 'CPU', 'RPC0', 'RPC0', 'CPU', 'CPU'], remote)
  assert.deepEqual(mid, {onto: 1, off: 1, outputRemote: false})
  const dec = rpcTraffic({...mid, ...r1, tokens: 1})
  assert.deepEqual(dec, {roundTrips: 1, bytes: 2 * 28672})
  // 100 µs + 57 344 B / 1 GB/s (the slower direction)
  assert.ok(Math.abs(rpcTransferSeconds(dec, link, 'mid') - (100e-6 + (2 * 28672) / 1e9)) < 1e-12)
  // CPU → RPC0 → RPC1 (output there): RPC0's result fetched and sent on, then the logits (517 kB for R1)
  const two = rpcCrossings(['CPU', 'RPC0', 'RPC1', 'RPC1'], remote)
  assert.deepEqual(two, {onto: 2, off: 1, outputRemote: true})
  assert.deepEqual(rpcTraffic({...two, ...r1, tokens: 1}), {roundTrips: 2, bytes: 3 * 28672 + 129280 * 4})
  // prefill: a ubatch of 512 moves 512× the hidden state; the last token's logits once
  const pre = rpcTraffic({...rpcCrossings(['CPU', 'RPC0'], remote), ...r1, tokens: 512})
  assert.deepEqual(pre, {roundTrips: 1, bytes: 28672 * 512 + 129280 * 4})
  // no remote device: nothing crosses
  const none = rpcTraffic({...rpcCrossings(['CPU', 'CUDA0', 'CPU'], remote), ...r1, tokens: 1})
  assert.deepEqual(none, {roundTrips: 0, bytes: 0})
  assert.equal(rpcTransferSeconds(none, link, 'mid'), 0)
  // low is the slow end
  for (const l of [link, ASSUMED_LINK])
    assert.ok(rpcTransferSeconds(pre, l, 'low') > rpcTransferSeconds(pre, l, 'high'))
  assert.match(
    rpcTransferWords(dec, pre, 512, ASSUMED_LINK),
    /1 round trip per token.*57344 B cross per token.*assumed/,
  )
  assert.match(rpcTransferWords(dec, pre, 512, link), /measured link/)
  // the slowest of several measured links
  const w = planLink([
    {rttUs: 100, uploadGBs: 2, downloadGBs: 1},
    {rttUs: 300, uploadGBs: 5, downloadGBs: 5},
  ])
  assert.ok(Math.abs(w.rttS.mid - 300e-6) < 1e-15)
  assert.equal(w.bytesPerS.mid, 1e9)
  assert.equal(planLink(undefined), ASSUMED_LINK)
})

const dev = (name: string, backend: string, description: string, type: LlamaDevice['type'] = 'gpu'): LlamaDevice => ({
  name,
  description,
  type,
  backend,
  freeBytes: 1024 ** 3,
  totalBytes: 2 * 1024 ** 3,
})
// two servers, the second with two devices; a local Vulkan GPU after them
const DEVICES = [
  dev('CPU', 'CPU', 'AMD EPYC', 'cpu'),
  dev('RPC0', 'RPC', '10.0.0.2:50052'),
  dev('RPC1', 'RPC', '10.0.0.3:50052'),
  dev('RPC2', 'RPC', '10.0.0.3:50052'),
  dev('Vulkan0', 'Vulkan', 'Intel Arc A770'),
]

test('RPC devices: the engine name, the buffer name and the plan name of one remote device', () => {
  assert.deepEqual(
    rpcDevices(DEVICES).map((d) => [d.name, d.endpoint, d.index]),
    [
      ['RPC0', '10.0.0.2:50052', 0],
      ['RPC1', '10.0.0.3:50052', 0],
      ['RPC2', '10.0.0.3:50052', 1],
    ],
  )
  // llama.cpp logs "RPC<index on its server>[endpoint]"
  assert.equal(deviceOfBuffer('RPC1[10.0.0.3:50052]'), 'RPC1[10.0.0.3:50052]')
  const buffers = parseBufferLines([
    'load_tensors: RPC0[10.0.0.2:50052] model buffer size =     5.35 MiB',
    'load_tensors: RPC1[10.0.0.3:50052] model buffer size =     1.00 MiB',
    'llama_kv_cache: CPU KV buffer size =     0.50 MiB',
  ])
  assert.deepEqual(
    nameRpcBuffers(buffers, DEVICES).map((b) => b.device),
    ['RPC0', 'RPC2', 'CPU'],
  )
  // plan "RPC<i>:CPU" = the i-th server's first device; GPU<i> counts local GPUs only
  assert.equal(engineDeviceOf('RPC1:CPU', DEVICES), 'RPC1')
  assert.equal(engineDeviceOf('GPU0', DEVICES), 'Vulkan0')
  assert.deepEqual(
    engineGpus(DEVICES).map((d) => d.name),
    ['Vulkan0'],
  )
  assert.throws(
    () => engineDeviceOf('RPC2:CPU', DEVICES),
    /RPC2:CPU \(remote host 3\), but only 2 RPC server\(s\) were given/,
  )
})

test('a multi-host plan needs one --rpc server per remote host', () => {
  const plan = {
    hardware: ['a.json', 'b.json'],
    devices: [{id: 'CPU'}, {id: 'RPC0:CPU'}],
  } as unknown as Plan
  checkPlanRpc(plan, 'p.json', [{host: '127.0.0.1', port: 1}])
  assert.throws(() => checkPlanRpc(plan, 'p.json', []), /splits across 1 other machine\(s\) \(b\.json\).*got 0/)
  const one = {hardware: ['a.json'], devices: [{id: 'CPU'}]} as unknown as Plan
  checkPlanRpc(one, 'p.json', [])
  assert.throws(() => checkPlanRpc(one, 'p.json', [{host: 'h', port: 1}]), /is for one machine; drop --rpc/)
})

test('a plan over two machines: the network term in its speed, the measured link when calibrate --rpc saved one', async () => {
  const lite = JSON.parse(readFileSync(join(modelProfilesDir, 'deepseek-v2-lite.json'), 'utf8'))
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const hw = await loadHardwareProfile(join(projectRoot, 'test', 'fixtures', 'checkplan', 'ci-llvmpipe.json'))
  const plan = (links?: Array<{rttUs: number; uploadGBs: number; downloadGBs: number}>) => {
    const main = links
      ? {
          ...hw,
          calibration: {
            provenance: 'measured' as const,
            measuredAt: '2026-12-02T00:00:00.000Z',
            rpcLinks: links.map((l) => ({...l, endpoint: 'b:50052', bytes: 1 << 24, reps: 3})),
          },
        }
      : hw
    return makePlan(inv, [main, hw], {ctx: 4096, engine: 'llama.cpp', gpus: 0}).prediction
  }
  const assumed = plan()
  assert.match(assumed.assumptions.join('\n'), /network \(RPC\): \d+ round trips? per token.*assumed 1–25 GbE/)
  // a slow measured link (1 ms, 0.01 GB/s) costs more than the LAN assumption's mid
  const slow = plan([{rttUs: 1000, uploadGBs: 0.01, downloadGBs: 0.01}])
  assert.match(slow.assumptions.join('\n'), /measured link, moerig calibrate --rpc/)
  assert.ok(slow.decodeTps < assumed.decodeTps, `${slow.decodeTps} < ${assumed.decodeTps}`)
  // (a prompt here takes minutes on the CPU, the link seconds: t/s to 2 places may not move, the ubatch's ms do)
  assert.ok(
    slow.prefillMsPerUbatch! > assumed.prefillMsPerUbatch!,
    `${slow.prefillMsPerUbatch} > ${assumed.prefillMsPerUbatch}`,
  )
})
