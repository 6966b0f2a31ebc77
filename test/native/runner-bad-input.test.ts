// bench/run on bad flags and signals (issue #12): one line and a non-zero exit before any work;
// SIGTERM keeps finished repetitions like Ctrl-C does; a stop before any repetition saves nothing.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {availableParallelism} from 'node:os'
import {benchUntilSignal, cli, synthTiny, tempDir} from '../support/runner-helpers.js'

let dir = ''
let model = ''

before(() => {
  dir = tempDir('moerig-runner-bad-')
  model = synthTiny(dir)
})

function jsonError(r: {status: number; stdout: string}): {code: string; message: string} {
  assert.notEqual(r.status, 0)
  const j = JSON.parse(r.stdout) as {error: {code: string; message: string}}
  assert.ok(!j.error.message.includes('\n'), j.error.message)
  return j.error
}

test('thread counts above the logical CPUs are refused before loading, naming the range', () => {
  const n = availableParallelism()
  for (const args of [
    ['bench', model, '-t', '9999'],
    ['run', model, '--prompt', 'x', '-t', '999999'],
  ]) {
    const e = jsonError(cli([...args, '--no-save', '--json']))
    assert.match(e.message, new RegExp(`^-t \\d+: allowed 1–${n} \\(the logical CPUs of this machine\\)$`))
  }
})

test('a test past the trained context is refused unless --force; run -c past it too', () => {
  const e = jsonError(cli(['bench', model, '-p', '100000', '-n', '0', '--no-save', '--json']))
  assert.match(
    e.message,
    /^pp100000 needs a context of 100000 tokens; .* was trained for \d+: use -d\/-p\/-n up to \d+ together \(or --force to run past it\)$/,
  )
  const r = jsonError(cli(['run', model, '--prompt', 'x', '-c', '100000', '--no-save', '--json']))
  assert.match(r.message, /--ctx-size 100000 is past .*trained context of \d+ tokens/)
})

test('ubatch larger than batch is refused (bench and run)', () => {
  for (const args of [
    ['bench', model, '-p', '8', '-n', '0'],
    ['run', model, '--prompt', 'x', '-n', '1'],
  ]) {
    const e = jsonError(cli([...args, '--ubatch-size', '1024', '--batch-size', '512', '--no-save', '--json']))
    assert.match(e.message, /--ubatch-size 1024 is larger than --batch-size 512/)
  }
})

test('--runs-dir that is a file is refused before the run, and the file is untouched', () => {
  const f = join(dir, 'not-a-folder')
  writeFileSync(f, 'mine')
  const e = jsonError(cli(['bench', model, '-p', '8', '-n', '0', '-r', '1', '--runs-dir', f, '--json']))
  assert.match(e.message, /is a file, not a folder/)
  assert.equal(readFileSync(f, 'utf8'), 'mine')
})

test('a bad --cpu-variant is one line (a path is never a variant)', () => {
  assert.match(
    jsonError(cli(['bench', model, '--cpu-variant', '../../lib/evil', '--no-save', '--json'])).message,
    /^--cpu-variant "..\/..\/lib\/evil": expected a variant name/,
  )
  assert.match(
    jsonError(
      cli(['bench', model, '-p', '8', '-n', '0', '-r', '1', '--cpu-variant', 'nosuchcpu', '--no-save', '--json']),
    ).message,
    /unknown CPU variant "nosuchcpu"/,
  )
})

const benchUntil = (sig: NodeJS.Signals, runs: string, waitMs: number) => benchUntilSignal(model, sig, runs, waitMs)

test('SIGTERM during bench keeps and saves the finished repetitions (exit 143, stoppedBy SIGTERM)', async () => {
  const runs = join(dir, 'runs-term')
  const {code, out} = await benchUntil('SIGTERM', runs, 4000)
  assert.equal(code, 143)
  const j = JSON.parse(out)
  assert.equal(j.partial, true)
  assert.equal(j.stoppedBy, 'SIGTERM')
  assert.equal(j.results.length, 1)
  assert.equal(j.results[0].reps, j.results[0].samples.length) // reps = what finished
  assert.equal(j.config.reps, 200) // what was asked
  const saved = JSON.parse(readFileSync(join(runs, readdirSync(runs)[0]), 'utf8'))
  assert.equal(saved.stoppedBy, 'SIGTERM')
})

test('a stop before any repetition finished saves nothing and says so (exit 130)', async () => {
  const runs = join(dir, 'runs-early')
  mkdirSync(runs)
  const {code, out} = await benchUntil('SIGINT', runs, 0)
  assert.equal(code, 130)
  const j = JSON.parse(out)
  assert.equal(j.error.code, 'E_INTERRUPTED')
  assert.match(j.error.message, /^stopped \(SIGINT\)/)
  assert.deepEqual(readdirSync(runs), [])
})

test('a GPU backend library that fails to load is listed as failed in the provenance, never as loaded', () => {
  const fake = join(dir, 'libggml-fake.so')
  writeFileSync(fake, 'not a library')
  const r = cli(['bench', model, '-p', '8', '-n', '0', '-r', '1', '--no-save', '--json'], {
    // only the fake one: the GPU packages in node_modules may load or fail depending on the machine
    env: {MOERIG_BACKEND_LIBS: fake, MOERIG_BACKENDS: 'cpu'},
  })
  assert.equal(r.status, 0, r.stdout)
  const p = JSON.parse(r.stdout).provenance
  assert.ok(!p.backendLibs.includes(fake))
  assert.equal(p.backendLibsFailed.length, 1)
  assert.match(p.backendLibsFailed[0], /libggml-fake\.so: .*file too short/)
})
