/**
 * From input views to a report: tables, paragraphs and the charts that compare them.
 * Charts are collected as jobs first and rendered afterwards, so progress can count them.
 */
import type {Progress} from '../lib/progress.js'
import {fmtGiB, fmtMiB, fmtPercent, fmtTps, GB, GiB, MISSING} from '../lib/units.js'
import {
  CHART_SIZE,
  fontWarning,
  HEATMAP_SIZE,
  groupedBarConfig,
  lineChartConfig,
  memoryChartConfig,
  renderChart,
  renderHeatmap,
  type ChartSize,
  type GroupedBarData,
  type LineChartData,
  type MemoryBar,
} from './charts.js'
import type {Report, ReportChart, ReportInputRef, ReportSection, ReportTable} from './write.js'
import type {BenchView, HardwareView, InputView, PlanView, ReuseView, TraceView, TuneView} from './views.js'

/** Charts with more bars than this are split per plan: labels stop being readable. */
const MAX_MEMORY_BARS = 16
/** A y range wider than this ratio gets a log axis (1 k vs 160 k context tokens). */
const LOG_AXIS_RATIO = 50

export interface ReportInput {
  path: string
  view: InputView
}

interface ChartJob {
  id: string
  title: string
  caption?: string
  size: ChartSize
  render: () => Promise<Buffer>
}

/** A grouped-bar chart job titled like its chart, at the usual size. */
function barChart(id: string, data: GroupedBarData, caption?: string): ChartJob {
  return {id, title: data.title, caption, size: CHART_SIZE, render: () => renderChart(groupedBarConfig(data))}
}

/** A line chart job titled like its chart, at the usual size. */
function lineChart(id: string, data: LineChartData, caption?: string): ChartJob {
  return {id, title: data.title, caption, size: CHART_SIZE, render: () => renderChart(lineChartConfig(data))}
}

interface SectionDraft {
  title: string
  paragraphs: string[]
  tables: ReportTable[]
  charts: ChartJob[]
}

const tps = (v: number | null | undefined) => fmtTps(v)
const pct = (v: number | null | undefined) => fmtPercent(v, {space: true})
const ctxText = (v: number | null) => (v === null ? 'does not fit' : `${v.toLocaleString('en-US')} tokens`)
const gpuLabel = (n: number) => (n === 0 ? 'CPU only' : n === 1 ? '1 GPU' : `${n} GPUs`)

/**
 * Short labels that keep only what differs between items (e.g. just the quant when every plan
 * shares model, engine and machine).
 */
export function distinguishingLabels(items: Record<string, string>[], fallback: string[]): string[] {
  if (items.length === 0) return []
  const keys = Object.keys(items[0]).filter((k) => new Set(items.map((i) => i[k])).size > 1)
  const labels = items.map((i, n) => (keys.length === 0 ? fallback[n] : keys.map((k) => i[k]).join(' · ')))
  // Identical inputs given twice still need distinct labels.
  return labels.map((l, n) => (labels.indexOf(l) !== n || labels.lastIndexOf(l) !== n ? `${l} #${n + 1}` : l))
}

function hardwareSection(hw: HardwareView[]): SectionDraft {
  const rows = hw.map((h) => [
    h.label,
    h.cpu,
    `${h.sockets} / ${h.cores} / ${h.threads}`,
    fmtGiB(h.memoryBytes, 0),
    h.channels === null ? MISSING : String(h.channels),
    h.theoreticalGBs === null ? MISSING : `${h.theoreticalGBs.toFixed(1)} GB/s (spec)`,
    h.measuredGBs === null ? 'not measured' : `${h.measuredGBs.toFixed(1)} GB/s (measured)`,
    h.gpus.length === 0 ? 'none' : h.gpus.map((g) => `${g.name} ${fmtGiB(g.vramBytes, 0)}`).join(', '),
  ])
  return {
    title: 'Hardware',
    paragraphs: [],
    charts: [],
    tables: [
      {
        headers: [
          'machine',
          'CPU',
          'sockets / cores / threads',
          'RAM',
          'channels',
          'peak bandwidth',
          'triad bandwidth',
          'GPUs',
        ],
        rows,
      },
    ],
  }
}

