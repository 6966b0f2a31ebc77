import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync} from 'node:fs'
import {join} from 'node:path'
import {assertChart, assertSelfContained, pngStats, sampleInputs} from '../support/report-helpers.js'
import {
  CHART_SIZE,
  HEATMAP_SIZE,
  renderGroupedBars,
  renderHeatmap,
  renderLineChart,
  renderMemoryChart,
  memoryChartConfig,
  viridis,
} from '../../src/report/charts.js'
import {escapeHtml, escapeMd, slug} from '../../src/report/escape.js'
import {buildReport, distinguishingLabels} from '../../src/report/build.js'
import {renderHtml, writeReport, type Report} from '../../src/report/write.js'
import {tempDir} from '../support/tmp.js'

const GiB = 1024 ** 3
const HOSTILE = '<script>alert(1)</script>'

test('each chart kind renders a PNG of the fixed size that is not blank', async () => {
  await assertChart(
    await renderMemoryChart({
      title: 'mem',
      devices: [{label: 'gpu0', weightsBytes: 8 * GiB, kvBytes: GiB, computeBytes: GiB, capacityBytes: 16 * GiB}],
    }),
    CHART_SIZE,
    'memory',
  )
  await assertChart(
    await renderGroupedBars({
      title: 'bars',
      xTitle: 'x',
      yTitle: 'y',
      categories: ['a', 'b'],
      series: [
        {label: 's', values: [1, null]},
        {label: 't', values: [2, 3], light: true},
      ],
      logY: true,
    }),
    CHART_SIZE,
    'bars',
  )
  await assertChart(
    await renderLineChart({
      title: 'lines',
      xTitle: 'x',
      yTitle: 'y',
      logX: true,
      series: [
        {
          label: 'a',
          points: [
            {x: 1, y: 1},
            {x: 8, y: 2},
          ],
        },
        {
          label: 'b',
          dashed: true,
          points: [
            {x: 1, y: 0},
            {x: 8, y: 3},
          ],
        },
      ],
    }),
    CHART_SIZE,
    'lines',
  )
  await assertChart(
    await renderHeatmap({
      title: 'heat',
      rows: ['1', '2', '3'],
      columns: 8,
      values: [
        [1, 2, 3, 4, 5, 6, 7, 8],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [8, 7, 6, 5, 4, 3, 2, 1],
      ],
      xTitle: 'e',
      yTitle: 'l',
      scaleTitle: 's',
    }),
    HEATMAP_SIZE,
    'heatmap',
  )
})

test('a heat map with more experts than pixels bins them', async () => {
  const values = [Array.from({length: 4096}, (_, e) => (e === 1234 ? 1 : 0))]
  const t = Date.now()
  await assertChart(
    await renderHeatmap({title: 'wide', rows: ['0'], columns: 4096, values, xTitle: 'e', yTitle: 'l', scaleTitle: 's'}),
    HEATMAP_SIZE,
    'wide heatmap',
  )
  assert.ok(Date.now() - t < 5000)
})

test('an all-zero heat map and empty series still render', async () => {
  await assertChart(
    await renderHeatmap({
      title: 'zero',
      rows: ['0'],
      columns: 4,
      values: [[0, 0, 0, 0]],
      xTitle: 'e',
      yTitle: 'l',
      scaleTitle: 's',
    }),
    HEATMAP_SIZE,
    'zero heatmap',
  )
  const png = await renderLineChart({title: 'nothing measured', xTitle: 'x', yTitle: 'y', series: []})
  assert.equal((await pngStats(png)).width, CHART_SIZE.width)
})

test('chart configurations are plain data', () => {
  const cfg = memoryChartConfig({
    title: 't',
    devices: [{label: 'cpu', weightsBytes: GiB, kvBytes: 0, computeBytes: 0, capacityBytes: null}],
  })
  assert.deepEqual(
    cfg.data.datasets.map((d) => d.label),
    ['weights', 'KV cache', 'compute + overhead', 'capacity'],
  )
  assert.deepEqual(cfg.data.datasets[0].data, [1])
  assert.deepEqual(cfg.data.datasets[3].data, [null])
  assert.doesNotThrow(() => JSON.stringify(cfg))
  assert.match(viridis(0), /^rgb\(68,1,84\)$/)
  assert.match(viridis(2), /^rgb\(253,231,37\)$/)
})

test('escaping: HTML, markdown, file names', () => {
  assert.equal(escapeHtml(HOSTILE), '&lt;script&gt;alert(1)&lt;/script&gt;')
  assert.equal(escapeHtml(`"a" & 'b'`), '&quot;a&quot; &amp; &#39;b&#39;')
  assert.equal(escapeMd(HOSTILE), '&lt;script&gt;alert(1)&lt;/script&gt;')
  assert.equal(escapeMd('a|b\n*c*'), 'a\\|b \\*c\\*')
  assert.equal(escapeMd('[x](javascript:1)'), '\\[x\\](javascript:1)')
  assert.equal(escapeMd('![i](http://x/y.png)'), '!\\[i\\](http://x/y.png)')
  assert.equal(escapeMd('# title'), '\\# title')
  assert.equal(escapeMd('- item'), '\\- item')
  assert.equal(escapeMd('1. item'), '1\\. item')
  assert.equal(escapeMd('`code` _em_ ~s~'), '\\`code\\` \\_em\\_ \\~s\\~')
  assert.equal(escapeMd('DeepSeek-R1 Q4_K_M (1.5 GB)'), 'DeepSeek-R1 Q4\\_K\\_M (1.5 GB)')
  assert.equal(slug('../../etc/passwd'), 'etc-passwd')
  assert.equal(slug('<>'), 'item')
})

