/**
 * Chart rendering: chart.js driven directly on @napi-rs/canvas, plus a layer × expert heat map
 * drawn straight onto the canvas. @napi-rs/canvas is Skia in a prebuilt npm binary
 * (@napi-rs/canvas-linux-x64-gnu, glibc only: https://github.com/Brooooooklyn/canvas); the usual
 * chartjs-node-canvas needs node-canvas, which compiles against system cairo, pango and pixman
 * (https://github.com/Automattic/node-canvas#compiling) and fails `npm install` without them.
 *
 * Each chart kind is a pure `…Config` function from plain typed data to a chart.js configuration
 * (testable as JSON) and a thin `render…` that draws it at a fixed size and returns PNG bytes.
 * The data types here know nothing of plans, bench results or traces: `build.ts` maps those.
 */
import {createCanvas, GlobalFonts, type SKRSContext2D} from '@napi-rs/canvas'
import {Chart, registerables, type ChartConfiguration, type Plugin} from 'chart.js'
import {GiB} from '../lib/units.js'

Chart.register(...registerables)

/** Fixed sizes, so a report looks the same everywhere and tests can check them. */
export const CHART_SIZE = {width: 900, height: 450} as const
export const HEATMAP_SIZE = {width: 900, height: 520} as const

/** Tableau 10: distinguishable, and readable by most colour-blind viewers. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
]
const FONT = 'DejaVu Sans, Arial, sans-serif'

export interface ChartSize {
  width: number
  height: number
}

/** One device's memory, bytes. `capacityBytes` null when the platform hides it. */
export interface MemoryBar {
  label: string | string[]
  weightsBytes: number
  kvBytes: number
  computeBytes: number
  capacityBytes: number | null
}

export interface MemoryChartData {
  title: string
  devices: MemoryBar[]
}

export interface BarSeries {
  label: string
  /** One value per category; null = no bar (not measured, does not fit). */
  values: (number | null)[]
  /** Draw hatched-looking lighter bars: e.g. predicted beside measured. */
  light?: boolean
  /** ± whiskers (standard deviations), one per value. */
  errors?: (number | null)[]
}

export interface GroupedBarData {
  title: string
  xTitle: string
  yTitle: string
  categories: (string | string[])[]
  series: BarSeries[]
  logY?: boolean
}

export interface LineSeries {
  label: string
  points: {x: number; y: number}[]
  /** Dashed: baselines (random routing) and bounds (Belady's OPT). */
  dashed?: boolean
}

export interface LineChartData {
  title: string
  xTitle: string
  yTitle: string
  series: LineSeries[]
  logX?: boolean
  /** Whole-number x ticks (layer indices, capacities). */
  integerX?: boolean
  /** Ticks exactly at these x values (the simulated cache capacities on a log axis). */
  xTicks?: number[]
  yMin?: number
  yMax?: number
}

export interface HeatmapData {
  title: string
  /** Row labels, top to bottom (layer block indices). */
  rows: string[]
  /** Number of columns (experts). */
  columns: number
  /** values[row][column] ≥ 0. */
  values: number[][]
  xTitle: string
  yTitle: string
  /** What the colour means, under the colour bar. */
  scaleTitle: string
}

/**
 * Skia draws text with the system's fonts; a machine without any (a bare container) gets charts
 * without labels. Returns a line saying so, or null.
 */
export function fontWarning(): string | null {
  return GlobalFonts.families.length === 0
    ? 'no system fonts found: chart text is missing (Debian: apt-get install fonts-dejavu-core)'
    : null
}

/** Paints the background white: PNGs are transparent otherwise and unreadable on dark viewers. */
const whiteBackground: Plugin = {
  id: 'moerigWhiteBackground',
  beforeDraw(chart) {
    const ctx = chart.ctx
    ctx.save()
    ctx.globalCompositeOperation = 'destination-over'
    ctx.fillStyle = '#ffffff'
    ctx.fillRect(0, 0, chart.width, chart.height)
    ctx.restore()
  },
}

function baseOptions(title: string, xTitle: string, yTitle: string) {
  return {
    responsive: false,
    animation: false as const,
    devicePixelRatio: 1,
    font: {family: FONT},
    plugins: {
      title: {display: true, text: title, font: {size: 16, weight: 'bold' as const, family: FONT}, color: '#222'},
      legend: {position: 'top' as const, labels: {font: {family: FONT, size: 12}, color: '#333'}},
    },
    scales: {
      x: {title: {display: true, text: xTitle, font: {family: FONT, size: 12}}, ticks: {font: {family: FONT}}},
      y: {
        title: {display: true, text: yTitle, font: {family: FONT, size: 12}},
        ticks: {font: {family: FONT}},
        beginAtZero: true,
      },
    },
  }
}