function memoryBars(plans: PlanView[], labels: string[], gpu: boolean): MemoryBar[] {
  const bars: MemoryBar[] = []
  plans.forEach((p, i) => {
    for (const d of p.devices) {
      if ((d.kind === 'gpu') !== gpu) continue
      bars.push({
        label: plans.length > 1 ? [d.id, ...labels[i].split(' · ')] : d.id,
        weightsBytes: d.weightsBytes,
        kvBytes: d.kvBytes,
        computeBytes: d.computeBytes,
        capacityBytes: d.capacityBytes,
      })
    }
  })
  return bars
}

function planSection(plans: PlanView[]): SectionDraft {
  const labels = distinguishingLabels(
    plans.map((p) => ({
      model: p.model,
      quant: p.quant ?? '',
      engine: p.engine,
      hardware: p.hardware,
      context: `ctx ${p.context}`,
    })),
    plans.map((p) => p.label),
  )
  const s: SectionDraft = {
    title: 'Plans: memory, context, predicted speed',
    paragraphs: plans.map(planParagraph),
    tables: plans.map(planMemoryTable),
    charts: memoryCharts(plans, labels),
  }
  const assumptions = [...new Set(plans.flatMap((p) => p.assumptions))]
  if (assumptions.length > 0)
    s.tables.push({caption: 'Speed-model assumptions', headers: ['assumption'], rows: assumptions.map((a) => [a])})
  maxContextByGpus(s, plans, labels)
  return s
}

/** The verdict, weights, KV per token and predicted speed of one plan. */
function planParagraph(p: PlanView): string {
  const range = p.decodeTpsRange ? ` (range ${p.decodeTpsRange[0].toFixed(2)}–${p.decodeTpsRange[1].toFixed(2)})` : ''
  // "unknown" inside the sentence: a dash (MISSING) would not read as a word there
  return (
    `${p.label}: ${p.verdict ?? `${p.fits ? 'fits' : 'does not fit'} at ${p.context.toLocaleString('en-US')} tokens of context`}. ` +
    `Weights ${fmtGiB(p.weightsBytes)}, KV cache ${p.kvBytesPerToken === null ? 'unknown' : `${(p.kvBytesPerToken / 1024).toFixed(1)} KiB`} per token; ` +
    `predicted decode ${tps(p.decodeTps)}${range}, prefill ${tps(p.prefillTps)} (speed model, not measured).`
  )
}

function planMemoryTable(p: PlanView): ReportTable {
  return {
    caption: `Memory per device: ${p.label}`,
    headers: ['device', 'kind', 'weights', 'KV cache', 'compute', 'total', 'capacity'],
    rows: p.devices.map((d) => [
      d.id,
      d.kind,
      fmtGiB(d.weightsBytes),
      fmtGiB(d.kvBytes, 2),
      fmtGiB(d.computeBytes, 2),
      fmtGiB(d.weightsBytes + d.kvBytes + d.computeBytes),
      fmtGiB(d.capacityBytes),
    ]),
  }
}

/** Memory charts: RAM and VRAM apart (hundreds of GiB against 16 GiB), all plans side by side (or one chart pair per plan when that is too many bars). */
function memoryCharts(plans: PlanView[], labels: string[]): ChartJob[] {
  const charts: ChartJob[] = []
  const groups =
    plans.length > 1 && plans.reduce((n, p) => n + p.devices.length, 0) > MAX_MEMORY_BARS
      ? plans.map((p) => [p])
      : [plans]
  groups.forEach((g, gi) => {
    const gl = g.length === plans.length ? labels : [labels[plans.indexOf(g[0])]]
    const suffix = groups.length > 1 ? ` — ${gl[0]}` : ''
    for (const gpu of [false, true]) {
      const bars = memoryBars(g, gl, gpu)
      if (bars.length === 0) continue
      const title = `${gpu ? 'VRAM per GPU' : 'Host RAM'}${suffix}`
      charts.push({
        id: `memory-${gpu ? 'vram' : 'ram'}${groups.length > 1 ? `-${gi + 1}` : ''}`,
        title,
        caption: 'Stacked: weights, KV cache, compute buffers and runtime overhead (GiB); black tick: device capacity.',
        size: CHART_SIZE,
        render: () => renderChart(memoryChartConfig({title, devices: bars})),
      })
    }
  })
  return charts
}

