/**
 * The planner: inventory + hardware → placement, memory per device, context limits, predicted
 * speed, verdict and ready commands, as one schema-valid Plan. Pure: no I/O. The steps live beside
 * it: evaluate.ts (one candidate: GPU count × context), fixes.ts (what would make it fit),
 * assemble.ts (the Plan document).
 */
import {MoerigError} from '../lib/errors.js'
import {LLAMA_DEFAULTS} from '../lib/llama-defaults.js'
import {checkThreads} from '../lib/threads.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import type {Engine, KvType, Plan, QuantRow} from '../schemas/plan.js'
import {planHosts, rpcDevices, type PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import {kvModel} from './kv.js'
import {defaultBuild, ENGINE_BUILDS, type EngineBuild} from './speed.js'
import {
  chooseCandidate,
  gpuCounts,
  maxContextFor,
  ubatchHint,
  type MmapMode,
  type OpOffloadMode,
  type PlacementMode,
  type PlanContext,
} from './evaluate.js'
import {suggestFixes} from './fixes.js'
import {assemblePlan} from './assemble.js'

export type {MmapMode, OpOffloadMode, PlacementMode} from './evaluate.js'

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
  /** --mmap: auto (default: off where a GPU copies weights kept in RAM for prefill and RAM holds them), on, off */
  mmap?: MmapMode
  /** --op-offload: auto (default: off where the CPU's prefill beats copying its weights to a GPU), on, off */
  opOffload?: OpOffloadMode
  /** which kernels the engine runs (speed model only; default: what moerig's commands run) */
  engineBuild?: EngineBuild
  /** false: the engine ignores NUMA (llama.cpp without --numa, ktransformers without USE_NUMA) */
  numaAware?: boolean
  now?: Date
}

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

/** Refuse what cannot be planned at all: no hardware, a context outside 1 … trained, RPC off llama.cpp. */
function checkRequest(inv: Inventory, profiles: HardwareProfile[], opts: PlanOptions): void {
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
}

