// The --json shape of the commands that need no model in llama.cpp (probe on a recorded machine, profiles,
// plan, models, trace, reuse, report), against test/fixtures/json-shapes/ (test/support/json-shape.ts;
// MOERIG_UPDATE_SNAPSHOTS=1 records them). The native ones: test/native/json-shapes.test.ts.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {assertJsonShape, jsonShape, shapeDiff} from '../support/json-shape.js'
import {cli, tempDir} from '../support/runner-helpers.js'

const dir = tempDir('moerig-json-shapes-')

/** `moerig <args> --json`, which must succeed; its parsed output. */
function json(args: string[]): unknown {
  const r = cli([...args, '--json'])
  assert.equal(r.status, 0, `moerig ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

const TRACE = 'test/fixtures/traces/markov-tiny.csv'
const RIG = 'profiles/hardware/dual-8592-2xa770.json'

test('a renamed key, a new key, a changed type or a changed element shape is a difference', () => {
  const base = jsonShape({a: 1, b: ['x'], c: {d: null}})
  assert.deepEqual(shapeDiff(base, base), [])
  assert.deepEqual(shapeDiff(base, jsonShape({a: 1, b: ['x'], c: {d: null}, e: true})), ['$.e: new key'])
  assert.deepEqual(shapeDiff(base, jsonShape({A: 1, b: ['x'], c: {d: null}})), ['$.a: missing now', '$.A: new key'])
  assert.deepEqual(shapeDiff(base, jsonShape({a: '1', b: ['x'], c: {d: null}})), ['$.a: "number" → "string"'])
  assert.deepEqual(shapeDiff(base, jsonShape({a: 1, b: [2], c: {d: null}})), ['$.b[]: "string" → "number"'])
  assert.deepEqual(shapeDiff(base, jsonShape({a: 1, b: ['x'], c: {d: 0}})), ['$.c.d: "null" → "number"'])
  // arrays by their merged element shape, whatever their length
  assert.deepEqual(jsonShape([{x: 1}, {x: 2}, {x: 3}]), [{x: 'number'}])
  assert.deepEqual(jsonShape([{x: 1, y: 'a'}, {x: null}]), [{x: 'null|number', y: 'absent|string'}])
  assert.deepEqual(jsonShape([{x: 1}, null]), [{'|': [{x: 'number'}, 'null']}])
})

test('probe --json (a recorded machine) keeps its shape', () => {
  assertJsonShape('probe', json(['probe', '--sysroot', 'test/fixtures/probe/dual-spr-2numa']))
})

test('plan --json keeps its shape', () => {
  assertJsonShape('plan', json(['plan', 'deepseek-r1', '--hardware', RIG]))
})

test('models --json keeps its shape', () => {
  assertJsonShape('models', json(['models']))
})

test('trace convert --json keeps its shape', () => {
  assertJsonShape('trace', json(['trace', 'convert', TRACE, join(dir, 'markov.moetrace'), '--experts', '16']))
})

test('reuse --json keeps its shape', () => {
  // sizes and bandwidths given, so the estimate's numbers are numbers, not nulls
  const sizes = ['--expert-bytes', '10MB', '--dense-bytes', '100MB', '--vram', '1GB']
  const rates = ['--pcie-gbs', '25', '--cpu-gbs', '100', '--gpu-gbs', '500']
  assertJsonShape('reuse', json(['reuse', TRACE, '--experts', '16', ...sizes, ...rates]))
})

test('report --json keeps its shape', () => {
  const inputs = ['plan-reference.json', 'bench-2t.json', 'run.json', 'reuse.json', 'hardware.json']
  assertJsonShape(
    'report',
    json(['report', ...inputs.map((f) => join('test/fixtures/report', f)), '-o', join(dir, 'rep')]),
  )
})

test('profiles, profiles show and profiles validate --json keep their shape', () => {
  assertJsonShape('profiles', json(['profiles']))
  assertJsonShape('profiles-show', json(['profiles', 'show', 'dual-8592-2xa770']))
  assertJsonShape('profiles-validate', json(['profiles', 'validate', RIG]))
})
