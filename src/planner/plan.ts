/**
 * The planner: inventory + hardware → placement, memory per device, context limits, predicted
 * speed, verdict and ready commands, as one schema-valid Plan. Pure: no I/O.
 */
import {MoerigError} from '../lib/errors.js'
import {checkThreads} from '../lib/threads.js'
import {fmtGB, fmtGiB} from '../lib/units.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import type {Engine, KvType, Plan, QuantRow} from '../schemas/plan.js'
import {emitCommands} from './emit.js'
import {planHosts, rpcDevices, type PlanGpu, type PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import {kvModel, KV_PAD, type KvModel} from './kv.js'
import {
  deviceUse,
  makeAssignment,
  nCpuMoe,
  searchPlacement,
  tensorOverrides,
  type Assignment,
  type DeviceUse,
  type PlacementInput,
} from './placement.js'
import {defaultBuild, ENGINE_BUILDS, predictSpeed, type EngineBuild, type SpeedResult} from './speed.js'

/** llama.cpp defaults: -ub 512, -b 2048 (tools/llama-bench/README.md, server README). */
export const DEFAULT_UBATCH = 512
export const DEFAULT_BATCH = 2048
/** Smallest context we report as usable. */
export const MIN_CONTEXT = KV_PAD

export interface PlanOptions {
  ctx: number
  engine: Engine
  kvType?: KvType
  /** use exactly this many local GPUs (default: the count with the best predicted decode) */
  gpus?: number
  ubatch?: number
  batch?: number
  flashAttention?: boolean
  threads?: number
  /** catalog models: the HF repo for ktransformers --model_path */
  hfRepo?: string | null
  /** catalog models: inventories of other quants, for the "smaller quant" fix */
  otherQuants?: Array<{quant: string; inv: () => Inventory}>
  /** label of each --hardware entry */
  hardwareLabels?: string[]
  /** a forced placement instead of the search (--placement); default auto */
  placement?: PlacementMode
  /** which kernels the engine runs (speed model only; default: what moerig's commands run) */
  engineBuild?: EngineBuild
  /** false: the engine ignores NUMA (llama.cpp without --numa, ktransformers without USE_NUMA) */
  numaAware?: boolean
  now?: Date
}

/**
 * --placement: "auto" searches (most layers on the GPUs, then whole layers of experts into the VRAM
 * left); the others force one of the three placements people run, with every layer on the GPUs:
 *   all-gpu      routed experts too (plain -ngl 99)
 *   exps-cpu     routed experts of every layer in RAM (-ot exps=CPU)
 *   n-cpu-moe=N  routed experts of blocks < N in RAM, the rest on the GPUs (--n-cpu-moe N)
 */
export type PlacementMode = {kind: 'auto'} | {kind: 'all-gpu'} | {kind: 'exps-cpu'} | {kind: 'n-cpu-moe'; n: number}

export function parsePlacement(text: string): PlacementMode {
  const t = text.trim()
  if (t === 'auto' || t === 'all-gpu' || t === 'exps-cpu') return {kind: t}
  const m = /^n-cpu-moe=(\d+)$/.exec(t)
  if (m) return {kind: 'n-cpu-moe', n: Number(m[1])}
  throw new MoerigError('E_USAGE', `--placement ${text}: use auto, all-gpu, exps-cpu or n-cpu-moe=N`)
}

/** Engine defaults: KV cache type and flash attention. */
export function engineDefaults(engine: Engine): {kvType: KvType; flashAttention: boolean} {
  if (engine === 'flashmoe') return {kvType: 'q8_0', flashAttention: false} // its sample log: i8 K and V
  if (engine === 'ktransformers') return {kvType: 'bf16', flashAttention: true} // FlashInfer MLA, bf16 cache
  return {kvType: 'f16', flashAttention: true} // llama.cpp -fa auto turns it on where the backend supports it
}

interface Evaluated {
  nGpus: number
  a: Assignment
  devices: DeviceUse[]
  numa: {
    mode: 'single' | 'interleave' | 'replicate'
    nodes: Array<{node: number; capacityBytes: number; usedBytes: number; fits: boolean}>
  }
  fits: boolean
  binding: string | null
  speed: SpeedResult
}

interface Ctx {
  inv: Inventory
  hosts: PlanHost[]
  main: PlanHost
  engine: Engine
  kvType: KvType
  fa: boolean
  ubatch: number
  kv: KvModel
  rpc: PlanGpu[]
  placement: PlacementMode
  threads: number
  build: EngineBuild
  numaAware: boolean
}

function numaMode(c: Ctx): 'single' | 'interleave' | 'replicate' {
  if (c.main.numaNodes.length <= 1) return 'single'
  return c.engine === 'ktransformers' ? 'replicate' : 'interleave'
}

function placementInput(c: Ctx, ctx: number): PlacementInput {
  return {inv: c.inv, host: c.main, engine: c.engine, kv: c.kv, ctx, ubatch: c.ubatch, flashAttention: c.fa}
}

/** NUMA check and, for replication, the RAM multiplied by the node count. */
function applyNuma(c: Ctx, devices: DeviceUse[]): Evaluated['numa'] {
  const mode = numaMode(c)
  const cpu = devices.find((d) => d.id === 'CPU')!
  const nodes = c.main.numaNodes
  if (mode === 'replicate') {
    // ktransformers USE_NUMA copies the CPU weights to every node (issue #1147: RAM × node count).
    cpu.weightsBytes *= nodes.length
    cpu.totalBytes = cpu.weightsBytes + cpu.kvBytes + cpu.computeBytes + cpu.overheadBytes
    cpu.fits = cpu.totalBytes <= cpu.capacityBytes
  }
  const per = mode === 'replicate' ? cpu.totalBytes / nodes.length : cpu.totalBytes / Math.max(1, nodes.length)
  return {
    mode,
    nodes: nodes.map((n) => ({
      node: n.id,
      capacityBytes: Math.round(n.capacityBytes),
      usedBytes: Math.round(mode === 'single' ? cpu.totalBytes : per),
      fits: (mode === 'single' ? cpu.totalBytes : per) <= n.capacityBytes,
    })),
  }
}

function bindingOf(devices: DeviceUse[], numa: Evaluated['numa']): string | null {
  const gpu = devices.find((d) => d.kind === 'gpu' && !d.fits)
  if (gpu) return 'VRAM'
  const cpu = devices.find((d) => d.kind === 'cpu' && !d.fits)
  if (cpu) return cpu.id === 'CPU' ? 'RAM' : `RAM of ${cpu.host}`
  if (numa.nodes.some((n) => !n.fits)) return 'NUMA node'
  return null
}

/** The GPUs to use for n local GPUs (RPC devices first, as llama.cpp orders them). */
function gpuList(c: Ctx, n: number): PlanGpu[] {
  return [...c.rpc, ...c.main.gpus.slice(0, n)]
}

/** RPC placements: remotes hold whole layers in proportion to their RAM (see evaluate). */
function rpcAssignment(c: Ctx, n: number): Assignment {
  const gpus = gpuList(c, n)
  const nLayer = c.inv.shape.hp.nLayer
  if (n === 0) {
    // no local GPU: the first layers stay on the local CPU, the rest go to the remotes by RAM
    const remote = c.rpc.reduce((s, g) => s + g.capacityBytes, 0)
    const ngl = Math.round(((nLayer + 1) * remote) / (remote + c.main.ramCapacityBytes))
    return makeAssignment(c.inv, gpus, ngl)
  }
  // local GPUs take a share of layers that follows the local RAM (where their experts live)
  return makeAssignment(c.inv, gpus, nLayer + 1, new Set(), c.main.ramCapacityBytes)
}

/** Every layer on the n GPUs, routed experts where --placement says. */
function forcedAssignment(c: Ctx, n: number): Assignment {
  const m = c.placement
  const moe = c.inv.moeLayers
  const onGpu = m.kind === 'all-gpu' ? moe : m.kind === 'n-cpu-moe' ? moe.filter((l) => l >= m.n) : []
  return makeAssignment(c.inv, gpuList(c, n), c.inv.shape.hp.nLayer + 1, new Set(onGpu))
}

function evaluate(c: Ctx, n: number, ctx: number): Evaluated {
  const p = placementInput(c, ctx)
  const gpus = gpuList(c, n)
  let a: Assignment
  let devices: DeviceUse[]
  if (c.rpc.length > 0) {
    a = rpcAssignment(c, n)
    devices = deviceUse(p, a)
  } else if (c.placement.kind !== 'auto' && n > 0) {
    a = forcedAssignment(c, n)
    devices = deviceUse(p, a)
  } else {
    const r = searchPlacement(p, gpus)
    a = r.assignment
    devices = r.devices
  }
  const numa = applyNuma(c, devices)
  const binding = bindingOf(devices, numa)
  const speed = predictSpeed(c.inv, c.main, a, c.kv, c.engine, ctx, c.ubatch, {
    threads: c.threads,
    build: c.build,
    numa: c.numaAware ? numaMode(c) : c.main.numaNodes.length > 1 ? 'unaware' : 'single',
  })
  return {nGpus: n, a, devices, numa, fits: binding === null, binding, speed}
}

/** Does the recommended placement (all non-expert tensors + KV on n GPUs) fit at ctx? */
function fitsAt(c: Ctx, n: number, ctx: number): string | null {
  const p = placementInput(c, ctx)
  const nLayer = c.inv.shape.hp.nLayer
  const a =
    c.rpc.length > 0
      ? rpcAssignment(c, n)
      : n === 0
        ? makeAssignment(c.inv, [], 0)
        : c.placement.kind !== 'auto'
          ? forcedAssignment(c, n)
          : makeAssignment(c.inv, gpuList(c, n), nLayer + 1)
  const devices = deviceUse(p, a)
  return bindingOf(devices, applyNuma(c, devices))
}

/** Largest context (multiple of 256, ≤ the trained context) that fits on n GPUs; 0 when none. */
export function maxContextFor(c: Ctx, n: number): {maxContext: number; binding: string} {
  const trained = c.inv.shape.hp.contextLength
  const top = Math.floor(trained / KV_PAD)
  if (fitsAt(c, n, MIN_CONTEXT) !== null) return {maxContext: 0, binding: fitsAt(c, n, MIN_CONTEXT)!}
  let lo = 1,
    hi = top
  if (fitsAt(c, n, top * KV_PAD) === null)
    return {maxContext: top * KV_PAD === trained ? trained : top * KV_PAD, binding: 'trained context'}
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (fitsAt(c, n, mid * KV_PAD) === null) lo = mid
    else hi = mid - 1
  }
  return {maxContext: lo * KV_PAD, binding: fitsAt(c, n, (lo + 1) * KV_PAD) ?? 'trained context'}
}

