// The --json shape of the commands that load a model or the addon (synth, bench, run, check-plan,
// calibrate, engine, demo) on the tiny synth model, against test/fixtures/json-shapes/
// (test/support/json-shape.ts; MOERIG_UPDATE_SNAPSHOTS=1 records them). The others:
// test/cli/json-shapes.test.ts.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {cacheDir} from '../../src/lib/paths.js'
import {cachedSynthModel} from '../../src/runner/synth.js'
import {assertJsonShape} from '../support/json-shape.js'
import {cli, tempDir} from '../support/runner-helpers.js'

const dir = tempDir('moerig-json-shapes-')
let model = ''
before(async () => {
  model = await cachedSynthModel({preset: 'tiny'})
})

/**
 * `moerig <args> --json`, which must succeed; its parsed output. GPU backend packages are skipped
 * (MOERIG_BACKENDS=cpu), so the shape does not depend on which GPU libraries load on this machine
 * (provenance lists loaded and failed ones only when there are any).
 */
function json(args: string[]): unknown {
  const r = cli([...args, '--json'], {env: {MOERIG_BACKENDS: 'cpu'}})
  assert.equal(r.status, 0, `moerig ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

const ONE_THREAD = ['-t', '1']

test('synth --json keeps its shape', {timeout: 120_000}, () => {
  assertJsonShape('synth', json(['synth', '-p', 'tiny', '-o', join(dir, 'tiny.gguf'), ...ONE_THREAD]))
})

test('bench --json keeps its shape', {timeout: 120_000}, () => {
  assertJsonShape('bench', json(['bench', model, '-p', '8', '-n', '4', '-r', '1', ...ONE_THREAD, '--no-save']))
})

test('bench --plan --json keeps its shape (the plan comparison)', {timeout: 120_000}, () => {
  const plan = join(dir, 'plan-tiny.json')
  assert.equal(cli(['plan', model, '--threads', '1', '--ctx', '512', '-o', plan]).status, 0)
  const args = ['bench', '--plan', plan, '-p', '8', '-n', '4', '-r', '1', ...ONE_THREAD, '--no-save']
  assertJsonShape('bench-plan', json(args))
})

test('run --json keeps its shape', {timeout: 120_000}, () => {
  assertJsonShape('run', json(['run', model, '--prompt', 'Hello', '-n', '4', ...ONE_THREAD, '--no-save']))
})

test('check-plan --json keeps its shape', {timeout: 120_000}, () => {
  const plan = join(dir, 'plan-check.json')
  assert.equal(cli(['plan', model, '--threads', '1', '--ctx', '512', '-o', plan]).status, 0)
  assertJsonShape('check-plan', json(['check-plan', plan]))
})

test('engine --json keeps its shape', {timeout: 60_000}, () => {
  assertJsonShape('engine', json(['engine']))
})

/** What a 1 s calibration has fitted depends on how many measurements fit in the budget. */
const FITTED = ['tokenOverheadMs', 'layerOverheadUs', 'cpuThroughput', 'decodeThreads', 'decodeBandwidthGBs', 'gpus']

test('calibrate --json keeps its shape (a 1 s budget)', {timeout: 120_000}, () => {
  const args = ['calibrate', '--hardware', 'profiles/hardware/dual-8592-2xa770.json', '--save', join(dir, 'hw.json')]
  const r = json([...args, '--budget', '1s', '--threads', '1', '--model', model, '-r', '1'])
  assertJsonShape('calibrate', r, ['$.stoppedBy', ...FITTED.map((k) => `$.calibration.${k}`)])
})

test('demo --json keeps its shape (inputs cached between runs)', {timeout: 300_000}, () => {
  const cache = join(cacheDir, 'json-shapes-demo')
  assertJsonShape('demo', json(['demo', '--preset', 'tiny', '--cache', cache, '-o', join(dir, 'demo')]))
})
