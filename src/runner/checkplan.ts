/**
 * `moerig check-plan`: execute a plan's placement in llama.cpp (model loaded with the plan's -ngl,
 * tensor overrides, --n-cpu-moe and tensor split; a context created with its size, ubatch, cache
 * types and flash attention; nothing decoded) and put what every device allocated beside what the
 * plan said it would need. The model runs in the runner child process (child.ts → worker.ts →
 * checkplan-worker.ts), so a llama.cpp abort is one error line.
 *
 * Several plans of one model and one placement (a context sweep) share one model load: each gets
 * its own context in the same child (checkPlans).
 */
import {existsSync} from 'node:fs'
import {basename} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {alignRight, renderTable} from '../lib/table.js'
import {fmtMiB, MiB} from '../lib/units.js'
import {assertValid} from '../schemas/validate.js'
import {checkPlanResultSchema, type CheckDevice, type CheckPlanResult} from '../schemas/checkplan.js'
import type {Plan} from '../schemas/plan.js'
import {placementFlags} from '../planner/emit.js'
import type {LlamaContextParams, LlamaDevice, LlamaInitResult} from '../engine/addon.js'
import {runInChild, runModelJob} from './child.js'
import {engineSetup} from '../engine/engine.js'
import {
  deviceOfBuffer,
  mappedModel,
  memoryByDevice,
  parseBufferLines,
  residentBuffers,
  type BufferFigure,
  type MappedModel,
} from './memory.js'
import {checkModelFile} from './modelfile.js'
import {checkPlanRpc, nameRpcBuffers} from './rpc-engine.js'
import type {RpcEndpoint} from '../engine/rpc.js'
import {checkPlan, gpusNeeded, loadPlan, planParams, planVsMeasured, type PlannedBytes} from './planrun.js'

/** llama.cpp logs buffer sizes in MiB with two decimals: each allocated figure is known to ±0.005 MiB. */
export const LOG_RESOLUTION_BYTES = Math.ceil(0.005 * MiB)

/**
 * The logits output buffer (host memory, "llama_context: Vulkan_Host  output buffer size = 0.58 MiB")
 * is not one of memory.ts's kinds; check-plan counts it with the host's compute buffers, as the
 * planner does.
 */
const OUTPUT_LINE_RE = /^\w+:\s+(\S+)\s+output buffer size =\s*([0-9.]+) MiB/

export function parseContextBuffers(lines: string[]): BufferFigure[] {
  const out = parseBufferLines(lines)
  for (const line of lines) {
    const m = OUTPUT_LINE_RE.exec(line.trim())
    if (m)
      out.push({buffer: m[1], kind: 'compute', device: deviceOfBuffer(m[1]), bytes: Math.round(Number(m[2]) * MiB)})
  }
  return out
}

/** What the plan fidelity bounds are (issue 7): weights and KV within 2 %, compute buffers within 10 %. */
export const ERROR_BOUNDS_PCT = {weights: 2, kv: 2, compute: 10} as const

export type Kind = keyof typeof ERROR_BOUNDS_PCT
export const KINDS: Kind[] = ['weights', 'kv', 'compute']

/**
 * 100 × (planned − allocated) / allocated, rounded to 0.01; 0 when the two differ by no more than
 * the log's resolution; 100 when something was planned and nothing allocated.
 */
export function errorPct(planned: number, allocated: number): number {
  if (Math.abs(planned - allocated) <= LOG_RESOLUTION_BYTES) return 0
  if (allocated === 0) return 100
  return Math.round((10000 * (planned - allocated)) / allocated) / 100
}

export interface CheckEntry {
  plan: Plan
  /** where the plan came from ("" for plans made in memory) */
  planPath: string
}

