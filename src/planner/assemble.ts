/**
 * The chosen candidate as a schema-shaped Plan: model and weights, memory per device, KV cache,
 * placement in llama.cpp's terms, context limits, verdict, predicted speed, commands and notes.
 * Pure: every number was computed before; here it is only rounded and named.
 */
import type {Plan} from '../schemas/plan.js'
import type {Inventory} from '../model/inventory.js'
import {emitCommands} from './emit.js'
import type {PlanHost} from './hardware.js'
import {nCpuMoe, tensorOverrides} from './placement.js'
import type {SpeedResult} from './speed.js'
import type {Evaluated, PlanContext, UbatchHint} from './evaluate.js'

/** What makePlan decided, beyond the context it planned in. */
export interface PlanOutcome {
  c: PlanContext
  best: Evaluated
  /** the context asked for */
  ctx: number
  byGpuCount: Plan['maxContext']['byGpuCount']
  disk: Plan['disk']
  binding: string | null
  fixes: string[]
  /** a larger -ub/-b that the plan predicts faster prefill at (evaluate.ts UBATCH_HINT) */
  ubatchHint: UbatchHint | null
  hardwareLabels?: string[]
  hfRepo: string | null
  now: Date
}

function round(x: number, d = 2): number {
  const f = 10 ** d
  return Math.round(x * f) / f
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n > 1 ? 's' : ''}`
}

/** The verdict's one line: what fits where and how fast, or what binds and the first fix. */
function headline(o: PlanOutcome): string {
  const {inv, rpc} = o.c
  const n = o.best.nGpus
  const what = `${inv.name} ${inv.quant} at ${o.ctx} tokens`
  if (o.binding !== null)
    return `does not fit: ${what} — ${o.binding} is the limit${o.fixes[0] ? `; ${o.fixes[0]}` : ''}`
  const where = n === 0 ? 'CPU only' : `${plural(n, 'GPU')} + CPU`
  const remote = rpc.length ? ` + ${plural(rpc.length, 'RPC machine')}` : ''
  const d = o.best.speed.decode
  return `fits: ${what} on ${where}${remote}, ~${round(d.mid, 1)} tok/s decode (${round(d.low, 1)}–${round(d.high, 1)})`
}

function modelSection(inv: Inventory): Plan['model'] {
  return {
    id: inv.id,
    name: inv.name,
    arch: inv.arch,
    params: inv.params,
    activeParams: inv.activeParams,
    path: inv.path,
    shards: inv.shards,
    fileBytes: Math.round(inv.fileBytes),
    tensorCount: inv.tensors.length,
    quant: inv.quant,
    quantRules: inv.rules,
    source: inv.source,
    layout: inv.layout,
    nLayer: inv.shape.hp.nLayer,
    nExpert: inv.shape.hp.nExpert ?? 0,
    nExpertUsed: inv.shape.hp.nExpertUsed ?? 0,
    moeLayers: inv.moeLayers,
  }
}

function weightsSection(inv: Inventory): Plan['weights'] {
  return {
    totalBytes: inv.totalBytes,
    byRole: inv.byRole,
    byType: inv.byType,
    expertLayerBytes: Object.fromEntries([...inv.expertLayerBytes].map(([l, b]) => [String(l), b])),
  }
}

/** Memory per device, rounded to bytes, with the bandwidth the speed model used for it. */
function devicesSection(c: PlanContext, best: Evaluated): Plan['devices'] {
  const gpuById = new Map([...c.main.gpus, ...c.rpc].map((g) => [g.id, g]))
  return best.devices.map((dv) => {
    const g = gpuById.get(dv.id)
    return {
      id: dv.id,
      kind: dv.kind,
      name: dv.name,
      host: dv.host,
      capacityBytes: Math.round(dv.capacityBytes),
      weightsBytes: Math.round(dv.weightsBytes),
      kvBytes: Math.round(dv.kvBytes),
      computeBytes: Math.round(dv.computeBytes),
      overheadBytes: Math.round(dv.overheadBytes),
      totalBytes: Math.round(dv.totalBytes),
      fits: dv.fits,
      bandwidthGBs: g ? g.bandwidthGBs : c.main.cpuBandwidthGBs,
      bandwidthSource: g ? g.bandwidthSource : c.main.cpuBandwidthSource,
      layers: dv.layers,
      expertLayers: dv.expertLayers,
    }
  })
}

/** "27/62 layers on GPU0+GPU1; routed experts of 3 layers on GPU, 55 in local RAM" and the like. */
function placementSummary(c: PlanContext, best: Evaluated): string {
  const {inv, rpc, main} = c
  const n = best.nGpus
  if (n === 0 && rpc.length === 0) return 'CPU only'
  const ids = [...rpc.map((g) => g.id), ...main.gpus.slice(0, n).map((g) => g.id)].join('+')
  const layers = `${best.a.nGpuLayers}/${inv.shape.hp.nLayer + 1} layers on ${ids}`
  if (inv.moeLayers.length === 0) return layers
  const expertsOn = (prefix: string) =>
    best.a.expertDevice.filter((x, l) => x.startsWith(prefix) && inv.expertLayerBytes.has(l)).length
  const gpuExp = expertsOn('GPU')
  const rpcExp = expertsOn('RPC')
  const remote = rpc.length ? `, ${rpcExp} on RPC machines` : ''
  return `${layers}; routed experts of ${gpuExp} layer${gpuExp === 1 ? '' : 's'} on GPU, ${inv.moeLayers.length - gpuExp - rpcExp} in local RAM${remote}`
}

function placementSection(c: PlanContext, best: Evaluated): Plan['placement'] {
  const a = best.a
  return {
    nGpuLayers: a.nGpuLayers,
    tensorOverrides: tensorOverrides(a, c.inv.moeLayers).filter((o) => /^(CPU|GPU[0-9]+)$/.test(o.device)),
    nCpuMoe: nCpuMoe(a, c.inv.moeLayers),
    tensorSplit: a.tensorSplit,
    splitMode: a.gpus.length > 1 ? 'layer' : a.gpus.length === 1 ? 'none' : 'layer',
    mainGpu: 0,
    mmap: best.mmap,
    opOffload: best.opOffload,
    summary: placementSummary(c, best),
  }
}

function range(r: {low: number; mid: number; high: number}): {low: number; mid: number; high: number} {
  return {low: round(r.low), mid: round(r.mid), high: round(r.high)}
}

function predictionSection(s: SpeedResult): Plan['prediction'] {
  return {
    decodeTps: round(s.decode.mid),
    prefillTps: round(s.prefill.mid),
    decodeRange: range(s.decode),
    prefillRange: range(s.prefill),
    bytesPerToken: s.bytesPerToken,
    decodeMs: Object.fromEntries(Object.entries(s.decodeMs).map(([k, v]) => [k, round(v, 3)])) as Record<
      keyof SpeedResult['decodeMs'],
      number
    >,
    prefillMsPerUbatch: round(s.prefillMsPerUbatch),
    ...(s.prefillAttentionMs !== undefined ? {prefillAttentionMs: round(s.prefillAttentionMs, 3)} : {}),
    ...(s.decodeCpuOps
      ? {
          decodeCpuOps: [...s.decodeCpuOps]
            .sort((x, y) => y.seconds - x.seconds)
            .map((o) => ({
              type: o.type,
              k: o.k,
              rows: o.rows,
              matrices: o.matrices,
              layout: o.layout,
              count: o.count,
              cacheShare: round(o.cacheShare, 3),
              us: round(o.seconds * 1e6, 2),
            })),
        }
      : {}),
    speedModel: {source: s.source, engineBuild: s.build, numa: s.numa},
    assumptions: s.assumptions,
  }
}

/** Remote machines' GPUs are not planned: each remote is one rpc-server on its CPU and RAM. */
function remoteGpuNote(h: PlanHost): string {
  return `${h.name}: its ${h.gpus.length} GPU${h.gpus.length > 1 ? 's are' : ' is'} not used — moerig plans each remote machine as one rpc-server on its CPU and RAM (run one rpc-server per GPU by hand to add them)`
}

/** --op-offload auto chose llama.cpp's --no-op-offload: why, in the plan's own predictions. */
function opOffloadNote(c: PlanContext, best: Evaluated): string[] {
  const other = best.opOffloadOther
  if (best.opOffload || !other) return []
  const ramGB = (best.devices.find((d) => d.id === 'CPU')?.weightsBytes ?? 0) / 1e9
  return [
    `--no-op-offload: the CPU computes the weights it holds in prefill, ${best.speed.prefill.mid.toFixed(1)} t/s predicted against ${other.prefill.mid.toFixed(1)} with llama.cpp's op offload, which copies ≈ ${ramGB.toFixed(0)} GB of weights in RAM to the GPU over PCIe for each ubatch of ${c.ubatch}`,
  ]
}