/** Decode within this fraction of the fastest counts as a tie. */
export const DECODE_TIE = 0.1

/**
 * The fastest predicted decode; near-ties go to the placement with more GPUs (attention and KV on
 * a GPU is what every published R1 recipe does, and it leaves the CPU's bandwidth to the experts).
 */
function pickBest(fitting: Evaluated[]): Evaluated {
  const top = Math.max(...fitting.map((e) => e.speed.decode.mid))
  const near = fitting.filter((e) => e.speed.decode.mid >= top * (1 - DECODE_TIE))
  return near.reduce((x, y) => (y.nGpus > x.nGpus ? y : x))
}

function round(x: number, d = 2): number {
  const f = 10 ** d
  return Math.round(x * f) / f
}

export function makePlan(inv: Inventory, profiles: HardwareProfile[], opts: PlanOptions): Plan {
  if (profiles.length === 0) throw new MoerigError('E_HARDWARE', 'no hardware profile given')
  const hosts = planHosts(profiles)
  const main = hosts[0]
  const d = engineDefaults(opts.engine)
  const kvType = opts.kvType ?? d.kvType
  const fa = opts.flashAttention ?? d.flashAttention
  const ubatch = opts.ubatch ?? DEFAULT_UBATCH
  const batch = Math.max(opts.batch ?? DEFAULT_BATCH, ubatch)
  if (!Number.isInteger(opts.ctx) || opts.ctx < 1)
    throw new MoerigError('E_USAGE', `--ctx must be a positive integer, got ${opts.ctx}`)
  if (opts.ctx > inv.shape.hp.contextLength) {
    throw new MoerigError(
      'E_CONTEXT',
      `--ctx ${opts.ctx} is more than ${inv.name}'s trained context of ${inv.shape.hp.contextLength} tokens`,
    )
  }
  if (opts.engine !== 'llama.cpp' && profiles.length > 1)
    throw new MoerigError(
      'E_ENGINE',
      `several machines (--hardware a,b) plan llama.cpp RPC; ${opts.engine} runs on one machine`,
    )
  if (
    opts.engine === 'llama.cpp' &&
    kvType !== 'f16' &&
    kvType !== 'bf16' &&
    !fa &&
    !(inv.arch === 'deepseek2' && inv.layout === 'mla')
  ) {
    throw new MoerigError('E_KV', `a quantized V cache (--kv-type ${kvType}) needs flash attention in llama.cpp`)
  }
  if (
    opts.engine === 'ktransformers' &&
    inv.arch === 'deepseek2' &&
    opts.kvType !== undefined &&
    opts.kvType !== 'bf16'
  ) {
    // its MLA latent cache is bf16 whatever is asked; planning "q4_0" would size a bf16 cache under a q4_0 label
    throw new MoerigError(
      'E_KV',
      `--kv-type ${opts.kvType}: ktransformers caches DeepSeek's MLA latent in bf16 only; allowed: bf16 (or leave --kv-type out)`,
    )
  }
  const kv = kvModel(inv.shape, opts.engine, kvType)
  const placement = opts.placement ?? {kind: 'auto'}
  // threads run on the planned machine: at most its logical CPUs (its profile's, not ours)
  const threads =
    opts.threads === undefined
      ? main.cores
      : checkThreads('--threads', opts.threads, main.threads, `hardware profile ${main.id}`)
  const build = opts.engineBuild ?? defaultBuild(opts.engine)
  if (ENGINE_BUILDS[build] === undefined)
    throw new MoerigError('E_USAGE', `engine build ${build}: use one of ${Object.keys(ENGINE_BUILDS).join(', ')}`)
  if (ENGINE_BUILDS[build] !== opts.engine)
    throw new MoerigError(
      'E_USAGE',
      `engine build ${build} is a ${ENGINE_BUILDS[build]} build; the plan's engine is ${opts.engine}`,
    )
  const numaAware = opts.numaAware ?? true
  const c: Ctx = {
    inv,
    hosts,
    main,
    engine: opts.engine,
    kvType,
    fa,
    ubatch,
    kv,
    rpc: opts.engine === 'llama.cpp' ? rpcDevices(hosts) : [],
    placement,
    threads,
    build,
    numaAware,
  }
  const G = main.gpus.length
  if (placement.kind !== 'auto') {
    if (opts.engine !== 'llama.cpp')
      throw new MoerigError(
        'E_USAGE',
        `--placement ${placement.kind} is a llama.cpp placement; ${opts.engine} places experts by its own rules`,
      )
    if (c.rpc.length > 0)
      throw new MoerigError('E_USAGE', '--placement applies to one machine; RPC plans place layers by RAM')
    if (G === 0 || opts.gpus === 0)
      throw new MoerigError('E_USAGE', `--placement ${placement.kind} puts layers on a GPU; ${main.name} has none`)
  }
  if (opts.gpus !== undefined && (opts.gpus < 0 || opts.gpus > G)) {
    throw new MoerigError('E_GPUS', `--gpus ${opts.gpus}: ${main.name} has ${G} GPU${G === 1 ? '' : 's'}`)
  }
  if ((opts.engine === 'flashmoe' || opts.engine === 'ktransformers') && (G === 0 || opts.gpus === 0)) {
    throw new MoerigError(
      'E_ENGINE',
      `${opts.engine} needs at least one GPU; ${main.name} has none (use --engine llama.cpp)`,
    )
  }

  // Evaluate every GPU count; pick the requested one or the fastest that fits.
  const counts =
    opts.gpus !== undefined
      ? [opts.gpus]
      : placement.kind !== 'auto'
        ? [G]
        : Array.from({length: G + 1}, (_, i) => i).filter((n) => opts.engine === 'llama.cpp' || n > 0)
  const evals = counts.map((n) => evaluate(c, n, opts.ctx))
  const fitting = evals.filter((e) => e.fits)
  const best = fitting.length > 0 ? pickBest(fitting) : evals[evals.length - 1]

  const byGpuCount = Array.from({length: G + 1}, (_, n) => n)
    .filter((n) => opts.engine === 'llama.cpp' || n > 0)
    .map((n) => ({gpus: n, ...maxContextFor(c, n)}))

  // Disk: a catalog model has to be downloaded; a GGUF is already there.
  const neededDisk = inv.source === 'catalog' ? inv.fileBytes : 0
  const disk = {
    neededBytes: neededDisk,
    freeBytes: main.diskFreeBytes,
    fits: main.diskFreeBytes === null ? null : main.diskFreeBytes >= neededDisk,
  }
  let binding = best.binding
  if (binding === null && disk.fits === false) binding = 'disk'
  const fits = binding === null

  const fixes = suggestFixes(c, best, opts, byGpuCount, binding, disk)
  const n = best.nGpus
  const headline = fits
    ? `fits: ${inv.name} ${inv.quant} at ${opts.ctx} tokens on ${n === 0 ? 'CPU only' : `${n} GPU${n > 1 ? 's' : ''} + CPU`}${c.rpc.length ? ` + ${c.rpc.length} RPC machine${c.rpc.length > 1 ? 's' : ''}` : ''}, ~${round(best.speed.decode.mid, 1)} tok/s decode (${round(best.speed.decode.low, 1)}–${round(best.speed.decode.high, 1)})`
    : `does not fit: ${inv.name} ${inv.quant} at ${opts.ctx} tokens — ${binding} is the limit${fixes[0] ? `; ${fixes[0]}` : ''}`

  const commands = emitCommands({
    inv,
    hosts,
    a: best.a,
    engine: opts.engine,
    ctx: opts.ctx,
    ubatch,
    batch,
    kvType,
    flashAttention: fa,
    threads,
    numaMode: best.numa.mode,
    hfRepo: opts.hfRepo ?? null,
  })
  const gpuById = new Map([...main.gpus, ...c.rpc].map((g) => [g.id, g]))
  const devices = best.devices.map((dv) => {
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
      bandwidthGBs: g ? g.bandwidthGBs : main.cpuBandwidthGBs,
      bandwidthSource: g ? g.bandwidthSource : main.cpuBandwidthSource,
      layers: dv.layers,
      expertLayers: dv.expertLayers,
    }
  })
  const ncm = nCpuMoe(best.a, inv.moeLayers)
  const gpuExp = best.a.expertDevice.filter((x, l) => x.startsWith('GPU') && inv.expertLayerBytes.has(l)).length
  const summary =
    n === 0 && c.rpc.length === 0
      ? 'CPU only'
      : inv.moeLayers.length === 0
        ? `${best.a.nGpuLayers}/${inv.shape.hp.nLayer + 1} layers on ${[...c.rpc.map((g) => g.id), ...main.gpus.slice(0, n).map((g) => g.id)].join('+')}`
        : `${best.a.nGpuLayers}/${inv.shape.hp.nLayer + 1} layers on ${[...c.rpc.map((g) => g.id), ...main.gpus.slice(0, n).map((g) => g.id)].join('+')}; routed experts of ${gpuExp} layer${gpuExp === 1 ? '' : 's'} on GPU, ${inv.moeLayers.length - gpuExp - best.a.expertDevice.filter((x, l) => x.startsWith('RPC') && inv.expertLayerBytes.has(l)).length} in local RAM${c.rpc.length ? `, ${best.a.expertDevice.filter((x, l) => x.startsWith('RPC') && inv.expertLayerBytes.has(l)).length} on RPC machines` : ''}`

  const plan: Plan = {
    schemaVersion: 1,
    kind: 'plan',
    createdAt: (opts.now ?? new Date()).toISOString(),
    model: {
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
    },
    weights: {
      totalBytes: inv.totalBytes,
      byRole: inv.byRole,
      byType: inv.byType,
      expertLayerBytes: Object.fromEntries([...inv.expertLayerBytes].map(([l, b]) => [String(l), b])),
    },
    hardware: opts.hardwareLabels ?? hosts.map((h) => h.id),
    engine: opts.engine,
    context: opts.ctx,
    ubatch,
    batch,
    kvType,
    flashAttention: fa,
    threads,
    gpusUsed: n,
    kv: {
      layout: kv.layout,
      kElemsPerLayer: kv.kElemsPerLayer,
      vElemsPerLayer: kv.vElemsPerLayer,
      bytesPerToken: kv.bytesPerToken,
      totalBytes: kv.bytesAt(opts.ctx, ubatch),
      note: kv.note,
    },
    numa: best.numa,
    disk,
    devices,
    placement: {
      nGpuLayers: best.a.nGpuLayers,
      tensorOverrides: tensorOverrides(best.a, inv.moeLayers).filter((o) => /^(CPU|GPU[0-9]+)$/.test(o.device)),
      nCpuMoe: ncm,
      tensorSplit: best.a.tensorSplit,
      splitMode: best.a.gpus.length > 1 ? 'layer' : best.a.gpus.length === 1 ? 'none' : 'layer',
      mainGpu: 0,
      summary,
    },
    maxContext: {byGpuCount, trained: inv.shape.hp.contextLength},
    fits,
    verdict: {fits, binding, headline, fixes},
    prediction: {
      decodeTps: round(best.speed.decode.mid),
      prefillTps: round(best.speed.prefill.mid),
      decodeRange: {
        low: round(best.speed.decode.low),
        mid: round(best.speed.decode.mid),
        high: round(best.speed.decode.high),
      },
      prefillRange: {
        low: round(best.speed.prefill.low),
        mid: round(best.speed.prefill.mid),
        high: round(best.speed.prefill.high),
      },
      bytesPerToken: best.speed.bytesPerToken,
      decodeMs: Object.fromEntries(Object.entries(best.speed.decodeMs).map(([k, v]) => [k, round(v, 3)])) as Record<
        keyof SpeedResult['decodeMs'],
        number
      >,
      prefillMsPerUbatch: round(best.speed.prefillMsPerUbatch),
      speedModel: {source: best.speed.source, engineBuild: best.speed.build, numa: best.speed.numa},
      assumptions: best.speed.assumptions,
    },
    commands,
    notes: [
      kv.note,
      ...(main.gpus.some((g) => !g.vramKnown) ? ['a GPU with unknown VRAM counts as 0 bytes'] : []),
      ...hosts
        .slice(1)
        .filter((h) => h.gpus.length > 0)
        .map(
          (h) =>
            `${h.name}: its ${h.gpus.length} GPU${h.gpus.length > 1 ? 's are' : ' is'} not used — moerig plans each remote machine as one rpc-server on its CPU and RAM (run one rpc-server per GPU by hand to add them)`,
        ),
      ...(opts.engine !== 'llama.cpp'
        ? [`${opts.engine} puts every layer's attention and KV on the GPUs (it cannot keep layers on the CPU)`]
        : []),
    ],
  }
  return plan
}