/** Max context against the number of GPUs, one series per plan (engine, quant, machine): a chart and a table. */
function maxContextByGpus(s: SectionDraft, plans: PlanView[], labels: string[]): void {
  const withCtx = plans.filter((p) => p.maxContextByGpuCount.length > 0)
  if (withCtx.length > 0) {
    const counts = [...new Set(withCtx.flatMap((p) => p.maxContextByGpuCount.map((c) => c.gpus)))].sort((a, b) => a - b)
    const ctxLabels = withCtx.map((p) => labels[plans.indexOf(p)])
    const series = withCtx.map((p, i) => ({
      label: ctxLabels[i],
      values: counts.map((n) => p.maxContextByGpuCount.find((c) => c.gpus === n)?.context ?? null),
    }))
    const vals = series.flatMap((x) => x.values).filter((v): v is number => v !== null && v > 0)
    const logY = vals.length > 0 && Math.max(...vals) / Math.min(...vals) > LOG_AXIS_RATIO
    const title = 'Largest context that fits vs number of GPUs'
    s.charts.push(
      barChart(
        'max-context',
        {title, xTitle: 'GPUs used', yTitle: 'max context (tokens)', categories: counts.map(gpuLabel), series, logY},
        `Tokens of context per GPU count${logY ? ' (log axis)' : ''}; a missing bar means it does not fit.`,
      ),
    )
    s.tables.push({
      caption: 'Largest context per GPU count',
      headers: ['plan', ...counts.map(gpuLabel)],
      rows: withCtx.map((p, i) => [
        ctxLabels[i],
        ...counts.map((n) => ctxText(p.maxContextByGpuCount.find((c) => c.gpus === n)?.context ?? null)),
      ]),
    })
  }
}

/** Quant comparison: rows from `plan --quants`, or several plans that differ by quant; measured speed from bench results of that quant. */
function quantSection(plans: PlanView[], benches: BenchView[]): SectionDraft | null {
  if (plans.length === 0) return null
  // One machine's comparison: the first plan made with --quants.
  const withRows = plans.find((p) => p.rows.length > 0)
  let rows = withRows?.rows ?? []
  const model = withRows?.model ?? plans[0].model
  if (rows.length === 0) {
    const byQuant = plans.filter((p) => p.quant !== null && p.model === model)
    if (new Set(byQuant.map((p) => p.quant)).size < 2) return null
    rows = byQuant.map((p) => ({
      quant: p.quant as string,
      sizeBytes: p.weightsBytes,
      fits: p.fits,
      maxContext: Math.max(0, ...p.maxContextByGpuCount.map((c) => c.context ?? 0)) || null,
      decodeTps: p.decodeTps,
      prefillTps: p.prefillTps,
    }))
  }
  if (rows.length === 0) return null
  const measured = (quant: string) => {
    // Only measurements of the same model: a synthetic model's speed says nothing about R1's.
    const r = benches
      .filter((b) => b.quant === quant && b.model === model)
      .flatMap((b) => b.results.filter((x) => x.nGen > 0))
    return r.length > 0 ? r[0].mean : null
  }
  const title = 'Quant levels: file size'
  const speedTitle = 'Quant levels: predicted decode speed'
  const categories = rows.map((r) => r.quant)
  const anyMeasured = rows.some((r) => measured(r.quant) !== null)
  return {
    title: 'Quant comparison',
    paragraphs: [
      `${model}: file size, fit and predicted speed per quantization level (speed model unless marked measured).`,
    ],
    tables: [
      {
        headers: ['quant', 'size', 'fits', 'max context', 'predicted decode', 'predicted prefill', 'measured decode'],
        rows: rows.map((r) => [
          r.quant,
          `${(r.sizeBytes / GB).toFixed(1)} GB`,
          r.fits ? 'yes' : 'no',
          ctxText(r.maxContext),
          tps(r.decodeTps),
          tps(r.prefillTps),
          tps(measured(r.quant)),
        ]),
      },
    ],
    charts: [
      barChart('quant-size', {
        title,
        xTitle: 'quant',
        yTitle: 'GB (1e9 bytes)',
        categories,
        series: [{label: 'file size', values: rows.map((r) => r.sizeBytes / GB)}],
      }),
      barChart('quant-speed', {
        title: speedTitle,
        xTitle: 'quant',
        yTitle: 'tokens/s',
        categories,
        series: [
          {label: 'predicted decode', values: rows.map((r) => r.decodeTps), light: true},
          ...(anyMeasured ? [{label: 'measured decode', values: rows.map((r) => measured(r.quant))}] : []),
        ],
      }),
    ],
  }
}

