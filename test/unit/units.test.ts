// lib/units.ts is the one byte formatter (issue 11): each call site's former inline formula must
// give the same text through fmtBinary / fmtMiB / fmtMB.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {MISSING, fmtBinary, fmtDecimal, fmtGiB, fmtMB, fmtMiB, fmtPercent, fmtTps} from '../../src/lib/units.js'

const SAMPLES = [
  0,
  1,
  1023,
  1024,
  1536,
  1024 ** 2 - 1,
  1024 ** 2,
  5.5 * 1024 ** 2,
  1024 ** 3 - 1,
  1024 ** 3,
  3.25 * 1024 ** 3,
  671e9,
  1e6,
  999_999_999,
]

test('fmtBinary gives the text each former copy gave', () => {
  for (const b of SAMPLES) {
    // runner/bench.ts fmtSize
    assert.equal(
      fmtBinary(b, {units: ['MiB', 'GiB'], digits: 2}),
      b < 1024 ** 3 ? `${(b / 1024 ** 2).toFixed(2)} MiB` : `${(b / 1024 ** 3).toFixed(2)} GiB`,
    )
    // reuse/analyze.ts fmtBytes
    const analyze =
      b >= 1024 ** 3
        ? `${(b / 1024 ** 3).toFixed(1)} GiB`
        : b >= 1024 ** 2
          ? `${(b / 1024 ** 2).toFixed(1)} MiB`
          : `${b} B`
    assert.equal(fmtBinary(b, {units: ['B', 'MiB', 'GiB']}), analyze)
    // planner/render.ts kib
    assert.equal(
      fmtBinary(b, {units: ['KiB', 'MiB'], digits: {KiB: 1, MiB: 2}}),
      b >= 1024 ** 2 ? `${(b / 1024 ** 2).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`,
    )
    // probe/summary.ts cacheText
    assert.equal(
      fmtBinary(b, {units: ['MiB', 'GiB'], digits: {MiB: 0, GiB: 1}}),
      b >= 1024 ** 3 ? fmtGiB(b) : `${Math.round(b / 1024 ** 2)} MiB`,
    )
    // commands/synth.ts file size
    assert.equal(
      fmtBinary(b, {units: ['MiB', 'GiB'], digits: {MiB: 1, GiB: 2}}),
      b >= 1024 ** 3 ? fmtGiB(b, 2) : fmtMiB(b),
    )
    // planner/render.ts fileSize (small files), runner/checkplan.ts mib, report/build.ts MiB per token
    assert.equal(`${fmtMB(b)} (${fmtMiB(b)})`, `${(b / 1e6).toFixed(1)} MB (${(b / 2 ** 20).toFixed(1)} MiB)`)
    assert.equal(fmtMiB(b, 2), `${(b / 1024 ** 2).toFixed(2)} MiB`)
  }
})

test('fmtPercent / fmtTps give the text the reuse and report copies gave', () => {
  for (const x of [null, 0, 0.5, 0.12345, 1, 2.5]) {
    assert.equal(fmtPercent(x, {digits: 2, missing: 'n/a'}), x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`)
    assert.equal(fmtPercent(x, {space: true, missing: '–'}), x === null ? '–' : `${(100 * x).toFixed(1)} %`)
    assert.equal(fmtTps(x, {missing: '–'}), x === null ? '–' : `${x.toFixed(2)} t/s`)
  }
})

test('fmtDecimal gives the text reuse/render.ts bytes() gave; MISSING is what a missing rate prints', () => {
  for (const b of [...SAMPLES, 0.4, 999, 1000, 1234.5, 999_999, 2.5e9]) {
    const former =
      b >= 1e9
        ? `${(b / 1e9).toFixed(2)} GB`
        : b >= 1e6
          ? `${(b / 1e6).toFixed(1)} MB`
          : b >= 1e3
            ? `${(b / 1e3).toFixed(1)} kB`
            : `${b.toFixed(0)} B`
    assert.equal(fmtDecimal(b, {digits: {GB: 2}}), former)
  }
  assert.equal(fmtPercent(null), MISSING)
  assert.equal(fmtTps(undefined), MISSING)
  assert.equal(MISSING, '—')
})