test('labels keep only what differs', () => {
  assert.deepEqual(
    distinguishingLabels(
      [
        {m: 'R1', q: 'Q4'},
        {m: 'R1', q: 'Q2'},
      ],
      ['x', 'y'],
    ),
    ['Q4', 'Q2'],
  )
  assert.deepEqual(distinguishingLabels([{m: 'R1'}, {m: 'R1'}], ['x', 'x']), ['x #1', 'x #2'])
})

test('a full report: every chart decodes, HTML is self-contained and escapes a hostile model name', async () => {
  const report = await buildReport(sampleInputs(HOSTILE), {notes: [`skipped: ${HOSTILE}`]})
  const dir = tempDir('moerig-report-')
  try {
    const out = writeReport(join(dir, 'r'), report)
    assert.deepEqual(readdirSync(out.dir).sort(), ['.moerig-report', 'charts', 'index.html', 'report.md'])
    const ids = out.charts.map((c) => c.replace(/^.*\/charts\//, ''))
    for (const want of [
      'memory-ram.png',
      'memory-vram.png',
      'max-context.png',
      'quant-size.png',
      'quant-speed.png',
      'bench-pp.png',
      'bench-tg.png',
      'predicted-vs-measured-speed-1.png',
      'predicted-vs-measured-memory-1.png',
      'reuse-per-layer.png',
      'cache-hit-rate.png',
      'expert-heatmap.png',
    ]) {
      assert.ok(ids.includes(want), `chart ${want} in ${ids.join(', ')}`)
    }
    for (const c of out.charts)
      await assertChart(readFileSync(c), c.endsWith('heatmap.png') ? HEATMAP_SIZE : CHART_SIZE, c)

    const html = readFileSync(join(out.dir, 'index.html'), 'utf8')
    assertSelfContained(html)
    assert.ok(!html.includes(HOSTILE), 'raw hostile name must not appear')
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'escaped name appears')
    assert.equal((html.match(/<img /g) ?? []).length, out.charts.length)

    const md = readFileSync(join(out.dir, 'report.md'), 'utf8')
    assert.ok(!md.includes(HOSTILE))
    for (const c of ids) assert.ok(md.includes(`](charts/${c})`), `report.md links ${c}`)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('a failed write leaves the old report in place and no temp folder', async () => {
  const dir = tempDir('moerig-report-')
  try {
    const target = join(dir, 'r')
    mkdirSync(target)
    writeFileSync(join(target, 'index.html'), 'old')
    // an old moerig report: its marker lists its files (a folder without one is never replaced)
    writeFileSync(
      join(target, '.moerig-report'),
      JSON.stringify({schemaVersion: 1, kind: 'report', generatedAt: 'then', files: ['index.html']}),
    )
    const png = Buffer.from('not really a png')
    const bad: Report = {
      title: 't',
      generatedAt: 'now',
      inputs: [],
      notes: [],
      sections: [{title: 's', paragraphs: [], tables: [], charts: [{id: 'a', title: 'a', png, width: 1, height: 1}]}],
    }
    // A chart whose bytes cannot be written (a Buffer getter that throws mid-write).
    Object.defineProperty(bad.sections[0].charts[0], 'png', {
      get: () => {
        throw new Error('render failed')
      },
    })
    assert.throws(() => writeReport(target, bad), /report folder/)
    assert.equal(readFileSync(join(target, 'index.html'), 'utf8'), 'old')
    assert.deepEqual(readdirSync(dir), ['r'])

    const good: Report = {...bad, sections: [{title: 's', paragraphs: ['p'], tables: [], charts: []}]}
    writeReport(target, good)
    assert.match(readFileSync(join(target, 'index.html'), 'utf8'), /<!doctype html>/)
    assert.deepEqual(readdirSync(dir), ['r'])
    assert.ok(!existsSync(join(target, 'charts', 'a.png')))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('renderHtml escapes tables, captions and inputs', () => {
  const html = renderHtml({
    title: HOSTILE,
    generatedAt: 'x',
    inputs: [{path: `/tmp/${HOSTILE}.json`, kind: 'plan', label: HOSTILE}],
    notes: [HOSTILE],
    sections: [
      {
        title: HOSTILE,
        paragraphs: [HOSTILE],
        tables: [{caption: HOSTILE, headers: [HOSTILE], rows: [[HOSTILE]]}],
        charts: [],
      },
    ],
  })
  assert.ok(!html.includes('<script>'))
  assertSelfContained(html)
})
