/**
 * Executing a plan (src/schemas/plan.ts): its placement in llama.cpp's terms becomes the model
 * and context parameters of a run, its device figures are put beside the measured ones.
 * Plan device names are "CPU" and "GPU<i>", i = the i-th GPU the engine sees (Vulkan0, CUDA0 …).
 */
import {existsSync} from 'node:fs'
import {dirname, isAbsolute, resolve} from 'node:path'
import {readJsonFile} from '../schemas/validate.js'
import {MoerigError} from '../lib/errors.js'
import {planSchema, type Plan} from '../schemas/plan.js'
import type {LlamaContextParams, LlamaDevice, LlamaModelParams} from '../engine/addon.js'
import {installCommand} from '../engine/backends.js'
import type {DeviceMemory} from './memory.js'
import type {PlanComparison} from '../schemas/bench.js'
import type {GgufModel} from '../model/gguf.js'
import {engineRpcDeviceOf, planRemoteHosts, rpcDevices} from './rpc-engine.js'

/**
 * Read a plan. Plans store an absolute model path; older ones stored it relative to the folder
 * they were made in: such a path is taken relative to the plan's own folder when the model is
 * there, else as given (relative to the working folder), so `bench --plan` works from anywhere.
 */
export function loadPlan(path: string): Plan {
  const plan = readJsonFile<Plan>(path, planSchema, 'plan')
  const m = plan.model.path
  if (m && !isAbsolute(m)) {
    const beside = resolve(dirname(path), m)
    if (existsSync(beside)) plan.model.path = beside
  }
  return plan
}

/** Refuse a plan that does not fit (unless forced) or was made for another file. */
export function checkPlan(plan: Plan, planPath: string, gguf: GgufModel, force: boolean): void {
  if (!plan.fits && !force) {
    const v = plan.verdict
    throw new MoerigError(
      'E_PLAN_DOES_NOT_FIT',
      `plan ${planPath} does not fit${v.binding ? ` (${v.binding})` : ''}: ${v.headline}; use --force to run it anyway`,
    )
  }
  const m = plan.model
  if (m.tensorCount !== gguf.tensors.length || m.fileBytes !== gguf.fileBytes) {
    throw new MoerigError(
      'E_PLAN_MODEL',
      `plan ${planPath} was made for a different model (${m.tensorCount} tensors, ${m.fileBytes} bytes; ${gguf.path} has ${gguf.tensors.length} tensors, ${gguf.fileBytes} bytes)`,
    )
  }
}

/** GPUs the placement names: highest GPU<i> + 1 over overrides, plus one when layers are offloaded. */
export function gpusNeeded(plan: Plan): number {
  let n = 0
  for (const o of plan.placement.tensorOverrides) {
    const m = /^GPU(\d+)$/.exec(o.device)
    if (m) n = Math.max(n, Number(m[1]) + 1)
  }
  // a multi-host plan offloads to its RPC devices (remote hosts) first: only its local GPUs count here
  const remotes = planRemoteHosts(plan)
  if (plan.placement.nGpuLayers > 0)
    n = Math.max(n, remotes > 0 ? (plan.gpusUsed ?? 0) : Math.max(1, plan.placement.tensorSplit.length))
  return n
}

/** The engine's local GPUs in order: what "GPU<i>" means (RPC devices are "RPC<i>:…" in a plan). */
export function engineGpus(devices: LlamaDevice[]): LlamaDevice[] {
  return devices.filter((d) => (d.type === 'gpu' || d.type === 'igpu') && d.backend !== 'RPC')
}

/** The engine GPU a plan id "GPU<i>" names; undefined when the engine has no such GPU or `id` is not one. */
function engineGpuOf(id: string, devices: LlamaDevice[]): LlamaDevice | undefined {
  const m = /^GPU(\d+)$/.exec(id)
  return m ? engineGpus(devices)[Number(m[1])] : undefined
}

/** "GPU1" → "Vulkan1"; "RPC0:CPU" → the first --rpc server's device; "CPU" → "CPU"; a GPU the engine does not have is one clear error. */
export function engineDeviceOf(id: string, devices: LlamaDevice[]): string {
  const rpc = engineRpcDeviceOf(id, devices)
  if (rpc) return rpc
  if (!/^GPU(\d+)$/.test(id)) return id
  const d = engineGpuOf(id, devices)
  if (!d) {
    const gpus = engineGpus(devices)
    throw new MoerigError(
      'E_PLAN_DEVICE',
      `the plan places tensors on ${id}, but the engine sees ${gpus.length === 0 ? 'no GPU' : `${gpus.length} GPU(s): ${gpus.map((g) => g.name).join(', ')}`} (devices: ${devices.map((x) => x.name).join(', ')}); install the GPU backend: ${installCommand()}`,
    )
  }
  return d.name
}

/** Resolve plan device aliases in model params against the engine's devices (runs in the child). */
export function resolveModelDevices(
  p: LlamaModelParams,
  devices: LlamaDevice[],
  gpusRequired: number,
): LlamaModelParams {
  if (gpusRequired > 0) engineDeviceOf(`GPU${gpusRequired - 1}`, devices)
  if (!p.tensorOverrides?.length) return p
  return {
    ...p,
    tensorOverrides: p.tensorOverrides.map((o) => ({pattern: o.pattern, device: engineDeviceOf(o.device, devices)})),
  }
}

