/**
 * moerig's CURRENT speed prediction against published decode/prefill figures (issue 13, item 4).
 *
 *   node --import tsx bench/speed-published.ts            table + summary
 *   node --import tsx bench/speed-published.ts --md       the same as markdown (docs/published-speeds.md)
 *   node --import tsx bench/speed-published.ts --json     one object per figure
 *
 * Data: bench/data/published-speeds.json (every figure quoted from its source; see
 * docs/published-speeds.md). Each rig is expanded into a full hardware profile (validated against
 * src/schemas/hardware.ts) and the planner is called as a pure function, exactly as `moerig plan`
 * does (runPlan with profiles already loaded). Decode and prefill are planned separately, each at a
 * context of twice the mean KV depth of that phase, because the planner's mid estimate reads the KV
 * at half the context (speed.ts KV_DEPTH) and prefill attention over half the context.
 *
 * Error = (predicted mid − published) ÷ published. "in range" = published within [low, high].
 * The fit / held-out split is by box (see the JSON's split.rule); this script recomputes it and
 * stops if the file disagrees.
 */
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {matchGpu} from '../src/planner/gpus.js'
import type {EngineBuild} from '../src/planner/speed.js'
import {runPlan} from '../src/planner/run.js'
import type {MmapMode, OpOffloadMode} from '../src/planner/plan.js'
import {hardwareProfileSchema, type HardwareProfile} from '../src/schemas/hardware.js'
import type {Engine, KvType, Plan} from '../src/schemas/plan.js'
import {assertValid} from '../src/schemas/validate.js'
import {median} from '../src/runner/stats.js'

// ---------------------------------------------------------------------------------------------
// The data file's shape (bench/data/published-speeds.json).

/** A rig in compact form; field names follow the hardware profile schema. */
export interface PublishedRig {
  id: string
  /** the physical machine: the fit / held-out split is by box */
  box: string
  name: string
  hardware: {
    cpu: {
      vendor: string
      model: string
      microarchitecture: string | null
      sockets: number
      coresPerSocket: number
      threadsPerCore: number
      baseMHz: number | null
      flags: string[]
    }
    numa: {nodes: number; subNumaClustering: boolean}
    memory: {
      type: string | null
      channelsPerSocket: number | null
      speedMTs: number | null
      totalGB: number
      triadGBs?: number
      triadSource?: string
    }
    gpus: Array<{
      name: string
      vendor: 'intel' | 'nvidia' | 'amd' | 'other'
      vendorId: string
      deviceId: string
      integrated?: boolean
      vramGB: number
      memoryBandwidthGBs: number | null
      count?: number
      pcie: {gen: number | null; width: number | null; bandwidthGBs: number | null}
    }>
  }
  sources: string[]
  assumptions: string[]
}

export interface PublishedFigure {
  id: string
  rig: string
  split: 'fit' | 'held-out'
  source: {url: string; section?: string; quote: string}
  engine: {name: string; version: string; backend: string}
  /** catalog id + quant as `moerig models` lists them; publishedGB = the measured file (GB = 1e9 B) */
  model: {catalog: string; quant: string; layout?: 'mla' | 'legacy'; published: string; publishedGB?: number}
  /** mean KV depth (tokens) during the decode and the prefill that were measured */
  run: {
    promptTokens?: number
    genTokens?: number
    decodeDepth: number
    prefillDepth?: number
    threads: number | null
    flags: string
  }
  /** how moerig is asked to plan it (moerig plan flags) */
  plan: {
    engine: Engine
    gpus?: number
    placement?: string
    kvType?: KvType
    ubatch?: number
    engineBuild?: EngineBuild
    numaAware?: boolean
    /** --mmap as the rig ran: absent = on (llama.cpp's default; no figure here says --no-mmap) */
    mmap?: MmapMode
    /** --op-offload as the rig ran: absent = on (llama.cpp's default; no figure here says --no-op-offload) */
    opOffload?: OpOffloadMode
  }
  /** tokens/s */
  measured: {decode?: number; prefill?: number}
  notes: string[]
}