function benchSection(benches: BenchView[]): SectionDraft {
  const labels = distinguishingLabels(
    benches.map((b) => ({
      tool: `moerig ${b.tool}`,
      model: b.model,
      quant: b.quant ?? '',
      backend: b.backend,
      placement: b.placement,
      threads: `${b.threads} thread${b.threads === 1 ? '' : 's'}`,
    })),
    benches.map((b) => b.label),
  )
  const s: SectionDraft = {
    title: 'Measured speed',
    paragraphs: benches.map((b, i) => `${labels[i] === b.label ? '' : `${labels[i]}: `}${b.label}, ${b.provenance}.`),
    tables: [
      {
        headers: ['run', 'model', 'size', 'backend', 'placement', 'threads', 'test', 't/s'],
        rows: benches.flatMap((b, i) =>
          b.results.map((r) => [
            labels[i],
            b.model,
            b.sizeBytes === null ? MISSING : fmtGiB(b.sizeBytes, 2),
            b.backend,
            b.placement,
            String(r.threads),
            r.test,
            `${r.mean.toFixed(2)} ± ${r.sd.toFixed(2)}`,
          ]),
        ),
      },
    ],
    charts: [],
  }
  s.charts.push(...speedCharts(benches, labels))
  benches.forEach((b, i) => planComparison(s, b, labels[i], i))
  return s
}

/** Measured t/s per test, one bar per run: prompt processing runs hundreds of t/s, generation tens, so one chart each. */
function speedCharts(benches: BenchView[], labels: string[]): ChartJob[] {
  const charts: ChartJob[] = []
  for (const kind of ['pp', 'tg'] as const) {
    const tests = [
      ...new Set(
        benches.flatMap((b) =>
          b.results.filter((r) => (kind === 'pp' ? r.nPrompt > 0 && r.nGen === 0 : r.nGen > 0)).map((r) => r.test),
        ),
      ),
    ]
    if (tests.length === 0) continue
    const title = kind === 'pp' ? 'Prompt processing (pp): tokens/s' : 'Generation (tg): tokens/s'
    const series = benches.map((b, i) => ({
      label: labels[i],
      values: tests.map((t) => b.results.find((r) => r.test === t)?.mean ?? null),
      errors: tests.map((t) => b.results.find((r) => r.test === t)?.sd ?? null),
    }))
    charts.push(
      barChart(
        `bench-${kind}`,
        {title, xTitle: 'test', yTitle: 'tokens/s', categories: tests, series},
        'Mean over repetitions (measured); whiskers: ± one standard deviation.',
      ),
    )
  }
  return charts
}

/** Predicted vs measured speed and memory of the i-th run, for runs made with `bench --plan`. */
function planComparison(s: SectionDraft, b: BenchView, label: string, i: number): void {
  if (b.predicted) {
    const pred = b.predicted
    const tg = b.results.find((r) => r.nGen > 0)?.mean ?? null
    const pp = b.results.find((r) => r.nPrompt > 0 && r.nGen === 0)?.mean ?? null
    const title = `Predicted vs measured speed — ${label}`
    s.charts.push(
      barChart(`predicted-vs-measured-speed-${i + 1}`, {
        title,
        xTitle: 'phase',
        yTitle: 'tokens/s',
        categories: ['decode (tg)', 'prefill (pp)'],
        series: [
          {label: 'predicted', values: [pred.decodeTps, pred.prefillTps], light: true},
          {label: 'measured', values: [tg, pp]},
        ],
      }),
    )
  }
  if (b.memory.length > 0) {
    const title = `Planned vs measured memory — ${label}`
    const mem = b.memory
    s.charts.push(
      barChart(`predicted-vs-measured-memory-${i + 1}`, {
        title,
        xTitle: 'device',
        yTitle: 'GiB',
        categories: mem.map((m) => m.device),
        series: [
          {
            label: 'planned',
            values: mem.map((m) => (m.plannedBytes === null ? null : m.plannedBytes / GiB)),
            light: true,
          },
          {label: 'measured', values: mem.map((m) => (m.measuredBytes === null ? null : m.measuredBytes / GiB))},
        ],
      }),
    )
    s.tables.push({
      caption: `Planned vs measured memory: ${label}`,
      headers: ['device', 'planned', 'measured'],
      rows: mem.map((m) => [m.device, fmtGiB(m.plannedBytes, 2), fmtGiB(m.measuredBytes, 2)]),
    })
  }
}

