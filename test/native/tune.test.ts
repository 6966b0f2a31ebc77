/**
 * `moerig tune` for real (issue 14): a short tune of `synth --preset tiny` through the CLI (a few
 * seconds of measurement under a tiny budget) whose --json and saved result validate against the
 * schema, with llama.cpp's defaults measured beside the winner and the winner's commands, and
 * that `moerig report` renders (table, bars of every measured configuration, search path); Ctrl-C
 * keeps what was measured; bad flags are one line.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {tuneResultSchema, type TuneResult} from '../../src/schemas/tune.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {bin, cli, root, synthTiny, tempDir} from '../support/runner-helpers.js'

const dir = tempDir('moerig-tune-')
const model = synthTiny(dir)

test('tune: a short real tune of synth tiny, schema-valid, saved, defaults measured, winner commands', () => {
  const out = join(dir, 'tune')
  const r = cli(['tune', model, '--budget', '20s', '-p', '32', '-n', '8', '-r', '2', '--out-dir', out, '--json'])
  assert.equal(r.status, 0, r.stderr || r.stdout)
  const res = JSON.parse(r.stdout) as TuneResult
  assert.deepEqual(schemaErrors(tuneResultSchema, res), [])
  assert.equal(res.kind, 'tune')
  assert.ok(res.measured.length >= 2, `${res.measured.length} measured`)
  const d = res.measured.find((m) => m.id === res.defaultsId)
  assert.ok(d && d.decode && d.decode.mean > 0, "llama.cpp's defaults are measured")
  assert.equal(d.config.nUbatch, 512)
  assert.equal(d.config.flashAttn, 'auto')
  assert.equal(d.vsDefaults, 1)
  const w = res.measured.find((m) => m.id === res.winnerId)
  assert.ok(w && w.tags.includes('winner'), "w && w.tags.includes('winner')")
  assert.ok(
    w.memory.some((m) => m.device === 'CPU' && m.totalBytes > 0),
    'memory per device, measured',
  )
  assert.match(res.commands!.llamaServer, new RegExp(`^llama-server -m ${model.replace(/[.]/g, '\\.')} `))
  assert.match(res.commands!.llamaServer, new RegExp(` -t ${w.config.threads} `))
  assert.match(res.commands!.llamaBench, / -ub \d+ -b \d+/)
  assert.ok(
    res.space.candidates >= res.space.fitting && res.space.fitting > 2,
    'res.space.candidates >= res.space.fitting && res.space.fitting > 2',
  )
  assert.ok(
    res.path.length >= res.measured.length && res.path[0].phase === 'seed',
    "res.path.length >= res.measured.length && res.path[0].phase === 'seed'",
  )
  assert.ok(res.measureSeconds < 60, `${res.measureSeconds} s of measurement for a 20 s budget`)
  assert.ok(
    res.savedTo && existsSync(res.savedTo) && res.savedTo.startsWith(out),
    'res.savedTo && existsSync(res.savedTo) && res.savedTo.startsWith(out)',
  )
  assert.deepEqual(schemaErrors(tuneResultSchema, JSON.parse(readFileSync(res.savedTo, 'utf8'))), [])
  // moerig report renders it: the ranked table, every measured configuration, the search path
  const rep = cli(['report', res.savedTo, '-o', join(dir, 'report'), '--json'])
  assert.equal(rep.status, 0, rep.stderr || rep.stdout)
  const md = readFileSync(join(dir, 'report', 'report.md'), 'utf8')
  assert.match(md, /## Tuning: configurations measured by moerig tune/)
  assert.match(md, /\| 1 \| \\-t \d+ -ub \d+ /, md)
  assert.match(md, /\| [\w, ]*winner[\w, ]* \|\n/, md)
  for (const chart of ['tune-tg', 'tune-pp', 'tune-path'])
    assert.ok(existsSync(join(dir, 'report', 'charts', `${chart}.png`)), chart)
})

test('tune: Ctrl-C keeps every configuration measured (partial, exit 130)', async () => {
  // full repetitions of 50: the search is still confirming when Ctrl-C comes, however quiet the machine
  const args = ['tune', model, '--budget', '5m', '-p', '512', '-n', '64', '-r', '50', '--no-save', '--json']
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  // long enough for the engine listing and the first measurements on a loaded machine
  const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15000))])
  assert.equal(early, 'running', `tune ended before Ctrl-C: ${stdout} ${stderr}`)
  child.kill('SIGINT')
  const code = await exited
  assert.equal(code, 130, `${stdout} ${stderr}`)
  const res = JSON.parse(stdout) as TuneResult & {error?: {code: string; message: string}}
  if (res.error) {
    // a machine so loaded that no measurement finished in 15 s: the one other correct answer
    assert.equal(res.error.code, 'E_INTERRUPTED', stdout)
    assert.match(res.error.message, /before any configuration was measured/)
    return
  }
  assert.deepEqual(schemaErrors(tuneResultSchema, res), [])
  assert.equal(res.partial, true)
  assert.equal(res.stoppedBy, 'SIGINT')
  assert.equal(res.stop, 'signal')
  assert.ok(res.measured.length >= 1, 'res.measured.length >= 1')
})

test('tune: bad flags are one line and exit 2', () => {
  for (const [args, re] of [
    [['--budget', '0'], /--budget must be a duration/],
    [['--objective', 'fast'], /--objective must be one of decode, prefill, balanced/],
    [['--ctx', '0'], /--ctx/],
  ] as const) {
    const r = cli(['tune', model, ...args])
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, re)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  }
  const missing = cli(['tune', join(dir, 'nope.gguf'), '--budget', '5s'])
  assert.notEqual(missing.status, 0)
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr)
})