export interface PublishedSpeeds {
  schemaVersion: 1
  description: string
  split: {rule: string; note: string}
  quantRule: string
  rigs: PublishedRig[]
  figures: PublishedFigure[]
  notExpressible: Array<{id: string; source: {url: string; quote: string}; reason: string}>
}

// ---------------------------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url))
const GB = 1e9

/** The split rule: sort the boxes, every third (1-based position mod 3 = 0) is held out. */
export function splitOf(boxes: string[]): Map<string, 'fit' | 'held-out'> {
  const sorted = [...new Set(boxes)].sort()
  return new Map(sorted.map((b, i) => [b, (i + 1) % 3 === 0 ? 'held-out' : 'fit']))
}

/** Expand a compact rig into a full, schema-valid hardware profile. */
export function rigProfile(r: PublishedRig): HardwareProfile {
  const h = r.hardware
  const cores = h.cpu.sockets * h.cpu.coresPerSocket
  const threads = cores * h.cpu.threadsPerCore
  const totalBytes = Math.round(h.memory.totalGB * GB)
  const nodes = Array.from({length: h.numa.nodes}, (_, n) => {
    const per = cores / h.numa.nodes
    const cpus = Array.from({length: Math.round(per)}, (_, i) => Math.round(n * per) + i)
    return {
      id: n,
      cpus,
      memTotalBytes: Math.floor(totalBytes / h.numa.nodes),
      memFreeBytes: null,
      socket: Math.floor((n * h.cpu.sockets) / h.numa.nodes),
    }
  })
  const channels = h.memory.channelsPerSocket === null ? null : h.memory.channelsPerSocket * h.cpu.sockets
  const theoretical =
    channels !== null && h.memory.speedMTs !== null ? Math.round(channels * h.memory.speedMTs * 8) / 1000 : null
  const gpus: HardwareProfile['gpus'] = []
  for (const g of h.gpus) {
    for (let k = 0; k < (g.count ?? 1); k++) {
      gpus.push({
        index: gpus.length,
        name: g.name,
        vendor: g.vendor,
        vendorId: g.vendorId,
        deviceId: g.deviceId,
        pciAddress: null,
        integrated: g.integrated ?? false,
        vramBytes: Math.round(g.vramGB * GB),
        memoryBandwidthGBs: g.memoryBandwidthGBs,
        pcie: {gen: g.pcie.gen, width: g.pcie.width, bandwidthGBs: g.pcie.bandwidthGBs},
        numaNode: null,
        provenance: {
          name: 'spec',
          vramBytes: 'spec',
          memoryBandwidthGBs: 'spec',
          pcie: g.pcie.gen === null ? 'unknown' : 'spec',
        },
      })
    }
  }
  const profile = {
    schemaVersion: 1,
    kind: 'hardware',
    id: r.id,
    name: r.name,
    origin: 'reference',
    description: `published-speeds rig ${r.id} (bench/data/published-speeds.json)`,
    notes: r.assumptions,
    cpu: {
      vendor: h.cpu.vendor,
      model: h.cpu.model,
      microarchitecture: h.cpu.microarchitecture,
      sockets: h.cpu.sockets,
      cores,
      threads,
      coresPerSocket: h.cpu.coresPerSocket,
      threadsPerCore: h.cpu.threadsPerCore,
      baseMHz: h.cpu.baseMHz,
      flags: h.cpu.flags,
      provenance: {
        model: 'spec',
        sockets: 'spec',
        cores: 'spec',
        baseMHz: h.cpu.baseMHz === null ? 'unknown' : 'spec',
        flags: 'spec',
      },
    },
    numa: {nodes, distances: null, subNumaClustering: h.numa.subNumaClustering, provenance: {nodes: 'derived'}},
    memory: {
      totalBytes,
      availableBytes: null,
      installedBytes: totalBytes,
      dimms: [],
      channels,
      channelsPerSocket: h.memory.channelsPerSocket,
      type: h.memory.type,
      speedMTs: h.memory.speedMTs,
      theoreticalBandwidthGBs: theoretical,
      provenance: {totalBytes: 'spec', channels: 'spec', speedMTs: 'spec', theoreticalBandwidthGBs: 'derived'},
    },
    gpus,
    ...(h.memory.triadGBs
      ? {
          bandwidth: {
            triadGBs: h.memory.triadGBs,
            perNode: [],
            kernels: h.memory.triadSource ?? 'published',
            provenance: {triadGBs: 'measured'},
          },
        }
      : {}),
  }
  return assertValid<HardwareProfile>(hardwareProfileSchema, profile, `rig ${r.id}`)
}