/** Memory per device: stacked weights / KV / compute (GiB), capacity as a black tick per bar. */
export function memoryChartConfig(data: MemoryChartData): ChartConfiguration {
  const gib = (b: number | null) => (b === null ? null : b / GiB)
  const opts = baseOptions(data.title, 'device', 'GiB')
  return {
    type: 'bar',
    data: {
      labels: data.devices.map((d) => d.label),
      datasets: [
        {
          type: 'bar',
          label: 'weights',
          data: data.devices.map((d) => gib(d.weightsBytes)),
          backgroundColor: PALETTE[0],
          stack: 'mem',
          order: 2,
        },
        {
          type: 'bar',
          label: 'KV cache',
          data: data.devices.map((d) => gib(d.kvBytes)),
          backgroundColor: PALETTE[1],
          stack: 'mem',
          order: 2,
        },
        {
          type: 'bar',
          label: 'compute + overhead',
          data: data.devices.map((d) => gib(d.computeBytes)),
          backgroundColor: PALETTE[4],
          stack: 'mem',
          order: 2,
        },
        {
          // A line dataset without the line: a wide horizontal marker at each device's capacity.
          type: 'line',
          label: 'capacity',
          data: data.devices.map((d) => gib(d.capacityBytes)),
          showLine: false,
          pointStyle: 'line',
          pointRadius: Math.max(8, Math.min(60, 300 / Math.max(1, data.devices.length))),
          pointBorderWidth: 3,
          borderColor: '#111',
          backgroundColor: '#111',
          order: 1,
        },
      ],
    },
    options: {
      ...opts,
      scales: {x: {...opts.scales.x, stacked: true}, y: {...opts.scales.y, stacked: true, grace: '6%'}},
    },
  } as ChartConfiguration
}

/** Draws ± whiskers on bars whose dataset carries `errors` (bench t/s ± sd). */
const errorBars: Plugin = {
  id: 'moerigErrorBars',
  afterDatasetsDraw(chart) {
    const ctx = chart.ctx
    const y = chart.scales.y
    chart.data.datasets.forEach((ds, di) => {
      const errors = (ds as {errors?: (number | null)[]}).errors
      if (!errors || !chart.isDatasetVisible(di)) return
      chart.getDatasetMeta(di).data.forEach((bar, i) => {
        const v = ds.data[i] as number | null
        const e = errors[i]
        if (v === null || v === undefined || e === null || e === undefined || !(e > 0)) return
        const top = y.getPixelForValue(v + e)
        const bottom = y.getPixelForValue(Math.max(v - e, y.min))
        const w = Math.min(10, ((bar as unknown as {width: number}).width ?? 20) / 4)
        ctx.save()
        ctx.strokeStyle = '#222'
        ctx.lineWidth = 1.5
        ctx.beginPath()
        ctx.moveTo(bar.x, top)
        ctx.lineTo(bar.x, bottom)
        ctx.moveTo(bar.x - w, top)
        ctx.lineTo(bar.x + w, top)
        ctx.moveTo(bar.x - w, bottom)
        ctx.lineTo(bar.x + w, bottom)
        ctx.stroke()
        ctx.restore()
      })
    })
  },
}

/** One chart.js dataset per series, labelled, coloured from PALETTE in series order. */
function colouredDatasets<S extends {label: string}>(series: S[], style: (s: S, colour: string) => object): object[] {
  return series.map((s, i) => ({label: s.label, ...style(s, PALETTE[i % PALETTE.length])}))
}

/** Grouped bars: one group per category, one bar per series. */
export function groupedBarConfig(data: GroupedBarData): ChartConfiguration {
  const opts = baseOptions(data.title, data.xTitle, data.yTitle)
  return {
    type: 'bar',
    data: {
      labels: data.categories,
      datasets: colouredDatasets(data.series, (s, c) => ({
        data: s.values,
        backgroundColor: s.light ? c + '80' : c,
        borderColor: c,
        borderWidth: s.light ? 2 : 0,
        ...(s.errors ? {errors: s.errors} : {}),
      })),
    },
    plugins: data.series.some((s) => s.errors) ? [errorBars] : [],
    options: {
      ...opts,
      scales: {
        x: opts.scales.x,
        // Room for the whiskers: the axis must reach the highest mean + sd.
        y: {
          ...opts.scales.y,
          type: data.logY ? 'logarithmic' : 'linear',
          beginAtZero: !data.logY,
          suggestedMax: topWithErrors(data.series),
        },
      },
    },
  } as ChartConfiguration
}