function reuseSection(reuses: ReuseView[]): SectionDraft {
  const s: SectionDraft = {title: 'Expert reuse and VRAM expert cache', paragraphs: [], tables: [], charts: []}
  reuses.forEach((r, i) => {
    const n = reuses.length > 1 ? `-${i + 1}` : ''
    const who = reuses.length > 1 ? ` — ${r.label}` : ''
    if (r.layers.length > 0) s.paragraphs.push(reuseSummary(r))
    for (const note of r.notes) s.paragraphs.push(note)
    if (r.layers.length > 0) s.charts.push(reusePerLayerChart(r, n, who))
    const overall = r.cache.filter((c) => c.layer === 'all')
    if (overall.length > 0) {
      s.charts.push(hitRateChart(overall, n, who))
      s.tables.push({
        caption: `Cache simulation (mean over layers): ${r.label}`,
        headers: [
          'policy',
          'capacity',
          'hit rate',
          'random routing',
          'PCIe bytes / token',
          'predicted decode (bandwidth-only)',
        ],
        rows: overall.map((c) => [
          c.policy,
          String(c.capacity),
          pct(c.hitRate),
          pct(c.hitRateRandom),
          c.bytesPerToken === null ? MISSING : fmtMiB(c.bytesPerToken),
          tps(c.decodeTps),
        ]),
      })
    }
  })
  return s
}

/** One paragraph: reuse against random routing, skew, and the no-cache estimate. */
function reuseSummary(r: ReuseView): string {
  const mean = r.overall?.reuse ?? r.layers.reduce((a, l) => a + l.reuse, 0) / r.layers.length
  const meanRandom = r.overall?.reuseRandom ?? r.layers.reduce((a, l) => a + l.reuseRandom, 0) / r.layers.length
  return (
    `${r.label}: consecutive-token expert reuse ${pct(mean)} against ${pct(meanRandom)} for random routing (${(mean / Math.max(1e-12, meanRandom)).toFixed(2)}×)` +
    (r.overall
      ? `; the hottest 10 % of experts take ${pct(r.overall.top10Share)} of activations, normalised entropy ${r.overall.entropy.toFixed(3)}, Gini ${r.overall.gini.toFixed(3)}`
      : '') +
    (r.noCacheDecodeTps !== null
      ? `; without an expert cache the bandwidth-only estimate is ${tps(r.noCacheDecodeTps)}`
      : '') +
    '.'
  )
}

/** Measured reuse per layer beside random routing's. */
function reusePerLayerChart(r: ReuseView, n: string, who: string): ChartJob {
  const layers = r.layers
  return lineChart(
    `reuse-per-layer${n}`,
    {
      title: `Consecutive-token expert reuse per layer${who}`,
      xTitle: 'layer (block index)',
      yTitle: 'reuse',
      integerX: true,
      yMin: 0,
      series: [
        {label: 'measured reuse', points: layers.map((l) => ({x: l.layer, y: l.reuse}))},
        {label: 'random routing', points: layers.map((l) => ({x: l.layer, y: l.reuseRandom})), dashed: true},
      ],
    },
    'Share of a token’s experts also used by the previous token; dashed: random routing (k/N).',
  )
}