/** Context to plan at: the planner's mid estimate sits at half the context. */
function ctxFor(depth: number): number {
  return Math.max(256, Math.ceil((2 * depth) / 256) * 256)
}

export interface Row {
  id: string
  rig: string
  box: string
  split: 'fit' | 'held-out'
  class: string
  model: string
  sizeRatio: number | null
  decode: Cmp | null
  prefill: Cmp | null
  gpusUsed: number | null
  fits: boolean | null
  findings: string[]
  /**
   * The bandwidth efficiency that would make the mid decode prediction equal the published figure,
   * holding the other parts of the predicted time fixed: η_mid × t_dev ÷ (T_published − t_other),
   * for the device that dominates the predicted decode time. null when the rest already exceeds T.
   */
  impliedEta: {device: 'CPU' | 'GPU'; modelEta: number; eta: number | null; shareOfTime: number} | null
  /** the mid decode time split into the speed model's parts */
  parts?: string
  error: string | null
}

interface Cmp {
  published: number
  low: number
  mid: number
  high: number
  errorPct: number
  inRange: boolean
  ctx: number
}

function classOf(f: PublishedFigure, r: PublishedRig): string {
  const cpu = `${r.hardware.cpu.sockets}S ${r.hardware.cpu.model
    .replace(/\(R\)|\(TM\)|Intel |AMD |Processor|CPU @.*$|\d+-Core.*$/g, '')
    .replace(/\s+/g, ' ')
    .trim()}`
  const gpus = r.hardware.gpus.map((g) => `${g.count ?? 1}×${g.name.replace(/^NVIDIA (GeForce )?/, '')}`).join('+')
  const usesGpu = f.plan.gpus !== 0 && r.hardware.gpus.length > 0
  return `${f.engine.name} ${usesGpu ? gpus : 'CPU'} · ${cpu}`
}

async function predict(f: PublishedFigure, profile: HardwareProfile, depth: number): Promise<Plan> {
  return runPlan({
    model: f.model.catalog,
    quant: f.model.quant,
    layout: f.model.layout,
    hardware: profile.id ?? 'rig',
    profiles: [profile],
    ctx: ctxFor(depth),
    engine: f.plan.engine,
    gpus: f.plan.gpus,
    kvType: f.plan.kvType,
    ubatch: f.plan.ubatch,
    threads: f.run.threads ?? undefined,
    placement: f.plan.placement,
    engineBuild: f.plan.engineBuild,
    numaAware: f.plan.numaAware,
    mmap: f.plan.mmap ?? 'on',
    opOffload: f.plan.opOffload ?? 'on',
  })
}

function compare(
  published: number | undefined,
  range: {low: number; mid: number; high: number} | undefined,
  ctx: number,
): Cmp | null {
  if (published === undefined) return null
  if (range === undefined) throw new Error('the plan has no predicted range')
  return {
    published,
    low: range.low,
    mid: range.mid,
    high: range.high,
    ctx,
    errorPct: ((range.mid - published) / published) * 100,
    inRange: published >= range.low && published <= range.high,
  }
}