/** Model and context parameters of a plan (devices still as "CPU"/"GPU<i>"). */
export function planParams(plan: Plan, path: string): {model: LlamaModelParams; context: LlamaContextParams} {
  const p = plan.placement
  return {
    model: {
      path,
      // the plan counts -ngl as llama.cpp does (n_layer + 1 = all, output included)
      nGpuLayers: p.nGpuLayers,
      splitMode: p.splitMode,
      mainGpu: p.mainGpu,
      tensorSplit: p.tensorSplit,
      tensorOverrides: p.tensorOverrides.map((o) => ({pattern: o.pattern, device: o.device})),
      nCpuMoe: p.nCpuMoe ?? 0,
      mmap: p.mmap ?? true,
      numa: plan.numa?.mode === 'interleave' ? 'distribute' : 'disabled',
    },
    context: {
      nCtx: plan.context,
      nBatch: plan.batch,
      nUbatch: plan.ubatch,
      typeK: plan.kvType,
      typeV: plan.kvType,
      flashAttn: plan.flashAttention ? 'on' : 'off',
      opOffload: plan.placement.opOffload ?? true,
      threads: plan.threads,
    },
  }
}

/** Bytes a plan gives one device, by buffer kind. */
export interface PlannedBytes {
  weightsBytes: number
  kvBytes: number
  computeBytes: number
}

/** One plan device beside what the engine measured on it. */
export interface PlannedVsMeasured {
  /** the plan's device id: "CPU", "GPU0" */
  id: string
  /** the engine device it stands for ("Vulkan0"); its plan id when the engine has no such GPU */
  engineDevice: string
  planned: PlannedBytes
  /** what the engine allocated there; null when nothing was (or the engine has no such GPU) */
  measured: DeviceMemory | null
}

/**
 * The one planned-vs-measured comparison (bench --plan and check-plan both build on it): every
 * plan device except RPC ones (not executed here) beside the measured memory of its engine device
 * (the plan's "CPU" is all host RAM, "GPU<i>" the i-th GPU the engine sees), and the engine
 * devices that allocated memory the plan never named (`unplanned`).
 *
 * Unknown GPU, one rule: a plan device the engine does not have is kept, under its plan id as
 * engineDevice, with nothing measured; it is never an error here. A run whose placement needs a
 * GPU the engine lacks was already refused before the model loaded (resolveModelDevices →
 * E_PLAN_DEVICE), so such a device is one the placement puts nothing on, and the comparison shows
 * its planned bytes against nothing.
 */
export function planVsMeasured(
  plan: Plan,
  devices: LlamaDevice[],
  measured: DeviceMemory[],
): {rows: PlannedVsMeasured[]; unplanned: DeviceMemory[]} {
  const rpc = (id: string) => (rpcDevices(devices).length > 0 ? engineRpcDeviceOf(id, devices) : null)
  const rows = plan.devices
    .filter((d) => !d.id.includes(':') || /^RPC\d+:/.test(d.id))
    .map((d): PlannedVsMeasured => {
      const engineDevice = rpc(d.id) ?? engineGpuOf(d.id, devices)?.name ?? d.id
      return {
        id: d.id,
        engineDevice,
        planned: {weightsBytes: d.weightsBytes, kvBytes: d.kvBytes, computeBytes: d.computeBytes},
        measured: measured.find((x) => x.device === engineDevice) ?? null,
      }
    })
  const unplanned = measured.filter((m) => !rows.some((r) => r.engineDevice === m.device))
  return {rows, unplanned}
}

/** Planned vs measured per plan device and predicted vs measured speed (bench --plan). */
export function comparePlan(
  plan: Plan,
  planPath: string,
  force: boolean,
  devices: LlamaDevice[],
  measured: DeviceMemory[],
  tps: {decode: number | null; prefill: number | null; decodeTest?: string | null; prefillTest?: string | null},
): PlanComparison {
  return {
    path: planPath,
    fits: plan.fits,
    forced: Boolean(force) && !plan.fits,
    context: plan.context,
    devices: planVsMeasured(plan, devices, measured).rows.map(({id, engineDevice, planned, measured: m}) => ({
      id,
      engineDevice,
      planned: {...planned, totalBytes: planned.weightsBytes + planned.kvBytes + planned.computeBytes},
      measured: m
        ? {weightsBytes: m.weightsBytes, kvBytes: m.kvBytes, computeBytes: m.computeBytes, totalBytes: m.totalBytes}
        : null,
    })),
    predicted: {decodeTps: plan.prediction.decodeTps, prefillTps: plan.prediction.prefillTps},
    measured: {decodeTps: tps.decode, prefillTps: tps.prefill},
    comparison: {
      decode: {
        ...phaseComparison(plan.prediction.decodeTps, plan.prediction.decodeRange, tps.decode),
        ...(tps.decodeTest ? {test: tps.decodeTest} : {}),
      },
      prefill: {
        ...phaseComparison(plan.prediction.prefillTps, plan.prediction.prefillRange, tps.prefill),
        ...(tps.prefillTest ? {test: tps.prefillTest} : {}),
      },
    },
  }
}

/** Predicted vs measured for one phase: signed error relative to the measurement, and whether it fell in the plan's range. */
export function phaseComparison(
  predicted: number,
  range: {low: number; high: number} | undefined,
  measured: number | null,
) {
  const low = range?.low ?? predicted
  const high = range?.high ?? predicted
  if (measured === null || measured <= 0) return {predicted, low, high, measured, errorPct: null, inRange: null}
  const errorPct = Math.round(((predicted - measured) / measured) * 1000) / 10
  return {predicted, low, high, measured, errorPct, inRange: measured >= low && measured <= high}
}