/** KV cache types the engine cannot run: a quantized V cache without flash attention, ktransformers' MLA cache. */
function checkKvType(inv: Inventory, opts: PlanOptions, kvType: KvType, fa: boolean): void {
  const mlaLatent = inv.arch === 'deepseek2' && inv.layout === 'mla'
  if (opts.engine === 'llama.cpp' && kvType !== 'f16' && kvType !== 'bf16' && !fa && !mlaLatent) {
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
}

/** The kernels the speed model assumes: the engine's default build, or one of that engine's builds. */
function engineBuild(opts: PlanOptions): EngineBuild {
  const build = opts.engineBuild ?? defaultBuild(opts.engine)
  if (ENGINE_BUILDS[build] === undefined)
    throw new MoerigError('E_USAGE', `engine build ${build}: use one of ${Object.keys(ENGINE_BUILDS).join(', ')}`)
  if (ENGINE_BUILDS[build] !== opts.engine)
    throw new MoerigError(
      'E_USAGE',
      `engine build ${build} is a ${ENGINE_BUILDS[build]} build; the plan's engine is ${opts.engine}`,
    )
  return build
}

/**
 * --threads run on the planned machine: at most its logical CPUs (its profile's, not ours); default
 * its physical cores (lib/llama-defaults.ts DEFAULT_THREADS_RULE).
 */
function planThreads(main: PlanHost, opts: PlanOptions): number {
  if (opts.threads === undefined) return main.cores
  return checkThreads('--threads', opts.threads, main.threads, `hardware profile ${main.id}`)
}

/** --placement, --gpus and GPU-only engines against the GPUs the main machine has. */
function checkGpuOptions(c: PlanContext, opts: PlanOptions): void {
  const {main, placement} = c
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
  if (opts.opOffload === 'off' && (opts.engine !== 'llama.cpp' || c.build !== 'llama.cpp'))
    throw new MoerigError(
      'E_USAGE',
      `--op-offload off is llama.cpp's --no-op-offload; ${opts.engine === 'llama.cpp' ? c.build : opts.engine} computes the weights in RAM by its own rules`,
    )
  if (opts.gpus !== undefined && (opts.gpus < 0 || opts.gpus > G)) {
    throw new MoerigError('E_GPUS', `--gpus ${opts.gpus}: ${main.name} has ${G} GPU${G === 1 ? '' : 's'}`)
  }
  if ((opts.engine === 'flashmoe' || opts.engine === 'ktransformers') && (G === 0 || opts.gpus === 0)) {
    throw new MoerigError(
      'E_ENGINE',
      `${opts.engine} needs at least one GPU; ${main.name} has none (use --engine llama.cpp)`,
    )
  }
}

/** Options checked and defaulted, hardware normalised: what every candidate is evaluated in. */
function planContext(inv: Inventory, profiles: HardwareProfile[], opts: PlanOptions): PlanContext {
  if (profiles.length === 0) throw new MoerigError('E_HARDWARE', 'no hardware profile given')
  const hosts = planHosts(profiles)
  const main = hosts[0]
  const d = engineDefaults(opts.engine)
  const kvType = opts.kvType ?? d.kvType
  const fa = opts.flashAttention ?? d.flashAttention
  const ubatch = opts.ubatch ?? LLAMA_DEFAULTS.nUbatch
  const batch = Math.max(opts.batch ?? LLAMA_DEFAULTS.nBatch, ubatch)
  checkRequest(inv, profiles, opts)
  checkKvType(inv, opts, kvType, fa)
  const kv = kvModel(inv.shape, opts.engine, kvType)
  const threads = planThreads(main, opts)
  const build = engineBuild(opts)
  const c: PlanContext = {
    inv,
    hosts,
    main,
    engine: opts.engine,
    kvType,
    fa,
    ubatch,
    batch,
    kv,
    rpc: opts.engine === 'llama.cpp' ? rpcDevices(hosts) : [],
    placement: opts.placement ?? {kind: 'auto'},
    threads,
    build,
    numaAware: opts.numaAware ?? true,
    mmap: opts.mmap ?? 'auto',
    opOffload: opts.opOffload ?? 'auto',
  }
  checkGpuOptions(c, opts)
  return c
}

/** Disk: a catalog model has to be downloaded; a GGUF is already there. */
function diskCheck(inv: Inventory, main: PlanHost): NonNullable<Plan['disk']> {
  const neededBytes = inv.source === 'catalog' ? inv.fileBytes : 0
  const freeBytes = main.diskFreeBytes
  return {neededBytes, freeBytes, fits: freeBytes === null ? null : freeBytes >= neededBytes}
}

export function makePlan(inv: Inventory, profiles: HardwareProfile[], opts: PlanOptions): Plan {
  const c = planContext(inv, profiles, opts)
  // Evaluate every GPU count (or the one asked for); the fastest that fits wins.
  const best = chooseCandidate(c, opts.ctx, opts.gpus)
  const byGpuCount = gpuCounts(c).map((n) => ({gpus: n, ...maxContextFor(c, n)}))
  const disk = diskCheck(inv, c.main)
  const binding = best.binding ?? (disk.fits === false ? 'disk' : null)
  const fixes = suggestFixes({
    c,
    best,
    ctx: opts.ctx,
    byGpu: byGpuCount,
    binding,
    disk,
    otherQuants: opts.otherQuants ?? [],
  })
  return assemblePlan({
    c,
    best,
    ctx: opts.ctx,
    byGpuCount,
    disk,
    binding,
    fixes,
    ubatchHint: best.fits ? ubatchHint(c, best, opts.ctx) : null,
    hardwareLabels: opts.hardwareLabels,
    hfRepo: opts.hfRepo ?? null,
    now: opts.now ?? new Date(),
  })
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