export interface CheckOptions {
  /** the model file (default: the plan's model.path) */
  modelPath?: string
  /** check a plan that does not fit */
  force?: boolean
  /**
   * Load with mmap, as a plain run does (default false). With mmap llama.cpp's CPU_Mapped figure
   * is the file span of the CPU tensors, which also counts GPU tensors lying between them and,
   * without a GPU, the tensors it repacks into CPU_REPACK as well: not an allocation. Without
   * mmap every figure is memory really allocated, which is what the plan predicts.
   */
  mmap?: boolean
  /** false = --no-repack (llama.cpp's use_extra_bufts off); default true */
  repack?: boolean
  /** --cpu-variant: load libggml-cpu-<name>.so instead of ggml's pick */
  cpuVariant?: string
  /** --rpc: one llama.cpp RPC server per remote host of a multi-host plan, in the plan's host order */
  rpc?: RpcEndpoint[]
  /** extra environment for the runner child (tests) */
  childEnv?: NodeJS.ProcessEnv
  onPhase?(label: string): void
  /** the engine aborted with extra buffer types on and the check starts again without them */
  onFallback?(line: string): void
}

/** The plan's context parameters, as bench --plan executes them. */
function contextOf(plan: Plan, modelPath: string): LlamaContextParams {
  const c = planParams(plan, modelPath).context
  // threads do not change any allocation; 1 keeps a context sweep light on shared machines
  return {...c, threads: 1}
}

const NOTHING: PlannedBytes = {weightsBytes: 0, kvBytes: 0, computeBytes: 0}

/** One device's planned and allocated bytes with the error of each kind. */
function checkDevice(id: string, engineDevice: string, planned: PlannedBytes, allocated: PlannedBytes): CheckDevice {
  const bytes = (b: PlannedBytes) => ({weightsBytes: b.weightsBytes, kvBytes: b.kvBytes, computeBytes: b.computeBytes})
  return {
    id,
    engineDevice,
    planned: bytes(planned),
    allocated: bytes(allocated),
    errorPct: {
      weights: errorPct(planned.weightsBytes, allocated.weightsBytes),
      kv: errorPct(planned.kvBytes, allocated.kvBytes),
      compute: errorPct(planned.computeBytes, allocated.computeBytes),
    },
  }
}

/**
 * A plan's devices beside what the engine allocated (pure: the tests call it on logged figures).
 * planVsMeasured pairs them: a plan GPU the engine does not have is shown with nothing allocated;
 * an engine device the plan does not name is shown as planned 0 bytes (all error).
 */
export function comparePlanMemory(
  entry: CheckEntry,
  modelPath: string,
  devices: LlamaDevice[],
  buffers: BufferFigure[],
  load: {mmap: boolean; mapped?: MappedModel} = {mmap: false},
): CheckPlanResult {
  const {plan} = entry
  // under mmap the mapped span is not what the plan sizes: compare the resident need (memory.ts)
  const named = nameRpcBuffers(buffers, devices) // "RPC0[host:port]" → the engine's RPC0, RPC1 …
  const measured = memoryByDevice(load.mmap && load.mapped ? residentBuffers(named, load.mapped) : named)
  const {rows: planned, unplanned} = planVsMeasured(plan, devices, measured)
  // a device with nothing measured allocated 0 bytes; one the plan does not name was planned 0 bytes
  const rows: CheckDevice[] = [
    ...planned.map((r) => checkDevice(r.id, r.engineDevice, r.planned, r.measured ?? NOTHING)),
    ...unplanned.map((m) => checkDevice(m.device, m.device, NOTHING, m)),
  ]
  const byKind = {weights: 0, kv: 0, compute: 0}
  for (const r of rows) for (const k of KINDS) byKind[k] = Math.max(byKind[k], Math.abs(r.errorPct[k]))
  const result: CheckPlanResult = {
    schemaVersion: 1,
    kind: 'check-plan',
    plan: entry.planPath,
    model: {
      path: modelPath,
      fileBytes: plan.model.fileBytes,
      tensorCount: plan.model.tensorCount ?? 0,
      arch: plan.model.arch,
    },
    context: plan.context,
    ubatch: plan.ubatch,
    kvType: plan.kvType,
    flashAttention: plan.flashAttention,
    placement: plan.placement.summary ?? placementFlags(plan.placement),
    devices: rows,
    buffers,
    maxErrorPct: Math.max(...KINDS.map((k) => byKind[k])),
    maxErrorPctByKind: byKind,
    resolutionBytes: LOG_RESOLUTION_BYTES,
    mmap: load.mmap,
    engineDevices: devices.map((d) => ({
      name: d.name,
      backend: d.backend,
      description: d.description,
      totalBytes: Math.max(0, Math.round(d.totalBytes)),
    })),
  }
  return assertValid<CheckPlanResult>(checkPlanResultSchema, result, 'check-plan result')
}