function suggestFixes(
  c: Ctx,
  best: Evaluated,
  opts: PlanOptions,
  byGpu: Array<{gpus: number; maxContext: number}>,
  binding: string | null,
  disk: {neededBytes: number; freeBytes: number | null},
): string[] {
  const fixes: string[] = []
  const n = best.nGpus
  const G = c.main.gpus.length
  const cpu = best.devices.find((d) => d.id === 'CPU')!
  if (binding === 'VRAM') {
    const here = byGpu.find((b) => b.gpus === n)?.maxContext ?? 0
    if (here >= MIN_CONTEXT) fixes.push(`shorter context: -c ${here} fits on ${n} GPU${n === 1 ? '' : 's'}`)
    const more = byGpu.find((b) => b.gpus > n && b.maxContext >= opts.ctx)
    if (more) fixes.push(`use ${more.gpus} GPUs (--gpus ${more.gpus}): ${more.maxContext} tokens fit`)
    if (c.kvType === 'f16' && c.engine === 'llama.cpp') {
      const q = {...c, kvType: 'q8_0' as KvType, kv: kvModel(c.inv.shape, c.engine, 'q8_0')}
      const m = maxContextFor(q, n).maxContext
      if (m > here) fixes.push(`--kv-type q8_0: ${m} tokens fit on ${n} GPU${n === 1 ? '' : 's'}`)
    }
    if (n === G && G > 0) {
      const extra = {...c, main: {...c.main, gpus: [...c.main.gpus, {...c.main.gpus[G - 1], index: G, id: `GPU${G}`}]}}
      const m = maxContextFor(extra, G + 1).maxContext
      if (m >= opts.ctx) fixes.push(`one more ${c.main.gpus[G - 1].name}: ${m} tokens fit on ${G + 1} GPUs`)
    }
  }
  if (binding === 'RAM' || binding === 'NUMA node' || binding?.startsWith('RAM of')) {
    if (best.numa.mode === 'replicate') {
      const once = cpu.weightsBytes / c.main.numaNodes.length + cpu.kvBytes + cpu.computeBytes + cpu.overheadBytes
      if (once <= cpu.capacityBytes)
        fixes.push(
          `one copy of the weights: ktransformers without USE_NUMA, or --engine llama.cpp (--numa distribute) needs ${fmtGiB(once)}`,
        )
    }
    for (const o of opts.otherQuants ?? []) {
      const inv = o.inv()
      if (inv.totalBytes < c.inv.totalBytes) {
        const e = evaluate({...c, inv}, n, opts.ctx)
        if (e.fits) {
          fixes.push(`smaller quant: ${o.quant} (${fmtGB(inv.fileBytes)}) fits`)
          break
        }
      }
    }
    const short = cpu.totalBytes - cpu.capacityBytes
    if (short > 0)
      fixes.push(
        `more RAM: at least ${fmtGiB(short)} more (needs ${fmtGiB(cpu.totalBytes)}, ${fmtGiB(cpu.capacityBytes)} usable)`,
      )
    if (c.rpc.length === 0 && c.engine === 'llama.cpp')
      fixes.push("pool a second machine's RAM with llama.cpp RPC: --hardware this.json,other.json")
  }
  if (binding === 'disk' && disk.freeBytes !== null)
    fixes.push(`free ${fmtGB(disk.neededBytes - disk.freeBytes)} of disk (the download is ${fmtGB(disk.neededBytes)})`)
  return fixes
}

/** One row per quant for --quants. */
export function quantRow(plan: Plan): QuantRow {
  return {
    quant: plan.model.quant ?? 'unknown',
    fileBytes: plan.model.fileBytes,
    fits: plan.fits,
    binding: plan.verdict.binding,
    maxContext: plan.maxContext.byGpuCount,
    decodeTps: plan.prediction.decodeTps,
    prefillTps: plan.prediction.prefillTps,
    decodeRange: plan.prediction.decodeRange,
  }
}