function topWithErrors(series: BarSeries[]): number | undefined {
  let top: number | undefined
  for (const s of series) {
    if (!s.errors) continue
    s.values.forEach((v, i) => {
      if (v !== null) top = Math.max(top ?? 0, v + (s.errors?.[i] ?? 0))
    })
  }
  return top === undefined ? undefined : top * 1.04
}

/** Lines over a numeric x axis (cache size, layer index); dashed series are baselines/bounds. */
export function lineChartConfig(data: LineChartData): ChartConfiguration {
  const opts = baseOptions(data.title, data.xTitle, data.yTitle)
  return {
    type: 'line',
    data: {
      datasets: colouredDatasets(data.series, (s, c) => ({
        data: s.points,
        borderColor: c,
        backgroundColor: c,
        borderDash: s.dashed ? [6, 4] : [],
        pointRadius: s.points.length > 40 ? 0 : 3,
        borderWidth: 2,
        fill: false,
        tension: 0,
      })),
    },
    options: {
      ...opts,
      plugins: {
        ...opts.plugins,
        legend: {
          ...opts.plugins.legend,
          labels: {...opts.plugins.legend.labels, usePointStyle: true, pointStyle: 'line', pointStyleWidth: 36},
        },
      },
      scales: {
        x: {
          ...opts.scales.x,
          type: data.logX ? 'logarithmic' : 'linear',
          ticks: {
            ...opts.scales.x.ticks,
            precision: data.integerX ? 0 : undefined,
            ...(data.xTicks ? {callback: (v: number | string) => String(v)} : {}),
          },
          ...(data.xTicks
            ? {
                min: Math.min(...data.xTicks),
                max: Math.max(...data.xTicks),
                afterBuildTicks: (axis: {ticks: {value: number}[]}) =>
                  (axis.ticks = (data.xTicks ?? []).map((value) => ({value}))),
              }
            : {}),
        },
        y: {...opts.scales.y, min: data.yMin, max: data.yMax},
      },
    },
  } as ChartConfiguration
}

/** Draw a chart.js configuration at a fixed size; PNG bytes. */
export async function renderChart(config: ChartConfiguration, size: ChartSize = CHART_SIZE): Promise<Buffer> {
  const canvas = createCanvas(size.width, size.height)
  const ctx = canvas.getContext('2d')
  // chart.js sees no DOM here and uses its BasicPlatform, which only needs a 2D context.
  const chart = new Chart(ctx as unknown as CanvasRenderingContext2D, {
    ...config,
    options: {...config.options, responsive: false, animation: false, devicePixelRatio: 1},
    plugins: [...(config.plugins ?? []), whiteBackground],
  })
  try {
    return await canvas.encode('png')
  } finally {
    chart.destroy()
  }
}

export const renderMemoryChart = (d: MemoryChartData) => renderChart(memoryChartConfig(d))
export const renderGroupedBars = (d: GroupedBarData) => renderChart(groupedBarConfig(d))
export const renderLineChart = (d: LineChartData) => renderChart(lineChartConfig(d))

/** Perceptually ordered scale (viridis stops), t in [0, 1] → CSS colour. */
export function viridis(t: number): string {
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ]
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1)
  const i = Math.min(stops.length - 2, Math.floor(x))
  const f = x - i
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f))
  return `rgb(${c[0]},${c[1]},${c[2]})`
}

/** Round step for about `target` ticks over [0, n). */
function tickStep(n: number, target: number): number {
  const raw = Math.max(1, n / target)
  const p = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 4, 5, 8, 10]) if (m * p >= raw) return m * p
  return 10 * p
}

/**
 * Layer × expert heat map, drawn directly (chart.js has no matrix chart without a plugin):
 * one cell per (layer, expert), colour = value / max, axes with round ticks, a colour bar.
 */
export async function renderHeatmap(data: HeatmapData, size: ChartSize = HEATMAP_SIZE): Promise<Buffer> {
  const canvas = createCanvas(size.width, size.height)
  const ctx = canvas.getContext('2d')
  drawHeatmap(ctx, data, size)
  return canvas.encode('png')
}

/** Where the heat map's plot area sits, and the scale (max value) its colours run to. */
interface HeatmapPlot {
  left: number
  top: number
  width: number
  height: number
  max: number
}

function drawHeatmap(ctx: SKRSContext2D, data: HeatmapData, size: ChartSize): void {
  const m = {left: 70, right: 110, top: 50, bottom: 55}
  let max = 0
  for (const r of data.values) for (const v of r) if (Number.isFinite(v) && v > max) max = v
  const plot: HeatmapPlot = {
    left: m.left,
    top: m.top,
    width: size.width - m.left - m.right,
    height: size.height - m.top - m.bottom,
    max,
  }

  ctx.fillStyle = '#ffffff'
  ctx.fillRect(0, 0, size.width, size.height)
  ctx.fillStyle = '#222'
  ctx.font = `bold 16px ${FONT}`
  ctx.textAlign = 'center'
  ctx.textBaseline = 'middle'
  ctx.fillText(data.title, size.width / 2, 22)
  drawHeatmapCells(ctx, data, plot)
  drawHeatmapAxes(ctx, data, plot, size)
  drawColourBar(ctx, data.scaleTitle, plot, size.width - m.right + 25, size)
}

