/**
 * `moerig plan` as a function (the command only parses flags and prints): resolve MODEL, load the
 * hardware profiles, make the plan, add --quants rows, validate against the schema.
 */
import {MoerigError} from '../lib/errors.js'
import {loadHardwareProfile} from '../profiles/hardware.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import {planSchema, type Engine, type KvType, type Plan} from '../schemas/plan.js'
import {assertValid} from '../schemas/validate.js'
import {resolveModel} from './resolve.js'
import {inventoryFromCatalog, type Inventory} from '../model/inventory.js'
import {makePlan, parsePlacement, quantRow, type MmapMode, type OpOffloadMode, type PlanOptions} from './plan.js'
import {ftypeByName} from '../model/quant.js'
import type {EngineBuild} from './speed.js'

export interface PlanRequest {
  model: string
  quant?: string
  layout?: 'mla' | 'legacy'
  /** --hardware: comma-separated files, profile ids or "probe" */
  hardware: string
  /** --ctx; default: DEFAULT_CONTEXT, or the model's trained context when that is shorter */
  ctx?: number
  engine: Engine
  gpus?: number
  kvType?: KvType
  ubatch?: number
  batch?: number
  threads?: number
  flashAttention?: boolean
  quants?: string[]
  /** --placement: auto (default), all-gpu, exps-cpu, n-cpu-moe=N */
  placement?: string
  /** --mmap: auto (default), on, off */
  mmap?: MmapMode
  /** --op-offload: auto (default), on, off */
  opOffload?: OpOffloadMode
  /** kernels the engine runs, for the speed model (default: what moerig's commands run) */
  engineBuild?: EngineBuild
  /** false: the engine ignores NUMA (no --numa / no USE_NUMA) */
  numaAware?: boolean
  /** profiles already loaded (tests, bench scripts): skips --hardware loading */
  profiles?: HardwareProfile[]
  /** this machine, for "probe" in --hardware (the command passes probe/'s probeThisMachine) */
  probe?: () => Promise<HardwareProfile>
}

export async function loadProfiles(spec: string, probe?: () => Promise<HardwareProfile>): Promise<HardwareProfile[]> {
  const parts = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (parts.length === 0) throw new MoerigError('E_USAGE', '--hardware needs a file, a profile id or "probe"')
  const out: HardwareProfile[] = []
  for (const p of parts) out.push(await loadHardwareProfile(p, {probe}))
  return out
}

/** --ctx when the user gives none: llama-server's usual working size, capped by the model. */
export const DEFAULT_CONTEXT = 8192

/** The context to plan: the user's, else the default capped at the model's trained context. */
export function defaultContext(inv: Inventory, ctx: number | undefined): number {
  return ctx ?? Math.min(DEFAULT_CONTEXT, inv.shape.hp.contextLength)
}

export async function runPlan(req: PlanRequest): Promise<Plan> {
  if (req.quants !== undefined && req.quants.length === 0)
    throw new MoerigError('E_USAGE', '--quants needs at least one quant, e.g. --quants Q2_K,Q4_K_M')
  const {inv, catalog} = await resolveModel(req.model, {quant: req.quant, layout: req.layout})
  const profiles = req.profiles ?? (await loadProfiles(req.hardware, req.probe))
  const labels = req.profiles
    ? undefined
    : req.hardware
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
  const base: PlanOptions = {
    ctx: defaultContext(inv, req.ctx),
    engine: req.engine,
    kvType: req.kvType,
    gpus: req.gpus,
    ubatch: req.ubatch,
    batch: req.batch,
    threads: req.threads,
    flashAttention: req.flashAttention,
    hfRepo: catalog?.hfRepo ?? null,
    hardwareLabels: labels,
    placement: req.placement ? parsePlacement(req.placement) : undefined,
    mmap: req.mmap,
    opOffload: req.opOffload,
    engineBuild: req.engineBuild,
    numaAware: req.numaAware,
    otherQuants: catalog
      ? catalog.quants
          .filter((q) => q !== inv.quant)
          .map((q) => ({quant: q, inv: () => inventoryFromCatalog(catalog, {quant: q, layout: req.layout})}))
      : [],
  }
  const plan = makePlan(inv, profiles, base)
  if (req.quants && req.quants.length > 0) {
    if (!catalog)
      throw new MoerigError('E_USAGE', '--quants compares quants of a catalog model; a GGUF file has one quant')
    plan.rows = req.quants.map((q) => {
      const qi = inventoryFromCatalog(catalog, {quant: ftypeByName(q), layout: req.layout})
      return quantRow(makePlan(qi, profiles, {...base, otherQuants: []}))
    })
  }
  return assertValid<Plan>(planSchema, plan, 'plan')
}