/** Same model load for both plans: file, -ngl, overrides, --n-cpu-moe, split. */
function placementKey(plan: Plan, modelPath: string): string {
  return JSON.stringify(planParams(plan, modelPath).model)
}

/**
 * Check plans of one model file and one placement with one model load (one context per plan).
 * Refuses a missing model file or one that differs from the planned one (size, tensor count).
 */
export async function checkPlans(entries: CheckEntry[], opts: CheckOptions = {}): Promise<CheckPlanResult[]> {
  if (entries.length === 0) return []
  const first = entries[0]
  const modelPath = opts.modelPath ?? first.plan.model.path ?? null
  if (!modelPath)
    throw new MoerigError(
      'E_USAGE',
      `plan ${first.planPath || '(in memory)'} names no model file; give one with --model FILE`,
    )
  if (!existsSync(modelPath))
    throw new MoerigError(
      'E_PLAN_MODEL',
      `the model of plan ${first.planPath || '(in memory)'} is missing: ${modelPath}: no such file`,
    )
  opts.onPhase?.(`reading ${basename(modelPath)}`)
  const mf = await checkModelFile(modelPath)
  const key = placementKey(first.plan, modelPath)
  for (const e of entries) {
    checkPlan(e.plan, e.planPath || '(in memory)', mf.gguf, Boolean(opts.force))
    checkPlanRpc(e.plan, e.planPath || '(in memory)', opts.rpc ?? [])
    if (placementKey(e.plan, modelPath) !== key)
      throw new MoerigError('E_USAGE', 'checkPlans: every plan of one call needs the same model and placement')
  }
  const pp = planParams(first.plan, modelPath)
  let devices: LlamaDevice[] = []
  let loadLog: string[] = []
  opts.onPhase?.(`loading ${basename(modelPath)}`)
  // a CPU-only plan runs without GPU backends: with one loaded, llama.cpp offloads big-batch ops
  // to it even at -ngl 0 (and allocates a GPU compute buffer the plan never asked for)
  const gpus = Math.max(...entries.map((e) => gpusNeeded(e.plan)))
  const setup = engineSetup(opts.cpuVariant, opts.rpc)
  if (gpus === 0) setup.backends = {libs: [], skipped: setup.backends.skipped}
  const outcome = await runModelJob(
    {
      kind: 'check',
      setup,
      model: {...pp.model, mmap: Boolean(opts.mmap), useExtraBufts: opts.repack !== false},
      contexts: entries.map((e) => contextOf(e.plan, modelPath)),
      gpusRequired: gpus,
    },
    {
      env: opts.childEnv,
      onFallback: opts.onFallback,
      onEvent: (e) => {
        if (e.type === 'init') devices = e.devices
        else if (e.type === 'loaded') {
          loadLog = e.log
          opts.onPhase?.('creating contexts')
        }
      },
    },
  )
  if (outcome.final.type !== 'check-done') throw new MoerigError('E_ENGINE', 'the runner ended without a check result')
  const ctxs = outcome.final.contexts
  const model = parseBufferLines(loadLog)
  const mapped = mappedModel(mf, loadLog)
  return entries.map((e, i) =>
    comparePlanMemory(e, modelPath, devices, [...model, ...parseContextBuffers(ctxs[i].log)], {
      mmap: Boolean(opts.mmap),
      mapped,
    }),
  )
}