/**
 * Cells. Edges computed by rounding so neighbouring cells meet without seams. More experts than
 * pixel columns (n_expert up to 65536) are binned, each bin showing its hottest expert.
 */
function drawHeatmapCells(ctx: SKRSContext2D, data: HeatmapData, p: HeatmapPlot): void {
  const rows = data.rows.length
  const cols = Math.max(1, data.columns)
  const cw = p.width / cols
  const rh = p.height / Math.max(1, rows)
  const bins = Math.min(cols, Math.floor(p.width))
  for (let r = 0; r < rows; r++) {
    const y0 = Math.round(p.top + r * rh)
    const y1 = Math.round(p.top + (r + 1) * rh)
    const row = data.values[r] ?? []
    for (let b = 0; b < bins; b++) {
      const c0 = Math.floor((b * cols) / bins)
      const c1 = Math.max(c0 + 1, Math.floor(((b + 1) * cols) / bins))
      let v = 0
      for (let c = c0; c < c1; c++) v = Math.max(v, row[c] ?? 0)
      const x0 = Math.round(p.left + c0 * cw)
      const x1 = Math.round(p.left + c1 * cw)
      ctx.fillStyle = viridis(p.max > 0 ? v / p.max : 0)
      ctx.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0))
    }
  }
  ctx.strokeStyle = '#444'
  ctx.lineWidth = 1
  ctx.strokeRect(p.left - 0.5, p.top - 0.5, p.width + 1, p.height + 1)
}

/** X axis: expert ids; y axis: layer labels; both titles. */
function drawHeatmapAxes(ctx: SKRSContext2D, data: HeatmapData, p: HeatmapPlot, size: ChartSize): void {
  const rows = data.rows.length
  const cols = Math.max(1, data.columns)
  const cw = p.width / cols
  const rh = p.height / Math.max(1, rows)
  ctx.fillStyle = '#333'
  ctx.font = `12px ${FONT}`
  ctx.textAlign = 'center'
  ctx.textBaseline = 'top'
  const xs = tickStep(cols, 12)
  for (let c = 0; c < cols; c += xs) {
    const x = p.left + (c + 0.5) * cw
    ctx.fillRect(Math.round(x), p.top + p.height, 1, 4)
    ctx.fillText(String(c), x, p.top + p.height + 6)
  }
  ctx.fillText(data.xTitle, p.left + p.width / 2, size.height - 22)

  ctx.textAlign = 'right'
  ctx.textBaseline = 'middle'
  const ys = tickStep(rows, 16)
  for (let r = 0; r < rows; r += ys) {
    const y = p.top + (r + 0.5) * rh
    ctx.fillRect(p.left - 4, Math.round(y), 4, 1)
    ctx.fillText(data.rows[r], p.left - 7, y)
  }
  verticalText(ctx, data.yTitle, 18, p.top + p.height / 2)
}

/** Colour bar at x = `bx` with min / mid / max labels and its title. */
function drawColourBar(ctx: SKRSContext2D, title: string, p: HeatmapPlot, bx: number, size: ChartSize): void {
  const bw = 16
  for (let i = 0; i < p.height; i++) {
    ctx.fillStyle = viridis(1 - i / Math.max(1, p.height - 1))
    ctx.fillRect(bx, p.top + i, bw, 1)
  }
  ctx.strokeRect(bx - 0.5, p.top - 0.5, bw + 1, p.height + 1)
  ctx.fillStyle = '#333'
  ctx.textAlign = 'left'
  for (const f of [0, 0.5, 1]) ctx.fillText(fmtScale(p.max * f), bx + bw + 5, p.top + p.height * (1 - f))
  verticalText(ctx, title, size.width - 12, p.top + p.height / 2)
}

/** Text rotated to read bottom-up, centred on (x, y). */
function verticalText(ctx: SKRSContext2D, text: string, x: number, y: number): void {
  ctx.save()
  ctx.translate(x, y)
  ctx.rotate(-Math.PI / 2)
  ctx.textAlign = 'center'
  ctx.fillText(text, 0, 0)
  ctx.restore()
}

function fmtScale(v: number): string {
  if (v === 0) return '0'
  if (v >= 100) return v.toFixed(0)
  if (v >= 1) return v.toFixed(1)
  return v.toPrecision(2)
}