/** The larger ubatch the plan predicts faster prefill at, and what it costs. */
function ubatchNote(o: PlanOutcome): string[] {
  const h = o.ubatchHint
  if (!h) return []
  const gib = h.gpuComputeBytes / 2 ** 30
  return [
    `prefill: --ubatch ${h.ubatch} --batch ${h.batch} (llama.cpp -ub ${h.ubatch} -b ${h.batch}) predicts ${h.prefill.mid.toFixed(1)} t/s against ${o.best.speed.prefill.mid.toFixed(1)} at ${o.c.ubatch}, with op offload copying the weights in RAM once per ${h.ubatch} tokens instead of per ${o.c.ubatch}; it pays for prompts of ${h.ubatch} tokens or more (a shorter prompt copies the same weights for fewer tokens)${gib >= 0.01 ? ` and takes ${gib.toFixed(2)} GiB more compute buffer on the first GPU` : ''}; decode ${h.decode.mid.toFixed(2)} t/s`,
  ]
}

function notes(o: PlanOutcome): string[] {
  const {c, best} = o
  return [
    c.kv.note,
    ...opOffloadNote(c, best),
    ...ubatchNote(o),
    ...(c.main.gpus.some((g) => !g.vramKnown) ? ['a GPU with unknown VRAM counts as 0 bytes'] : []),
    ...c.hosts
      .slice(1)
      .filter((h) => h.gpus.length > 0)
      .map(remoteGpuNote),
    ...(c.engine !== 'llama.cpp'
      ? [`${c.engine} puts every layer's attention and KV on the GPUs (it cannot keep layers on the CPU)`]
      : []),
  ]
}

