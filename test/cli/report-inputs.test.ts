import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {CHART_SIZE, HEATMAP_SIZE} from '../../src/report/charts.js'
import {loadInput} from '../../src/report/inputs.js'
import {runReport} from '../../src/report/report.js'
import {writeTrace} from '../../src/trace/trace.js'
import {assertChart, assertSelfContained} from '../support/report-helpers.js'
import {tempDir} from '../support/tmp.js'

const FIX = 'test/fixtures/report'
const HOSTILE = '<script>alert(1)</script>'
const fixtures = () =>
  readdirSync(FIX)
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(FIX, f))

function tmp(): string {
  return tempDir('moerig-report-in-')
}

/** A small binary trace whose model name is hostile: 4 MoE layers, 16 experts, top-2. */
function hostileTrace(dir: string): string {
  const path = join(dir, 'routing.trace')
  const moeLayers = [1, 2, 3, 4]
  const nTokens = 30
  const ids = new Uint16Array(nTokens * moeLayers.length * 2)
  for (let t = 0; t < nTokens; t++) {
    for (let l = 0; l < moeLayers.length; l++) {
      const base = (t * moeLayers.length + l) * 2
      ids[base] = (l * 3) % 16
      ids[base + 1] = (t + l + 1) % 16 === (l * 3) % 16 ? (t + l + 2) % 16 : (t + l + 1) % 16
    }
  }
  writeTrace(
    path,
    {model: HOSTILE, arch: 'deepseek2', nLayer: 5, moeLayers, nExpert: 16, k: 2, nTokens, hasWeights: false},
    ids,
  )
  return path
}

test('every fixture document is recognised and validates against its schema', async () => {
  const kinds = new Map<string, string>()
  for (const f of fixtures()) kinds.set(f, (await loadInput(f)).view.kind)
  assert.equal(kinds.get(join(FIX, 'hardware.json')), 'hardware')
  assert.equal(kinds.get(join(FIX, 'plan-reference.json')), 'plan')
  assert.equal(kinds.get(join(FIX, 'reuse.json')), 'reuse')
  assert.equal(kinds.get(join(FIX, 'bench-2t.json')), 'bench')
  assert.equal(kinds.get(join(FIX, 'bench-1t-plan.json')), 'bench')
  assert.equal(kinds.get(join(FIX, 'run.json')), 'bench', 'a moerig run result is shown as a measurement')
  assert.equal([...kinds.values()].filter((k) => k === 'plan').length, 4)
  assert.equal((await loadInput(join(FIX, 'trace.csv'), {experts: 32})).view.kind, 'trace')
})

