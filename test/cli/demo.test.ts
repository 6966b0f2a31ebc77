import {tempDir} from '../support/tmp.js'
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {runDemo, type DemoOptions} from '../../src/demo/demo.js'
import {writeTrace} from '../../src/trace/trace.js'

const FIX = resolve('test/fixtures/report')
const silent = {phase() {}, update() {}, step() {}, done() {}}

/**
 * A stand-in for bin/run.js: answers each command from the report fixtures and logs its calls,
 * so the demo's orchestration (order, caching, skips, failures) is tested in seconds.
 */
const FAKE_CLI = `
import {appendFileSync, copyFileSync, readFileSync, writeFileSync} from 'node:fs'
const [cmd, ...rest] = process.argv.slice(2)
const fix = process.env.FAKE_FIXTURES
appendFileSync(process.env.FAKE_LOG, cmd + '\\n')
const flag = (f) => rest[rest.indexOf(f) + 1]
if (cmd === 'probe') copyFileSync(fix + '/hardware.json', flag('--save'))
else if (cmd === 'synth') writeFileSync(flag('-o'), 'GGUF')
else if (cmd === 'plan' && flag('--engine') === 'ktransformers') {
  process.stdout.write(JSON.stringify({error: {code: 'E_PLAN', message: 'ktransformers: no such layout'}}))
  process.exit(1)
} else if (cmd === 'plan') copyFileSync(fix + (rest.includes('--quants') ? '/plan-quants.json' : '/plan-reference.json'), flag('-o'))
else if (cmd === 'bench') process.stdout.write(readFileSync(fix + '/bench-2t.json', 'utf8'))
else if (cmd === 'run') { copyFileSync(process.env.FAKE_TRACE, flag('--trace')); process.stdout.write(readFileSync(fix + '/run.json', 'utf8')) }
else if (cmd === 'reuse') process.stdout.write(readFileSync(fix + '/reuse.json', 'utf8'))
`

function fakeRoot(): {root: string; log: string; restore: () => void} {
  const root = tempDir('moerig-demo-')
  mkdirSync(join(root, 'bin'))
  writeFileSync(join(root, 'bin', 'run.js'), FAKE_CLI)
  writeFileSync(join(root, 'package.json'), '{"type": "module"}')
  mkdirSync(join(root, 'profiles', 'hardware'), {recursive: true})
  cpSync(join(FIX, 'hardware.json'), join(root, 'profiles', 'hardware', 'dual-8592-2xa770.json'))
  const trace = join(root, 'fixture.trace')
  const ids = new Uint16Array(20 * 2 * 2).map((_, i) => (i % 2 === 0 ? i % 8 : 8 + (i % 8)))
  writeTrace(
    trace,
    {model: 'fake', arch: 'deepseek2', nLayer: 3, moeLayers: [1, 2], nExpert: 16, k: 2, nTokens: 20, hasWeights: false},
    ids,
  )
  const log = join(root, 'calls.log')
  const saved = {
    FAKE_FIXTURES: process.env.FAKE_FIXTURES,
    FAKE_LOG: process.env.FAKE_LOG,
    FAKE_TRACE: process.env.FAKE_TRACE,
  }
  Object.assign(process.env, {FAKE_FIXTURES: FIX, FAKE_LOG: log, FAKE_TRACE: trace})
  return {
    root,
    log,
    restore: () => {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      rmSync(root, {recursive: true, force: true})
    },
  }
}

function options(root: string, over: Partial<DemoOptions> = {}): DemoOptions & {lines: string[]} {
  const lines: string[] = []
  return {
    root,
    preset: 'tiny',
    cacheDir: 'cache',
    reportDir: join(root, 'reports', 'demo'),
    fresh: false,
    hasCommand: () => true,
    log: (l) => lines.push(l),
    progress: silent,
    lines,
    ...over,
  }
}

test('demo: runs every step, reports a failed one, then reuses its cache on a second run', async () => {
  const {root, log, restore} = fakeRoot()
  try {
    const o1 = options(root)
    const r1 = await runDemo(o1)
    const status = Object.fromEntries(r1.steps.map((s) => [s.step, s.status]))
    assert.equal(r1.steps.length, 10)
    assert.equal(status['probe this machine (--measure)'], 'done')
    assert.equal(status['plan DeepSeek-R1 Q4_K_M on the rig with ktransformers'], 'failed')
    assert.match(o1.lines.join('\n'), /ktransformers: failed \(ktransformers: no such layout\)/)
    assert.equal(r1.steps.filter((s) => s.status === 'failed').length, 1)
    assert.equal(r1.report, join(root, 'reports', 'demo', 'index.html'))
    const html = readFileSync(r1.report!, 'utf8')
    assert.match(html, /failed: plan DeepSeek-R1 Q4_K_M on the rig with ktransformers/)
    assert.ok(existsSync(join(root, 'cache', 'run.json')), 'the run result is kept beside its trace')
    assert.match(html, /<td>run\.json<\/td>/)
    assert.match(o1.lines[o1.lines.length - 1], /write the report: done/)
    const first = readFileSync(log, 'utf8').trim().split('\n')
    assert.deepEqual(first, ['probe', 'synth', 'plan', 'plan', 'plan', 'plan', 'bench', 'run', 'reuse'])

    writeFileSync(log, '')
    const r2 = await runDemo(options(root))
    const again = readFileSync(log, 'utf8').trim().split('\n')
    assert.deepEqual(again, ['plan', 'plan', 'plan', 'plan'], 'only the millisecond plans run again')
    assert.deepEqual(
      r2.steps.filter((s) => s.status === 'cached').map((s) => s.step.split(' ')[0]),
      ['probe', 'synth', 'bench', 'run', 'analyse'],
    )
  } finally {
    restore()
  }
})

test('demo: commands missing from the build are skipped with a line, and what depends on them too', async () => {
  const {root, restore} = fakeRoot()
  try {
    const o = options(root, {hasCommand: (id) => id !== 'synth' && id !== 'reuse'})
    const r = await runDemo(o)
    const text = o.lines.join('\n')
    assert.match(text, /synth the tiny model: skipped \(moerig synth not available in this build\)/)
    assert.match(text, /bench tiny .*: skipped \(an earlier step it needs did not produce its output\)/)
    assert.match(text, /analyse expert reuse: skipped \(moerig reuse not available in this build\)/)
    assert.ok(r.report && existsSync(r.report))
    assert.equal(r.steps.filter((s) => s.status === 'failed').length, 1)
  } finally {
    restore()
  }
})
