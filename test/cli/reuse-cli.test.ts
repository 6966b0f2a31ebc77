import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {reuseResultSchema} from '../../src/schemas/reuse.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {tempDir} from '../support/tmp.js'

const fixture = 'test/fixtures/traces/markov-tiny.csv'
const dir = tempDir('moerig-reuse-cli-')

function moerig(args: string[]): {code: number; stdout: string; stderr: string} {
  try {
    const stdout = execFileSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8', stdio: 'pipe'})
    return {code: 0, stdout, stderr: ''}
  } catch (e) {
    const err = e as {status: number; stdout: string; stderr: string}
    return {code: err.status, stdout: err.stdout, stderr: err.stderr}
  }
}

test('moerig reuse --json on a CSV trace: schema-valid, the field names README documents', () => {
  const r = moerig([
    'reuse',
    fixture,
    '--experts',
    '16',
    '--cache',
    '2,4,8',
    '--vram',
    '64MiB',
    '--expert-bytes',
    '8MiB',
    '--dense-bytes',
    '1GB',
    '--pcie-gbs',
    '25',
    '--gpu-gbs',
    '500',
    '--cpu-gbs',
    '200',
    '--json',
  ])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(schemaErrors(reuseResultSchema, out), [])
  assert.deepEqual(
    out.layers.map((l: {layer: number}) => l.layer),
    [1, 2, 4],
  )
  for (const key of ['layer', 'reuse', 'reuseRandom', 'top10Share', 'entropy']) assert.ok(key in out.layers[0], key)
  const row = out.cache.find(
    (c: {policy: string; capacity: number; layer: string}) =>
      c.policy === 'lru' && c.capacity === 4 && c.layer === 'all',
  )
  for (const key of ['policy', 'capacity', 'layer', 'hitRate', 'bytesPerToken', 'decodeTps']) assert.ok(key in row, key)
  assert.ok(row.decodeTps > 0)
  // 64 MiB / (3 layers × 8 MiB) → 2 experts per layer.
  assert.ok(
    out.cache.some(
      (c: {vramBytes: number | null; capacity: number}) => c.vramBytes === 64 * 1024 ** 2 && c.capacity === 2,
    ),
  )
  assert.equal(out.layers[0].reuseRandom, 2 / 16)
  assert.ok(out.overall.reuse > 0.3, 'planted p = 0.5 shows up well above 2/16')
})

test('moerig reuse prints human tables; trace convert round-trips', () => {
  const bin = join(dir, 'tiny.moetrace')
  const conv = moerig(['trace', 'convert', fixture, bin, '--experts', '16', '--model-name', 'tiny'])
  assert.equal(conv.code, 0, conv.stderr)
  const back = join(dir, 'back.csv')
  assert.equal(moerig(['trace', 'convert', bin, back]).code, 0)
  assert.equal(readFileSync(back, 'utf8'), readFileSync(fixture, 'utf8'))
  const r = moerig(['reuse', bin, '--cache', '2,4'])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /Locality per MoE layer/)
  assert.match(r.stdout, /\n\s+all\s+\d+\.\d% \(12\.5%\)/)
  assert.match(r.stdout, /Expert cache/)
  assert.match(r.stdout, /bandwidth-only estimate/)
})

test('bad input: one line and a non-zero exit, JSON errors under --json', () => {
  const noN = moerig(['reuse', fixture])
  assert.notEqual(noN.code, 0)
  assert.equal(noN.stderr.trim().split('\n').length, 1)
  assert.match(noN.stderr, /needs n_expert \(--experts N\)/)
  const bad = join(dir, 'bad.csv')
  writeFileSync(bad, 'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 5 6\n1,2,0 7\n')
  const wrongK = moerig(['reuse', bad, '--experts', '16', '--json'])
  assert.notEqual(wrongK.code, 0)
  assert.deepEqual(JSON.parse(wrongK.stdout).error.code, 'E_TRACE_CSV')
  assert.match(JSON.parse(wrongK.stdout).error.message, /line 4: 3 experts, expected k = 2/)
  const cache = moerig(['reuse', fixture, '--experts', '16', '--cache', '0'])
  assert.match(cache.stderr, /--cache 0: "0" is not a positive integer/)
  const vram = moerig(['reuse', fixture, '--experts', '16', '--vram', '4GiB'])
  assert.match(vram.stderr, /--vram needs the bytes per expert/)
})