/** Hit rate per policy against capacity (mean over layers), OPT dashed as the bound, random routing dashed. */
function hitRateChart(overall: ReuseView['cache'], n: string, who: string): ChartJob {
  const order = ['lru', 'lfu', 'static', 'opt']
  const policies = [...new Set(overall.map((c) => c.policy))].sort((a, b) => order.indexOf(a) - order.indexOf(b))
  const caps = [...new Set(overall.map((c) => c.capacity))].sort((a, b) => a - b)
  const randomPoints = caps.flatMap((cap) => {
    const v = overall.find((c) => c.capacity === cap && c.hitRateRandom !== null)?.hitRateRandom
    return v === undefined || v === null ? [] : [{x: cap, y: v}]
  })
  return lineChart(
    `cache-hit-rate${n}`,
    {
      title: `Expert-cache hit rate vs cache size${who}`,
      xTitle: 'cache capacity (experts per layer)',
      integerX: true,
      xTicks: caps,
      yTitle: 'hit rate',
      yMin: 0,
      yMax: 1,
      logX: caps.length > 2 && Math.max(...caps) / Math.max(1, Math.min(...caps)) >= 8,
      series: [
        ...policies.map((p) => ({
          label: p === 'opt' ? 'opt (Belady bound)' : p,
          dashed: p === 'opt',
          points: overall
            .filter((c) => c.policy === p)
            .sort((a, b) => a.capacity - b.capacity)
            .map((c) => ({x: c.capacity, y: c.hitRate})),
        })),
        ...(randomPoints.length > 0 ? [{label: 'random routing', dashed: true, points: randomPoints}] : []),
      ],
    },
    'Mean over layers; capacity in experts per layer. OPT (Belady) is the upper bound.',
  )
}

function traceSection(traces: TraceView[]): SectionDraft {
  const s: SectionDraft = {title: 'Routing: which experts each layer uses', paragraphs: [], tables: [], charts: []}
  traces.forEach((t, i) => {
    s.paragraphs.push(
      `${t.label}: ${t.nTokens} tokens, ${t.moeLayers.length} MoE layers, ${t.nExpert} routed experts, top-${t.k}.`,
    )
    const title = `Expert activations per layer${traces.length > 1 ? ` — ${t.label}` : ''}`
    const values = t.counts.map((row) => row.map((c) => (t.nTokens > 0 ? c / t.nTokens : 0)))
    s.charts.push({
      id: `expert-heatmap${traces.length > 1 ? `-${i + 1}` : ''}`,
      title,
      caption: `Share of tokens that routed to each expert (uniform routing would give ${(t.k / t.nExpert).toFixed(3)} everywhere).`,
      size: HEATMAP_SIZE,
      render: () =>
        renderHeatmap({
          title,
          rows: t.moeLayers.map(String),
          columns: t.nExpert,
          values,
          xTitle: 'expert id',
          yTitle: 'layer (block index)',
          scaleTitle: 'share of tokens',
        }),
    })
  })
  return s
}

/** `moerig tune`: the ranked configurations, bars of every measured one, and the search over time. */
function tuneSection(tunes: TuneView[]): SectionDraft {
  const s: SectionDraft = {
    title: 'Tuning: configurations measured by moerig tune',
    paragraphs: [],
    tables: [],
    charts: [],
  }
  const ratio = (x: number | null) => (x === null ? MISSING : `×${x.toFixed(2)}`)
  const pm = (x: {mean: number; sd: number} | null) => (x ? `${x.mean.toFixed(2)} ± ${x.sd.toFixed(2)}` : MISSING)
  tunes.forEach((t, i) => {
    const n = tunes.length > 1 ? `-${i + 1}` : ''
    const who = tunes.length > 1 ? ` — ${t.label}` : ''
    s.paragraphs.push(`${t.label}: ${t.summary} ${t.provenance}.`)
    if (t.winner)
      s.paragraphs.push(
        `Winner (${t.objective}): ${t.winner.flags}. ${t.winner.commands.join(' · ')}${t.winner.notes.length ? ` (${t.winner.notes.join('; ')})` : ''}`,
      )
    s.tables.push({
      caption: `Measured configurations, best first${who}`,
      headers: [
        '#',
        'config',
        `${t.tests.pp} t/s`,
        `${t.tests.tg} t/s`,
        'reps',
        'memory',
        'vs defaults',
        'vs plan',
        '',
      ],
      rows: t.rows.map((r) => [
        r.rank === null ? MISSING : String(r.rank),
        r.flags,
        pm(r.prefill),
        pm(r.decode),
        String(r.reps),
        r.memory || MISSING,
        ratio(r.vsDefaults),
        ratio(r.vsPlan),
        r.tags.join(', '),
      ]),
    })
    const measured = t.rows.filter((r) => r.rank !== null)
    const categories = measured.map((r) => `#${r.rank}${r.tags.length ? ` ${r.tags.join(',')}` : ''}`)
    for (const kind of ['tg', 'pp'] as const) {
      const stat = (r: TuneView['rows'][number]) => (kind === 'tg' ? r.decode : r.prefill)
      const title = `${kind === 'tg' ? t.tests.tg : t.tests.pp} of every measured configuration${who}`
      s.charts.push(
        barChart(
          `tune-${kind}${n}`,
          {
            title,
            xTitle: 'configuration (rank; the table says which)',
            yTitle: 'tokens/s',
            categories,
            series: [
              {
                label: 'predicted (corrected)',
                values: measured.map((r) => (kind === 'tg' ? r.predicted.decodeTps : r.predicted.prefillTps)),
                light: true,
              },
              {
                label: 'measured',
                values: measured.map((r) => stat(r)?.mean ?? null),
                errors: measured.map((r) => stat(r)?.sd ?? null),
              },
            ],
          },
          'Mean over repetitions (measured); whiskers: ± one standard deviation; light bars: the prediction the search ranked it by (the planner’s, corrected by the measurements before it).',
        ),
      )
    }
    const pts = (f: (p: TuneView['path'][number]) => number | null) =>
      t.path.filter((p) => f(p) !== null).map((p) => ({x: p.atS, y: f(p)!}))
    const title = `Search path: ${t.objective} score over time${who}`
    s.charts.push({
      id: `tune-path${n}`,
      title,
      caption: 'Each point is one measurement (its score when it started); dashed: the best measured so far.',
      size: CHART_SIZE,
      render: () =>
        renderChart(
          lineChartConfig({
            title,
            xTitle: 'seconds since the search started',
            yTitle: t.objective === 'balanced' ? '√(pp × tg) tokens/s' : 'tokens/s',
            series: [
              {label: 'measurement', points: pts((p) => p.score)},
              {label: 'best so far', points: pts((p) => p.bestScore), dashed: true},
            ],
            yMin: 0,
          }),
        ),
    })
  })
  return s
}