function commands(o: PlanOutcome): Plan['commands'] {
  const {c, best} = o
  return emitCommands({
    inv: c.inv,
    hosts: c.hosts,
    a: best.a,
    engine: c.engine,
    ctx: o.ctx,
    ubatch: c.ubatch,
    batch: c.batch,
    kvType: c.kvType,
    flashAttention: c.fa,
    threads: c.threads,
    numaMode: best.numa.mode,
    mmap: best.mmap,
    opOffload: best.opOffload,
    hfRepo: o.hfRepo,
  })
}

/** The Plan document (schema plan.ts) for the chosen candidate. */
export function assemblePlan(o: PlanOutcome): Plan {
  const {c, best} = o
  const {inv, kv} = c
  const fits = o.binding === null
  return {
    schemaVersion: 1,
    kind: 'plan',
    createdAt: o.now.toISOString(),
    model: modelSection(inv),
    weights: weightsSection(inv),
    hardware: o.hardwareLabels ?? c.hosts.map((h) => h.id),
    engine: c.engine,
    context: o.ctx,
    ubatch: c.ubatch,
    batch: c.batch,
    kvType: c.kvType,
    flashAttention: c.fa,
    threads: c.threads,
    gpusUsed: best.nGpus,
    kv: {
      layout: kv.layout,
      kElemsPerLayer: kv.kElemsPerLayer,
      vElemsPerLayer: kv.vElemsPerLayer,
      bytesPerToken: kv.bytesPerToken,
      totalBytes: kv.bytesAt(o.ctx, c.ubatch),
      note: kv.note,
    },
    numa: best.numa,
    disk: o.disk,
    devices: devicesSection(c, best),
    placement: placementSection(c, best),
    maxContext: {byGpuCount: o.byGpuCount, trained: inv.shape.hp.contextLength},
    fits,
    verdict: {fits, binding: o.binding, headline: headline(o), fixes: o.fixes},
    prediction: predictionSection(best.speed),
    commands: commands(o),
    notes: notes(o),
  }
}