export async function evaluateAll(data: PublishedSpeeds): Promise<Row[]> {
  const rigs = new Map(data.rigs.map((r) => [r.id, r]))
  const split = splitOf(data.rigs.map((r) => r.box))
  const rows: Row[] = []
  for (const f of data.figures) {
    const r = rigs.get(f.rig)
    if (!r) throw new Error(`figure ${f.id}: unknown rig ${f.rig}`)
    const s = split.get(r.box)!
    if (s !== f.split)
      throw new Error(`figure ${f.id}: split "${f.split}" in the file, but the rule gives "${s}" for box ${r.box}`)
    const row: Row = {
      id: f.id,
      rig: r.id,
      box: r.box,
      split: s,
      class: classOf(f, r),
      model: `${f.model.catalog} ${f.model.quant}`,
      sizeRatio: null,
      decode: null,
      prefill: null,
      gpusUsed: null,
      fits: null,
      findings: [],
      impliedEta: null,
      error: null,
    }
    try {
      const profile = rigProfile(r)
      const usedGpus = f.plan.gpus === 0 ? [] : profile.gpus
      for (const g of usedGpus) {
        const m = matchGpu(g.name, g.vendorId, g.deviceId)
        if (!m.spec) row.findings.push(`${m.how}: prefill assumes bandwidth × 40 FLOP/B`)
        else if (!row.findings.some((x) => x.includes(m.spec!.name)))
          row.findings.push(`GPU "${g.name}" → ${m.spec.name} (by ${m.how})`)
      }
      if (profile.cpu.baseMHz === null || profile.cpu.baseMHz === undefined)
        row.findings.push('CPU clock unknown: planner assumes a 1.8–3.2 GHz range')
      const pd = await predict(f, profile, f.run.decodeDepth)
      row.decode = compare(f.measured.decode, pd.prediction.decodeRange, pd.context)
      row.gpusUsed = pd.gpusUsed ?? null
      row.fits = pd.fits
      if (!pd.fits) row.findings.push(`plan does not fit (${pd.verdict.binding})`)
      if (f.plan.gpus !== undefined && f.plan.gpus > 0 && pd.gpusUsed !== f.plan.gpus)
        row.findings.push(`planner used ${pd.gpusUsed} GPUs, run used ${f.plan.gpus}`)
      const dm = pd.prediction.decodeMs
      // the schema leaves every decodeMs part optional; the planner writes all four of these
      if (
        f.measured.decode !== undefined &&
        dm &&
        dm.total !== undefined &&
        dm.cpu !== undefined &&
        dm.gpu !== undefined &&
        dm.handoff !== undefined &&
        dm.total > 0
      ) {
        const cpuDominates = dm.cpu >= dm.gpu
        const tDev = cpuDominates ? dm.cpu : dm.gpu
        const tPub = 1000 / f.measured.decode
        // the factor by which the dominant device's term would have to change for the mid to match
        row.impliedEta = {
          device: cpuDominates ? 'CPU' : 'GPU',
          modelEta: 1,
          eta: tPub > dm.total - tDev ? tDev / (tPub - (dm.total - tDev)) : null,
          shareOfTime: tDev / dm.total,
        }
        row.parts = `cpu ${dm.cpu.toFixed(1)} (mem ${(dm.cpuMemory ?? 0).toFixed(1)}, compute ${(dm.cpuCompute ?? 0).toFixed(1)}) gpu ${dm.gpu.toFixed(1)} attn ${(dm.attention ?? 0).toFixed(1)} sync ${(dm.sync ?? 0).toFixed(1)} hand-off ${dm.handoff.toFixed(1)} = ${dm.total.toFixed(1)} ms (published ${tPub.toFixed(1)})`
      }
      if (f.model.publishedGB) row.sizeRatio = pd.model.fileBytes / GB / f.model.publishedGB
      if (f.measured.prefill !== undefined) {
        const pp = await predict(f, profile, f.run.prefillDepth ?? f.run.decodeDepth)
        row.prefill = compare(f.measured.prefill, pp.prediction.prefillRange, pp.context)
      }
    } catch (e) {
      row.error = (e as Error).message
    }
    rows.push(row)
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// Summary and printing.

export interface Summary {
  phase: 'decode' | 'prefill'
  split: 'fit' | 'held-out' | 'all'
  n: number
  medianAbsErrorPct: number | null
  medianErrorPct: number | null
  outside: number
  below: number
  above: number
}

export function summarize(rows: Row[]): Summary[] {
  const out: Summary[] = []
  for (const phase of ['decode', 'prefill'] as const) {
    for (const split of ['fit', 'held-out', 'all'] as const) {
      const cs = rows
        .filter((r) => split === 'all' || r.split === split)
        .map((r) => r[phase])
        .filter((c): c is Cmp => c !== null)
      out.push({
        phase,
        split,
        n: cs.length,
        medianAbsErrorPct: median(cs.map((c) => Math.abs(c.errorPct))),
        medianErrorPct: median(cs.map((c) => c.errorPct)),
        outside: cs.filter((c) => !c.inRange).length,
        below: cs.filter((c) => c.published < c.low).length,
        above: cs.filter((c) => c.published > c.high).length,
      })
    }
  }
  return out
}

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
const pct = (x: number | null) => (x === null ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(0)} %`)
const cell = (c: Cmp | null) =>
  c === null
    ? ['—', '—', '—', '—']
    : [
        f1(c.published),
        `${f1(c.mid)} (${f1(c.low)}–${f1(c.high)})`,
        pct(c.errorPct),
        c.inRange ? 'yes' : c.published < c.low ? 'no: pub < low' : 'no: pub > high',
      ]

function table(rows: Row[], md: boolean): string[] {
  const head = [
    'figure',
    'set',
    'model',
    'size×',
    'tg pub',
    'tg predicted mid (low–high)',
    'tg err',
    'tg in range',
    'pp pub',
    'pp predicted mid (low–high)',
    'pp err',
    'pp in range',
  ]
  const body = rows.map((r) =>
    r.error
      ? [r.id, r.split, r.model, '', `planner error: ${r.error}`, '', '', '', '', '', '', '']
      : [
          r.id,
          r.split,
          r.model,
          r.sizeRatio === null ? '—' : r.sizeRatio.toFixed(2),
          ...cell(r.decode),
          ...cell(r.prefill),
        ],
  )
  if (md)
    return [
      `| ${head.join(' | ')} |`,
      `|${head.map(() => '---').join('|')}|`,
      ...body.map((b) => `| ${b.join(' | ')} |`),
    ]
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cs: string[]) => cs.map((c, i) => c.padEnd(w[i])).join('  ')
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)]
}

function summaryLines(s: Summary[]): string[] {
  return s.map(
    (x) =>
      `${x.phase.padEnd(7)} ${x.split.padEnd(8)} n=${String(x.n).padStart(2)}  median |error| ${pct(x.medianAbsErrorPct).padStart(6)}  median error ${pct(x.medianErrorPct).padStart(6)}  outside [low, high]: ${x.outside} (${x.below} published below low, ${x.above} published above high)`,
  )
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2))
  const data = JSON.parse(readFileSync(join(here, 'data', 'published-speeds.json'), 'utf8')) as PublishedSpeeds
  const rows = await evaluateAll(data)
  const summary = summarize(rows)
  if (args.has('--json')) {
    console.log(
      JSON.stringify(
        {rows, summary, notExpressible: data.notExpressible.map((n) => ({id: n.id, reason: n.reason}))},
        null,
        2,
      ),
    )
    return
  }
  const md = args.has('--md')
  console.log(
    `${data.figures.length} published figures, ${data.rigs.length} rig views of ${new Set(data.rigs.map((r) => r.box)).size} boxes; error = (predicted mid − published) ÷ published; size× = catalog file ÷ published file`,
  )
  console.log('')
  for (const l of table(rows, md)) console.log(l)
  console.log('')
  if (md) console.log('```')
  for (const l of summaryLines(summary)) console.log(l)
  if (md) console.log('```')
  console.log('')
  console.log("decode time parts (mid, ms per token) and the factor the dominant device's time would need (1 = exact):")
  for (const r of rows) {
    const e = r.impliedEta
    if (e && r.parts)
      console.log(
        `${md ? '- ' : '  '}${r.id}: ${r.parts}; ${e.device} ${(e.shareOfTime * 100).toFixed(0)} % → ×${e.eta === null ? 'n/a' : (1 / e.eta).toFixed(2)}`,
      )
  }
  console.log('')
  console.log('findings per figure:')
  for (const r of rows) {
    const fs = [...r.findings, ...(r.error ? [`planner error: ${r.error}`] : [])]
    if (fs.length > 0) console.log(`${md ? '- ' : '  '}${r.id}: ${fs.join('; ')}`)
  }
  console.log('')
  console.log('published figures moerig cannot plan:')
  for (const n of data.notExpressible) console.log(`${md ? '- ' : '  '}${n.id}: ${n.reason}`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(`speed-published: ${(e as Error).message}`)
    process.exit(1)
  })
}
