/**
 * `moerig tune --rpc` (issue 15): several --hardware profiles plan the split across hosts, so the
 * placement tune measures names the remote hosts' RPC devices; each remote host needs one --rpc
 * server, in order.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import type {HardwareProfile} from '../../src/schemas/hardware.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {parseEndpoints} from '../../src/engine/rpc.js'
import {MoerigError} from '../../src/lib/errors.js'
import {makePredictor} from '../../src/tune/predict.js'
import {llamaDefaults} from '../../src/tune/space.js'
import {checkTuneRpc} from '../../src/tune/tune.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const json = <T>(rel: string): T => JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as T
const r1 = catalogModel('deepseek-r1')
// a CPU-only host: the rig without its GPUs
const host: HardwareProfile = {...json<HardwareProfile>('../../profiles/hardware/dual-8592-2xa770.json'), gpus: []}

test('tune over two hosts: the placement measured names the remote host, one host plans this machine alone', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  const cfg = llamaDefaults({logicalCpus: 64, physicalCores: 64, gpus: 0})
  const one = makePredictor({inv, profiles: [host], ctx: 8192, baseThreads: 64}).predict(cfg)
  assert.ok(one.fits)
  assert.deepEqual(
    one.devices.map((d) => d.id),
    ['CPU'],
  )
  assert.equal(one.placement.nGpuLayers, 0)
  const two = makePredictor({inv, profiles: [host, host], ctx: 8192, baseThreads: 64}).predict(cfg)
  assert.ok(two.fits, two.reason ?? '')
  assert.deepEqual(
    two.devices.map((d) => d.id),
    ['CPU', 'RPC0:CPU'],
  )
  // layers offloaded go to the remote host's device (bench maps it to the first --rpc server)
  assert.ok(two.placement.nGpuLayers > 0)
  assert.ok((two.devices.find((d) => d.id === 'RPC0:CPU')?.totalBytes ?? 0) > 0)
})

test('tune --rpc: one server per other machine in --hardware, else one usage line', () => {
  const a = {name: 'this'}
  const b = {name: 'box-b'}
  const c = {name: 'box-c'}
  const two = parseEndpoints('127.0.0.1:50052,127.0.0.1:50053')
  // one machine: --rpc attaches the servers (or none)
  checkTuneRpc([a], [])
  checkTuneRpc([a], two)
  checkTuneRpc([a, b, c], two)
  const err = (f: () => void) => {
    try {
      f()
    } catch (e) {
      assert.ok(e instanceof MoerigError)
      assert.equal(e.code, 'E_USAGE')
      return e.message
    }
    assert.fail('no error')
  }
  assert.match(
    err(() => checkTuneRpc([a, b], [])),
    /names 1 other machine\(s\) \(box-b\) but --rpc was not given/,
  )
  assert.match(
    err(() => checkTuneRpc([a, b], two)),
    /but --rpc names 2 server\(s\) \(127\.0\.0\.1:50052, 127\.0\.0\.1:50053\): give one server per other machine/,
  )
})