export interface BuildOptions {
  title?: string
  notes?: string[]
  progress?: Progress
  now?: Date
}

/** Assemble and render a report from input views; ordering: hardware, plans, quants, bench, tune, reuse, routing. */
export async function buildReport(inputs: ReportInput[], opts: BuildOptions = {}): Promise<Report> {
  const of = <K extends InputView['kind']>(k: K) =>
    inputs.map((i) => i.view).filter((v): v is Extract<InputView, {kind: K}> => v.kind === k)
  const hw = of('hardware')
  const plans = of('plan')
  const benches = of('bench')
  const reuses = of('reuse')
  const traces = of('trace')
  const tunes = of('tune')
  const drafts: SectionDraft[] = []
  if (hw.length > 0) drafts.push(hardwareSection(hw))
  if (plans.length > 0) drafts.push(planSection(plans))
  const q = quantSection(plans, benches)
  if (q) drafts.push(q)
  if (benches.length > 0) drafts.push(benchSection(benches))
  if (tunes.length > 0) drafts.push(tuneSection(tunes))
  if (reuses.length > 0) drafts.push(reuseSection(reuses))
  if (traces.length > 0) drafts.push(traceSection(traces))

  const total = drafts.reduce((n, d) => n + d.charts.length, 0)
  opts.progress?.phase('rendering charts', total)
  let done = 0
  const sections: ReportSection[] = []
  for (const d of drafts) {
    const charts: ReportChart[] = []
    for (const job of d.charts) {
      const png = await job.render()
      charts.push({
        id: job.id,
        title: job.title,
        caption: job.caption,
        png,
        width: job.size.width,
        height: job.size.height,
      })
      opts.progress?.update(++done, job.id)
    }
    sections.push({title: d.title, paragraphs: d.paragraphs, tables: d.tables, charts})
  }
  const models = [...new Set([...plans, ...benches, ...tunes, ...reuses, ...traces].map((v) => v.model))]
  const inputsRef: ReportInputRef[] = inputs.map((i) => ({path: i.path, kind: i.view.kind, label: i.view.label}))
  return {
    title:
      opts.title ??
      (models.length > 0
        ? `moerig report: ${models.slice(0, 3).join(', ')}${models.length > 3 ? ' …' : ''}`
        : 'moerig report'),
    generatedAt: (opts.now ?? new Date()).toISOString(),
    inputs: inputsRef,
    sections,
    notes: [...(opts.notes ?? []), ...(total > 0 && fontWarning() ? [fontWarning() as string] : [])],
  }
}