/** `moerig check-plan PLAN.json`. */
export async function checkPlanFile(planPath: string, opts: CheckOptions = {}): Promise<CheckPlanResult> {
  const plan = loadPlan(planPath)
  const [r] = await checkPlans([{plan, planPath}], opts)
  return r
}

/**
 * The engine's devices and CPU variants, listed in the runner child (a crashing GPU driver is one
 * error line). `cpuVariant` names a variant to load instead of ggml's pick.
 */
export async function listEngineDevices(
  childEnv?: NodeJS.ProcessEnv,
  cpuVariant?: string,
  rpc: RpcEndpoint[] = [],
): Promise<LlamaInitResult> {
  const outcome = await runInChild({kind: 'devices', setup: engineSetup(cpuVariant, rpc)}, {env: childEnv})
  if (outcome.final.type !== 'devices-done') throw new MoerigError('E_ENGINE', 'the runner ended without a device list')
  const {type: _type, ...init} = outcome.final
  return init
}

// ---------------------------------------------------------------- printing

const mib = (b: number) => fmtMiB(b, 2)
const sign = (x: number) => (Math.abs(x) < 0.05 ? '0.0 %' : `${x > 0 ? '+' : ''}${x.toFixed(1)} %`)
const LABEL: Record<Kind, string> = {weights: 'weights', kv: 'KV', compute: 'compute'}

/** Planned vs allocated per device and buffer kind, with the error of each. */
export function checkTable(r: CheckPlanResult): string[] {
  const head = ['device', 'buffer', 'planned', 'allocated', 'error']
  const rows: string[][] = []
  for (const d of r.devices) {
    const name = d.engineDevice === d.id ? d.id : `${d.id} (${d.engineDevice})`
    KINDS.forEach((k, i) => {
      const key = `${k}Bytes` as 'weightsBytes' | 'kvBytes' | 'computeBytes'
      rows.push([i === 0 ? name : '', LABEL[k], mib(d.planned[key]), mib(d.allocated[key]), sign(d.errorPct[k])])
    })
  }
  let worst = {pct: 0, where: ''}
  for (const d of r.devices)
    for (const k of KINDS)
      if (Math.abs(d.errorPct[k]) > Math.abs(worst.pct)) worst = {pct: d.errorPct[k], where: `${d.id} ${LABEL[k]}`}
  return [
    `plan ${r.plan || '(in memory)'}: ${basename(r.model.path)}, context ${r.context}, ubatch ${r.ubatch}, KV ${r.kvType}, flash attention ${r.flashAttention ? 'on' : 'off'}; ${r.placement}`,
    ...renderTable(head, rows, alignRight([false, false, true, true, true])),
    ...(r.mmap
      ? [
          'loaded with mmap: CPU weights read as the file span llama.cpp maps (GPU tensors between CPU ones count; check-plan loads without mmap)',
        ]
      : []),
    `max error ${Math.abs(worst.pct).toFixed(1)} %${worst.where ? ` (${worst.where})` : ''}; allocated = llama.cpp's buffer sizes (log, ±${(LOG_RESOLUTION_BYTES / 1024).toFixed(1)} KiB); bounds: weights and KV ${ERROR_BOUNDS_PCT.weights} %, compute ${ERROR_BOUNDS_PCT.compute} %`,
  ]
}

/** Kinds whose error is over its bound, "GPU0 compute +12.3 %" each. */
export function outOfBounds(r: CheckPlanResult): string[] {
  const out: string[] = []
  for (const d of r.devices)
    for (const k of KINDS)
      if (Math.abs(d.errorPct[k]) > ERROR_BOUNDS_PCT[k]) out.push(`${d.id} ${LABEL[k]} ${sign(d.errorPct[k])}`)
  return out
}
