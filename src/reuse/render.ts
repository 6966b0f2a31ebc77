/** Human tables for `moerig reuse` (the --json result is the data; this only lays it out). */
import {renderTable, alignRight} from '../lib/table.js'
import {safeName} from '../lib/text.js'
import {fmtDecimal, fmtGiB, fmtPercent, GiB, MISSING} from '../lib/units.js'
import type {ReuseResult} from '../schemas/reuse.js'

const pct = (x: number | null, digits = 1) => fmtPercent(x, {digits})
const withBase = (x: number | null, base: number) => `${pct(x)} (${pct(base)})`
const fixed2 = (x: number | null) => (x === null ? MISSING : x.toFixed(2))

function bytes(b: number | null): string {
  if (b === null) return MISSING
  return b === 0 ? '0' : fmtDecimal(b, {digits: {GB: 2}})
}

/** A VRAM budget; empty for a row that came from --cache, not --vram. */
function gib(b: number | null): string {
  return b === null ? '' : fmtGiB(b, b % GiB === 0 ? 0 : 1)
}

/** Columns padded to their widest cell; `right` marks right-aligned columns. */
function table(header: string[], rows: string[][], right: boolean[]): string[] {
  return renderTable(header, rows, alignRight(right), {trimEnd: true})
}

type Locality = ReuseResult['overall']

/** The measured-vs-random cells of one locality row (a layer or the mean). */
function localityCells(x: Locality): string[] {
  return [
    withBase(x.reuse, x.reuseRandom),
    withBase(x.anyRepeat, x.anyRepeatRandom),
    withBase(x.windowReuse, x.windowReuseRandom),
    withBase(x.top10Share, x.topShareRandom[1]),
    x.entropy.toFixed(3),
    x.gini.toFixed(2),
  ]
}

export function renderReuse(r: ReuseResult): string[] {
  const t = r.trace
  const from = r.settings.fromToken > 0 ? ` (from token ${r.settings.fromToken})` : ''
  return [
    `trace ${safeName(t.path)} (${t.format}): ${safeName(t.model)}, ${t.nTokens} tokens${from} × ${t.moeLayers.length} MoE layers, top-${t.k} of ${t.nExpert} experts`,
    '',
    ...localityLines(r),
    '',
    ...cacheLines(r),
    ...r.notes.map((n) => `note: ${n}`),
    `${r.timing.accesses} routing events analysed in ${r.timing.seconds.toFixed(2)} s`,
  ]
}

/** The locality table (each layer, then the mean) and the activation-share line under it. */
function localityLines(r: ReuseResult): string[] {
  const w = r.settings.window
  const rows = r.layers.map((l) => [
    String(l.layer),
    ...localityCells(l),
    l.hottest
      .slice(0, 3)
      .map((h) => `${h.expert}:${pct(h.share)}`)
      .join(' '),
  ])
  const o = r.overall
  rows.push(['all', ...localityCells(o), ''])
  const header = [
    'layer',
    'reuse',
    'any repeat',
    `reuse in ${w}`,
    'top 10 %',
    'entropy',
    'gini',
    'hottest (expert:share)',
  ]
  return [
    `Locality per MoE layer: measured (random routing in brackets); reuse in ${w} = the expert was used in one of the previous ${w} tokens`,
    ...table(header, rows, [true, true, true, true, true, true, true, false]),
    `top 1 % / 10 % / 20 % of experts take ${pct(o.top1Share)} / ${pct(o.top10Share)} / ${pct(o.top20Share)} of activations (uniform: ${o.topShareRandom.map((x) => pct(x)).join(' / ')}); entropy is normalised (uniform = 1), gini 0 = uniform`,
  ]
}

/** The cache table (mean over layers per capacity × policy) and the estimate's footnote; none without rows. */
function cacheLines(r: ReuseResult): string[] {
  const all = r.cache.filter((c) => c.layer === 'all')
  if (all.length === 0) return []
  const rows = all.map((c) => [
    String(c.capacity),
    gib(c.vramBytes),
    c.policy,
    pct(c.hitRate),
    pct(c.hitRateAfterWarmup),
    pct(c.hitRateRandom),
    bytes(c.bytesPerToken),
    fixed2(c.decodeTps),
  ])
  const header = ['c', 'VRAM', 'policy', 'hit rate', 'after warm-up', 'random', 'PCIe/token', 'decode tok/s*']
  return [
    `Expert cache, c experts per MoE layer, mean over layers; static learns its hot set from the first ${r.settings.warmupTokens} tokens and is scored on the rest ("after warm-up" scores every policy there)`,
    ...table(header, rows, [true, true, false, true, true, true, true, true]),
    ...estimateLines(r.estimate),
  ]
}

/** What the decode tok/s column is, and where its inputs came from. */
function estimateLines(e: ReuseResult['estimate']): string[] {
  return [
    `* bandwidth-only estimate, not a measurement: routed bytes / bandwidths, nothing else (no compute, launch or sync time). Hits are read on the GPU; LRU/LFU copy every miss over PCIe; static runs misses on the CPU; OPT (most hits) copies a miss only when it is needed again before some cached expert. no cache: ${e.noCacheDecodeTps === null ? MISSING : `${e.noCacheDecodeTps.toFixed(2)} tok/s`}`,
    `  model: ${safeName(e.modelSource)}${e.expertBytes ? `, ${bytes(e.expertBytes[0])} per expert` : ''}${e.denseBytes !== null ? `, ${bytes(e.denseBytes)} non-routed per token` : ''}`,
    `  bandwidth: PCIe ${e.pcieGBs ?? MISSING} GB/s, GPU ${e.gpuGBs ?? MISSING} GB/s, CPU ${e.cpuGBs ?? MISSING} GB/s (${e.bandwidthSource})`,
  ]
}