test('a report from fixture documents: charts decode, HTML is self-contained, hostile names escaped', async () => {
  const dir = tmp()
  try {
    const out = await runReport([...fixtures(), join(FIX, 'trace.csv'), hostileTrace(dir)], {
      output: join(dir, 'report'),
      experts: 32,
      notes: ['skipped: nothing'],
    })
    const names = out.charts.map((c) => c.replace(/^.*\/charts\//, '').replace(/\.png$/, ''))
    for (const want of [
      'memory-ram',
      'memory-vram',
      'max-context',
      'quant-size',
      'quant-speed',
      'bench-pp',
      'bench-tg',
      'predicted-vs-measured-speed-1',
      'predicted-vs-measured-memory-1',
      'reuse-per-layer',
      'cache-hit-rate',
      'expert-heatmap-1',
      'expert-heatmap-2',
    ]) {
      assert.ok(names.includes(want), `${want} in ${names.join(', ')}`)
    }
    for (const c of out.charts) await assertChart(readFileSync(c), /heatmap/.test(c) ? HEATMAP_SIZE : CHART_SIZE, c)
    const html = readFileSync(join(out.dir, 'index.html'), 'utf8')
    assertSelfContained(html)
    assert.ok(!html.includes(HOSTILE))
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
    assert.ok(!readFileSync(join(out.dir, 'report.md'), 'utf8').includes(HOSTILE))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('each input alone makes a report', async () => {
  const dir = tmp()
  try {
    for (const f of [...fixtures(), join(FIX, 'trace.csv')]) {
      const out = await runReport([f], {output: join(dir, 'one'), experts: 32})
      assertSelfContained(readFileSync(join(out.dir, 'index.html'), 'utf8'))
      if (!f.endsWith('hardware.json')) assert.ok(out.charts.length > 0, `${f}: no chart`)
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('bad inputs fail with one line naming the file', async () => {
  const dir = tmp()
  try {
    const cases: [string, string | Buffer, RegExp][] = [
      ['notes.txt', 'hello', /notes\.txt: not a report input/],
      ['empty.json', '', /empty\.json: not a report input/],
      ['broken.json', '{"kind": ', /broken\.json: not valid JSON/],
      ['array.json', '[1,2]', /array\.json: a JSON array/],
      ['other.json', '{"a": 1}', /other\.json: unrecognised JSON document/],
      [
        'bad-hw.json',
        JSON.stringify({...JSON.parse(readFileSync(join(FIX, 'hardware.json'), 'utf8')), cpu: {}}),
        /hardware profile .*bad-hw\.json: \/cpu is missing required field/,
      ],
      [
        'bad-bench.json',
        JSON.stringify({...JSON.parse(readFileSync(join(FIX, 'bench-2t.json'), 'utf8')), results: [{test: 'pp1'}]}),
        /bench result .*bad-bench\.json: \/results\/0 is missing required field/,
      ],
      [
        'bad-reuse.json',
        JSON.stringify({...JSON.parse(readFileSync(join(FIX, 'reuse.json'), 'utf8')), cache: 3}),
        /reuse analysis .*bad-reuse\.json: \/cache must be an array, got 3/,
      ],
      [
        'bad-plan.json',
        JSON.stringify({...JSON.parse(readFileSync(join(FIX, 'plan-reference.json'), 'utf8')), fits: 'yes'}),
        /plan .*bad-plan\.json: \/fits must be a boolean, got "yes"/,
      ],
      ['trunc.trace', Buffer.from('MOETRACE\x01\x00\x00\x00'), /trunc\.trace/],
    ]
    for (const [name, body, re] of cases) {
      const p = join(dir, name)
      writeFileSync(p, body)
      await assert.rejects(loadInput(p), (e: Error) => {
        assert.match(e.message, re)
        assert.ok(!e.message.includes('\n'), 'one line')
        return true
      })
    }
    await assert.rejects(loadInput(join(dir, 'missing.json')), /missing\.json: no such file/)
    await assert.rejects(loadInput(dir), /is a folder/)
    await assert.rejects(loadInput(join(FIX, 'trace.csv')), /--experts/)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('moerig report CLI: --json result, one-line errors, old report kept on failure', () => {
  const dir = tmp()
  try {
    const out = join(dir, 'r')
    const json = JSON.parse(
      execFileSync(process.execPath, ['bin/run.js', 'report', join(FIX, 'plan-reference.json'), '-o', out, '--json'], {
        encoding: 'utf8',
      }),
    )
    assert.equal(json.dir, out)
    assert.ok(json.files.includes(join(out, 'index.html')))
    assert.ok(json.charts.length > 0 && json.charts.every((c: string) => c.startsWith(join(out, 'charts'))))
    const before = readFileSync(join(out, 'index.html'), 'utf8')

    let stderr = ''
    let status = 0
    try {
      execFileSync(
        process.execPath,
        ['bin/run.js', 'report', join(FIX, 'plan-reference.json'), 'package.json', '-o', out],
        {encoding: 'utf8', stdio: 'pipe'},
      )
    } catch (e) {
      stderr = (e as {stderr: string}).stderr
      status = (e as {status: number}).status
    }
    assert.notEqual(status, 0)
    assert.match(stderr, /^moerig: error: input package\.json: unrecognised JSON document/)
    assert.equal(stderr.trim().split('\n').length, 1)
    assert.equal(readFileSync(join(out, 'index.html'), 'utf8'), before)
    assert.deepEqual(readdirSync(dir), ['r'])
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})
