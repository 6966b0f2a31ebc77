/**
 * What the planner says about a tune configuration: does it fit at the requested context, memory
 * per device, predicted decode and prefill t/s, and the placement in llama.cpp's terms. One
 * planner call (makePlan) per distinct configuration would be thousands on a big machine (~10 ms
 * each), so the prediction is separable in threads: the configuration at the base thread count
 * (fit, memory, speed), times the speed ratio of its thread count to the base one for the same
 * placement with llama.cpp's default batch, flash attention and cache. Dimensions the planner does
 * not model (repacking, the CPU variant, -fa auto vs on) predict alike; measurements tell them apart
 * (search.ts, correctedPrediction).
 */
import {MoerigError} from '../lib/errors.js'
import type {Inventory} from '../model/inventory.js'
import {makePlan, type PlacementMode} from '../planner/plan.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import type {KvType, Plan} from '../schemas/plan.js'
import type {PlacementRun} from '../schemas/bench.js'
import {planParams} from '../runner/planrun.js'
import {LLAMA_DEFAULT_BATCH, LLAMA_DEFAULT_UBATCH, type TuneConfig} from './space.js'

export interface Prediction {
  fits: boolean
  /** why it cannot run (does not fit, or a combination llama.cpp refuses); null when it fits */
  reason: string | null
  decodeTps: number
  prefillTps: number
  /** planned memory per device */
  devices: Array<{id: string; totalBytes: number; capacityBytes: number}>
  /** the placement as bench runs it (devices "CPU"/"GPU<i>") */
  placement: PlacementRun
}

export interface PredictorInput {
  inv: Inventory
  profiles: HardwareProfile[]
  ctx: number
  /** thread count the separable model plans every configuration at */
  baseThreads: number
  now?: Date
}

function planMode(c: TuneConfig): {gpus: number; placement?: PlacementMode} {
  const p = c.placement
  if (p.mode === 'cpu' || p.gpus === 0) return {gpus: 0}
  if (p.mode === 'n-cpu-moe') return {gpus: p.gpus, placement: {kind: 'n-cpu-moe', n: p.nCpuMoe ?? 0}}
  return {gpus: p.gpus, placement: {kind: p.mode}}
}

/** The planner run of one configuration (llama.cpp engine), exactly as configured. */
export function planFor(input: PredictorInput, c: TuneConfig): Plan {
  return makePlan(input.inv, input.profiles, {
    ctx: input.ctx,
    engine: 'llama.cpp',
    kvType: c.kvType as KvType,
    ubatch: c.nUbatch,
    batch: c.nBatch,
    threads: c.threads,
    flashAttention: c.flashAttn !== 'off',
    numaAware: c.numa !== 'disabled',
    // a dimension of its own (space.ts): the planner runs what the configuration says
    opOffload: c.opOffload === false ? 'off' : 'on',
    now: input.now,
    ...planMode(c),
  })
}

/** A plan's placement as bench's PlacementRun, with the configuration's NUMA and repacking. */
export function placementRun(plan: Plan, c: TuneConfig): PlacementRun {
  const m = planParams(plan, '').model
  return {
    nGpuLayers: m.nGpuLayers!,
    splitMode: m.splitMode!,
    mainGpu: m.mainGpu!,
    tensorSplit: m.tensorSplit!,
    tensorOverrides: m.tensorOverrides!,
    nCpuMoe: m.nCpuMoe!,
    mmap: m.mmap ?? true,
    mlock: false,
    numa: c.numa,
    repack: c.repack,
  }
}

export interface Predictor {
  predict(c: TuneConfig): Prediction
  /** planner calls made so far */
  calls(): number
}

export function makePredictor(input: PredictorInput): Predictor {
  let calls = 0
  const plans = new Map<string, Plan | string>()
  const plan = (c: TuneConfig): Plan | string => {
    const p = c.placement
    const key = [
      c.threads,
      c.nUbatch,
      c.nBatch,
      c.flashAttn !== 'off',
      c.kvType,
      c.numa !== 'disabled',
      p.gpus,
      p.mode,
      p.nCpuMoe,
      c.opOffload !== false,
    ].join('|')
    let r = plans.get(key)
    if (r === undefined) {
      calls++
      try {
        r = planFor(input, c)
      } catch (e) {
        if (!(e instanceof MoerigError)) throw e
        r = e.message
      }
      plans.set(key, r)
    }
    return r
  }
  return {
    calls: () => calls,
    predict(c) {
      const at = plan({...c, threads: input.baseThreads})
      if (typeof at === 'string')
        return {fits: false, reason: at, decodeTps: 0, prefillTps: 0, devices: [], placement: {} as PlacementRun}
      let decode = at.prediction.decodeTps
      let prefill = at.prediction.prefillTps
      if (c.threads !== input.baseThreads) {
        const ref = {
          ...c,
          nUbatch: LLAMA_DEFAULT_UBATCH,
          nBatch: LLAMA_DEFAULT_BATCH,
          flashAttn: 'on' as const,
          kvType: 'f16',
        }
        const a = plan({...ref, threads: input.baseThreads})
        const b = plan(ref)
        if (typeof a !== 'string' && typeof b !== 'string') {
          if (a.prediction.decodeTps > 0) decode *= b.prediction.decodeTps / a.prediction.decodeTps
          if (a.prediction.prefillTps > 0) prefill *= b.prediction.prefillTps / a.prediction.prefillTps
        } else {
          const exact = plan(c)
          if (typeof exact !== 'string') {
            decode = exact.prediction.decodeTps
            prefill = exact.prediction.prefillTps
          }
        }
      }
      return {
        fits: at.fits,
        reason: at.fits ? null : `does not fit: ${at.verdict.binding ?? 'memory'} is the limit`,
        decodeTps: decode,
        prefillTps: prefill,
        devices: at.devices.map((d) => ({id: d.id, totalBytes: d.totalBytes, capacityBytes: d.capacityBytes})),
        placement: placementRun(at, c),
      }
    },
  }
}
