// lib/table.ts is the one text-table renderer (issue 11): each former copy's formula must give the
// same lines through renderTable. The formulas are copied here as they stood in reuse/render.ts,
// runner/checkplan.ts, runner/bench.ts and planner/render.ts.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {alignRight, renderTable} from '../../src/lib/table.js'

const HEADER = ['device', 'what', 'planned', 'allocated', 'error']
const ROWS = [
  ['GPU0 (Vulkan0)', 'weights', '1234.50 MiB', '1234.00 MiB', '+0.0 %'],
  ['', 'KV', '12.00 MiB', '12.00 MiB', '0.0 %'],
  ['CPU', 'a much longer cell than the header', '0.00 MiB', '1.00 MiB', '−100.0 %'],
  ['x', '', '', '', ''],
]
const RIGHT = [false, false, true, true, true]
const widths = (head: string[], rows: string[][]) =>
  head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))

test('plain, trimmed: the lines reuse/render.ts table() gave', () => {
  for (const right of [RIGHT, [true, false, false, true, false], HEADER.map(() => false)]) {
    const w = widths(HEADER, ROWS)
    const line = (r: string[]) =>
      r
        .map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i])))
        .join('  ')
        .trimEnd()
    assert.deepEqual(renderTable(HEADER, ROWS, alignRight(right), {trimEnd: true}), [line(HEADER), ...ROWS.map(line)])
  }
})

test('plain, untrimmed: the lines runner/checkplan.ts checkTable gave (a left last column keeps its padding)', () => {
  const right = [false, false, true, true, false]
  const w = widths(HEADER, ROWS)
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ')
  const got = renderTable(HEADER, ROWS, alignRight(right))
  assert.deepEqual(got, [line(HEADER), ...ROWS.map(line)])
  assert.ok(got[1].endsWith(' '), 'the fixture has a padded last cell, so trimEnd is really tested above')
})

test('markdown: the lines runner/bench.ts benchTable gave (llama-bench style alignment row)', () => {
  const w = widths(HEADER, ROWS)
  const cell = (s: string, i: number) => (RIGHT[i] ? s.padStart(w[i]) : s.padEnd(w[i]))
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`
  const sep = `| ${w.map((n, i) => (RIGHT[i] ? `${'-'.repeat(n - 1)}:` : '-'.repeat(n))).join(' | ')} |`
  assert.deepEqual(renderTable(HEADER, ROWS, alignRight(RIGHT), {markdown: true}), [
    line(HEADER),
    sep,
    ...ROWS.map(line),
  ])
})

test("fixed widths and per-column gaps: the lines planner/render.ts's quants table gave", () => {
  const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length))
  const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s)
  const rows = [
    ['Q4_K_M', '404 GB', 'yes', '163840', '8.12'],
    ['a-quant-name-longer-than-ten', '1 GB', 'no', 'none', '123'],
  ]
  const head = ['quant', 'file', 'fits', 'ctx 2GPU', 'decode']
  const former = (label: string, r: string[]) =>
    `${label}${pad(r[0], 10)}${lpad(r[1], 10)}  ${pad(r[2], 5)}${lpad(r[3], 10)}${lpad(r[4], 10)}`
  const got = renderTable(
    ['quants', ...head],
    rows.map((r) => ['', ...r]),
    [
      {width: 9},
      {width: 10, gap: ''},
      {width: 10, right: true, gap: ''},
      {width: 5, gap: '  '},
      {width: 10, right: true, gap: ''},
      {width: 10, right: true, gap: ''},
    ],
  )
  assert.deepEqual(got, [former('quants   ', head), ...rows.map((r) => former('         ', r))])
})

test("fixed widths, trimmed: the lines planner/render.ts's memory table gave (a status column the header lacks)", () => {
  const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length))
  const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s)
  const head = ['device', 'capacity', 'weights', 'KV', 'compute', 'overhead', 'total']
  const rows = [
    [
      'GPU0 Intel Arc A770 16 GB (Vulkan0)',
      '15.9 GiB',
      '9.3 GiB',
      '0.27 GiB',
      '0.27 GiB',
      '0.50 GiB',
      '10.3 GiB',
      'ok',
    ],
    [
      'CPU: a name longer than thirty-six characters',
      '1000.0 GiB',
      '1367.0 GiB',
      '0.00 GiB',
      '0.5 GiB',
      '1 GiB',
      '1368 GiB',
      'OVER',
    ],
  ]
  const former = (label: string, r: string[], status: string | null) =>
    `${label}${pad(r[0], 36)}${r
      .slice(1, 7)
      .map((c) => lpad(c, 11))
      .join('')}${status === null ? '' : `  ${status}`}`
  const columns = [
    {width: 9},
    {width: 36, gap: ''},
    ...Array.from({length: 6}, () => ({width: 11, right: true, gap: ''})),
    {gap: '  '},
  ]
  const got = renderTable(
    ['memory', ...head, ''],
    rows.map((r) => ['', ...r]),
    columns,
    {trimEnd: true},
  )
  assert.deepEqual(got, [former('memory   ', head, null), ...rows.map((r) => former('         ', r, r[7]))])
})

test('no header: rows only, in both styles', () => {
  assert.deepEqual(
    renderTable(
      null,
      [
        ['a', 'bb'],
        ['ccc', 'd'],
      ],
      alignRight([false, true]),
    ),
    ['a    bb', 'ccc   d'],
  )
  assert.deepEqual(renderTable(null, [['a', 'bb']], alignRight([false, true]), {markdown: true}), ['| a | bb |'])
})
