// The binding's own checks (native/src/binding/args.h, workers.h), called on the addon directly:
// a handle of the wrong kind is a TypeError that says what was expected (never a cast of the wrong
// pointer), and a stop requested right after a run was queued stops it (the worker thread used to
// clear it on entry, so the run went on to the end).
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {engineBuild, loadAddon, type LlamaContextHandle, type LlamaModelHandle} from '../../src/engine/addon.js'
import {tempDir, synthTiny} from '../support/runner-helpers.js'

const addon = loadAddon()
let dir = ''
let model = ''

before(async () => {
  dir = tempDir()
  model = synthTiny(dir)
  await addon.llamaInit(engineBuild().libDir, [])
})

test('a value that is no handle is a TypeError naming the handle expected and what came', () => {
  const asCtx = (v: unknown) => v as LlamaContextHandle
  const asModel = (v: unknown) => v as LlamaModelHandle
  assert.throws(() => addon.llamaStop(asCtx(42)), {
    name: 'TypeError',
    message: 'context handle expected (from llamaCreateContext), got a number',
  })
  assert.throws(() => addon.llamaDisposeModel(asModel(undefined)), {
    name: 'TypeError',
    message: 'model handle expected (from llamaLoadModel), got undefined',
  })
  assert.throws(() => addon.llamaDisposeContext(asCtx({handle: 1})), {
    name: 'TypeError',
    message: 'context handle expected (from llamaCreateContext), got an object',
  })
})

test('a model handle where a context belongs (and back) is a TypeError, not a wrong cast', async () => {
  const m = await addon.llamaLoadModel({path: model})
  const c = await addon.llamaCreateContext(m.handle, {nCtx: 128, threads: 1})
  try {
    assert.throws(() => addon.llamaStop(m.handle as unknown as LlamaContextHandle), {
      name: 'TypeError',
      message: 'context handle expected (from llamaCreateContext), got a native handle of another kind',
    })
    assert.throws(() => addon.llamaCreateContext(c.handle as unknown as LlamaModelHandle, {}), {
      name: 'TypeError',
      message: 'model handle expected (from llamaLoadModel), got a native handle of another kind',
    })
    // the right handles still work after the refusals
    addon.llamaStop(c.handle)
  } finally {
    addon.llamaDisposeContext(c.handle)
    addon.llamaDisposeModel(m.handle)
  }
})

test('memBandwidthStop right after memBandwidth stops the run before its worker thread starts', async () => {
  const run = addon.memBandwidth({
    nodes: [{id: 0, cpus: [0]}],
    arrayBytesPerThread: 1 << 20,
    repetitions: 100,
    perNode: false,
  })
  addon.memBandwidthStop()
  await assert.rejects(run, /memBandwidth: stopped$/)
  // a stop from an earlier call does not reach the next run
  const r = await addon.memBandwidth({
    nodes: [{id: 0, cpus: [0]}],
    arrayBytesPerThread: 1 << 20,
    repetitions: 1,
    perNode: false,
  })
  assert.ok(r.triadGBs > 0)
})
