/**
 * `moerig calibrate` (issue 13 item 2): measure this machine with the built-in runner and write
 * the hardware profile's `calibration` section, which the planner's speed model
 * (src/planner/speed.ts) then uses instead of its published-class constants.
 *
 * Method. The planner predicts a CPU decode token as
 *     t = max(B / BW + S, C / G_dec(T)) + A + L × λ + τ
 * (B bytes read from DRAM, S the time reading the bytes its last-level cache holds, C = 2 ×
 * weights × ggml type cost ÷ width efficiency, A attention at depth, L layers, λ per-layer and τ
 * per-token overhead) and a prefill ubatch of u tokens as u × F / G_pp(T) + L × λ + τ (F =
 * effective FLOPs per token: dense and routed ÷ width efficiency, routed ÷ expert batch
 * efficiency, attention with its per-position cost; one graph evaluation's overhead per ubatch).
 * calibrate measures in exactly those units, so that a calibrated plan of a calibration model
 * reproduces its measurement:
 *   - B, C, A, L and F of every model come from the planner itself (`modelTerms`: a plan of the
 *     GGUF with a unit calibration, 1 GB/s and 1 GFLOP/s, whose predicted milliseconds are then
 *     the quantities), not from a second copy of its arithmetic.
 *   - Overheads λ and τ and the decode throughput at the first thread count: three decode
 *     measurements (tg, best repetition) solve y = C·g + L·λ + τ exactly — `tiny`
 *     (4 layers) and `tiny-deep` (the same blocks, 16 layers: only the layer count differs) and a
 *     compute-heavy cache-resident model (r1-mini: 12 layers, 0.2 GB/token, compute-bound at few
 *     threads). Cache-resident models are taken as compute-bound (their bytes come from cache).
 *   - Decode throughput per thread count G_dec(T) = C / (y − L·λ − τ − A) of the compute model.
 *   - Prefill throughput per thread count G_pp(T) = F × pp t/s of the compute model (pp = ubatch,
 *     so the expert batch efficiency the planner assumes is the one that ran).
 *   - Effective DRAM bandwidth in decode BW = B / (y − A − L·λ − τ) of the DRAM-bound model
 *     (r1-dram: 1.43 GiB of weights read per token, ≥ 4× a large server L3) at the most threads;
 *     when its compute term C / G_dec(T) is the larger, the model was compute-bound there and BW is
 *     a lower bound (said in the notes).
 *   - GPUs the runner sees: the DRAM model fully offloaded to each where it fits, else the compute
 *     model (-ngl 999, split none; gpuSampleModel): per-layer cost = (1/tg − B ÷ spec bandwidth × η
 *     − attention − τ) ÷ launches, prefill = F ÷ (ubatch time − launches × per-layer cost), with
 *     B, F and the launches as the planner counts them on that GPU (fitGpu, gpuModelTerms).
 * The fit is `fitCalibration`, a pure function (test/native/calibrate.test.ts). A noisy, shared machine
 * gives noisy numbers: the four models run in interleaved rounds (rounds.ts: all loaded in one
 * child, every test at every thread count once per round, up to CALIBRATE_ROUNDS; a DRAM model too
 * large to share the child runs its rounds in its own after the others), and each test keeps its
 * best round (contention only slows); impossible solutions (negative overheads) fall back to the
 * compute model alone, with a note.
 */
import {statSync} from 'node:fs'
import {cpus, loadavg} from 'node:os'
import {basename} from 'node:path'
import type {KernelResult} from '../engine/addon.js'
import {MoerigError} from '../lib/errors.js'
import {USAGE_EXIT} from '../lib/command.js'
import {checkOverwrite, writeJsonFile} from '../lib/fs.js'
import {maxThreads} from '../lib/threads.js'
import {runPlan} from '../planner/run.js'
import {planHosts} from '../planner/hardware.js'
import {
  CPU_LAYER_SYNC_PER_THREAD_S,
  CPU_LAYER_SYNC_S,
  GPU_LAYER_S,
  gpuSpecBandwidth,
  prefillRates,
} from '../planner/speed.js'
import {hardwareProfileSchema, type HardwareProfile} from '../schemas/hardware.js'
import type {BenchResult, PlacementRun} from '../schemas/bench.js'
import {assertValid} from '../schemas/validate.js'
import {calibrateResultSchema, type CalibrateResult, type CalibrationMeasurement} from '../schemas/calibrate.js'
import {runBench} from './bench.js'
import {checkModelFile} from './modelfile.js'
import {physicalCores} from './provenance.js'
import {geomean, median, solve3, testName} from './stats.js'
import {
  roundsFit,
  runRounds,
  roundsTps,
  type RoundsModel,
  type RoundsResult,
  type RoundsTest,
  type RoundsTestResult,
} from './rounds.js'
import {cachedSynthModel} from './synth.js'
import {
  capacitySamples,
  fasterOfRuns,
  firstRunCases,
  fitKernels,
  KERNEL_PASSES,
  measureKernels,
  type DecodeKernels,
} from './kernels.js'
import {SYNTH_PRESETS, type SynthPreset} from '../model/synth-presets.js'

export type Calibration = NonNullable<HardwareProfile['calibration']>

/** Planner quantities of one model at one thread count (see the header). */
export interface ModelTerms {
  name: string
  layers: number
  /** bytes read per decoded token (B) */
  bytes: number
  /** decode cost FLOPs per token (C: 2 × weights × ggml type cost) */
  costFlops: number
  /** the part of C on weights the planner takes as held by the last-level cache (0 when none) */
  costFlopsCache?: number
  /** attention at depth per token (s) — not calibrated, taken from the planner */
  attnS: number
  /** last-level-cache reads per token (s, S) — not calibrated, taken from the planner */
  cacheS: number
  /** effective prefill FLOPs per token at the plan's ubatch (F; without the measured attention) */
  prefillFlops: number
  /** the prefill ubatch's CPU flash attention by the measured attention kernels (s; absent: not measured, in F) */
  prefillAttnS?: number
  /** prompt tokens (= ubatch) of the prefill test F was planned for; 0 without one */
  nPrompt: number
  /** prefill's work besides the matmuls per prompt token, in activation elements (planner prefillRestUnits) */
  restUnits?: number
  /** decode time of the CPU's matrix × vector ops by the measured kernels (s; calibration.decodeKernels) */
  kernelS?: number
  /** the part of kernelS read from the last-level cache (each op's cache share × its cached time) */
  kernelCacheS?: number
}

export type Role = 'shallow' | 'deep' | 'compute' | 'dram' | 'gpu'

/** One measurement: a model's terms, the thread count, tg and/or pp t/s (best repetition). */
export interface Sample {
  role: Role
  terms: ModelTerms
  threads: number
  decodeTps: number | null
  prefillTps: number | null
  /** GPU samples: the index in the profile's gpus */
  gpuIndex?: number
  gpuName?: string
  backend?: string
  /** GPU samples: the GPU's published-class decode bandwidth (B/s: spec × η mid, planner/speed.ts gpuSpecBandwidth) */
  gpuSpecBw?: number
}

export interface FitMeta {
  measuredAt: string
  llamaCppRelease: string | null
  cpuVariant: string | null
  models: string[]
  notes?: string[]
  partial?: boolean
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d

/**
 * A GPU sample (a model fully offloaded: gpuSampleModel): what its token time says of that GPU. A
 * model small enough to calibrate quickly reads too few bytes to load a fast GPU's memory (on an
 * H200, r1-mini: 0.19 GB a token, 0.05 ms at the spec's rate × η, of a 1.48 ms token; r1-dram:
 * 1.54 GB, 0.42 of 3.70 ms), so its decode time is mostly the GPU's per-layer cost (kernel
 * launches, graph updates, the MoE's many small kernels: 109 and 131 µs a layer there,
 * docs/device/h200-2026-12-04b/), which no spec sheet gives; the bandwidth stays the
 * spec × η the planner uses without a calibration. Only where the bytes take most of the token
 * (a slow GPU) is the bandwidth fitted instead, with the planner's per-layer prior. The GPU runs
 * its layers and the output (gpuModelTerms: `layers` counts them), its attention at depth and the
 * CPU's per-token cost `tokenS` besides. Prefill: the ubatch's time less those per-layer costs is compute.
 */
export function fitGpu(
  s: Sample,
  tokenS: number,
): {layerUs?: number; bandwidthGBs?: number; prefillTflops?: number; note: string} {
  const name = `${s.gpuName ?? `GPU ${s.gpuIndex}`} (${s.terms.name} fully offloaded)`
  const launches = s.terms.layers
  const out: {layerUs?: number; bandwidthGBs?: number; prefillTflops?: number} = {}
  const why: string[] = []
  let layerS = GPU_LAYER_S.mid
  if (s.decodeTps) {
    const t = 1 / s.decodeTps
    const memS = s.gpuSpecBw ? s.terms.bytes / s.gpuSpecBw : Infinity
    if (memS < GPU_BYTES_SHARE_MAX * t) {
      const rest = t - memS - s.terms.attnS - tokenS
      if (rest > 0) {
        layerS = rest / launches
        out.layerUs = round(layerS * 1e6, 2)
        why.push(
          `decode ${(t * 1e3).toFixed(3)} ms a token: ${(memS * 1e3).toFixed(3)} ms of it the ${(s.terms.bytes / 1e9).toFixed(2)} GB at the spec's rate × η (${(s.gpuSpecBw! / 1e9).toFixed(0)} GB/s), the rest ${out.layerUs} µs per layer (${launches} with the output)`,
        )
      }
    } else {
      const rest = t - launches * layerS - s.terms.attnS - tokenS
      if (rest > 0) {
        out.bandwidthGBs = round(s.terms.bytes / rest / 1e9, 2)
        why.push(
          `decode ${(t * 1e3).toFixed(3)} ms a token, mostly its ${(s.terms.bytes / 1e9).toFixed(2)} GB: ${out.bandwidthGBs} GB/s effective with the planner's ${round(layerS * 1e6, 1)} µs per layer`,
        )
      }
    }
    if (out.layerUs === undefined && out.bandwidthGBs === undefined)
      why.push(`decode ${(t * 1e3).toFixed(3)} ms a token is under its memory and per-layer terms: nothing fitted`)
  }
  if (s.prefillTps && s.terms.nPrompt > 0) {
    const tUb = s.terms.nPrompt / s.prefillTps
    const rest = tUb - launches * layerS - tokenS
    if (rest > 0.5 * tUb) {
      out.prefillTflops = round((s.terms.prefillFlops * s.terms.nPrompt) / rest / 1e12, 4)
      why.push(`prefill ${out.prefillTflops} TFLOP/s besides the per-layer cost`)
    } else why.push('prefill: the per-layer cost takes most of the ubatch; no throughput')
  }
  return {...out, note: `${name}: ${why.join('; ') || 'nothing measured'}`}
}

/**
 * Overheads from decode times: y = C·g + L·λ + τ over the shallow, deep and compute models at one
 * thread count. Returns g (s per cost-FLOP), λ (s per layer), τ (s per token), and how.
 */
export function fitOverheads(
  shallow: Sample | undefined,
  deep: Sample | undefined,
  compute: Sample,
): {g: number; layerS: number; tokenS: number; how: string} {
  const y = (s: Sample) => 1 / s.decodeTps! - s.terms.attnS
  const c = compute.terms
  const computeOnly = (why: string) => ({g: Math.max(y(compute), 1e-12) / c.costFlops, layerS: 0, tokenS: 0, how: why})
  if (shallow?.decodeTps && deep?.decodeTps && compute.decodeTps) {
    const rows = [shallow, deep, compute]
    const sol = solve3(
      rows.map((s) => [s.terms.costFlops, s.terms.layers, 1]),
      rows.map(y),
    )
    if (sol && sol[0] > 0 && sol[1] >= 0 && sol[2] >= 0)
      return {
        g: sol[0],
        layerS: sol[1],
        tokenS: sol[2],
        how: `solved from ${rows.map((s) => s.terms.name).join(', ')} at ${compute.threads} threads`,
      }
    // The exact solution is negative when the small models' layers run faster per FLOP than the
    // compute model (their weights sit in L1/L2): then the pair's per-layer time, small matmuls
    // included, is the per-layer overhead (an upper bound) and τ what is left of the shallow model.
    const dl = deep.terms.layers - shallow.terms.layers
    if (dl > 0 && y(deep) > y(shallow)) {
      const layerS = (y(deep) - y(shallow)) / dl
      const tokenS = Math.max(0, y(shallow) - shallow.terms.layers * layerS)
      const g = (y(compute) - c.layers * layerS - tokenS) / c.costFlops
      if (g > 0)
        return {
          g,
          layerS,
          tokenS,
          how: `per-layer time of ${shallow.terms.name} vs ${deep.terms.name} (its small matmuls included: an upper bound), per-token the rest of ${shallow.terms.name}, at ${compute.threads} threads (the exact 3-model solution was negative: small layers run from cache)`,
        }
    }
    return computeOnly('overheads not resolvable from these timings (noise); set to 0, the compute model carries them')
  }
  if (shallow?.decodeTps && compute.decodeTps && shallow.terms.costFlops !== c.costFlops) {
    // two models: y = C·g + τ (no per-layer split)
    const g = (y(compute) - y(shallow)) / (c.costFlops - shallow.terms.costFlops)
    const tokenS = y(shallow) - shallow.terms.costFlops * g
    if (g > 0 && tokenS >= 0)
      return {
        g,
        layerS: 0,
        tokenS,
        how: `per-token overhead from ${shallow.terms.name} and ${c.name}; no per-layer split (the deep model was not measured)`,
      }
  }
  return computeOnly('overheads not measured; the compute model carries them')
}

/**
 * Cache-resident vs streamed decode compute (issue 13): the planner charges a cached weight's
 * FLOPs at the cache rate g_c and a streamed one's at the DRAM rate g_d (stalls included; every
 * matrix's FLOPs ÷ its width efficiency). With the shallow model mostly cached and the compute
 * model mostly streamed (the deep one anywhere between), three decode times solve
 *     y = C_cache·g_c + C_dram·g_d + L·λ        (per-token overhead τ taken as 0)
 * exactly; null when the models are not split that way or the solution is not positive (noise).
 */
export function fitCacheSplit(
  shallow: Sample | undefined,
  deep: Sample | undefined,
  compute: Sample,
): {gCache: number; gDram: number; layerS: number} | null {
  const rows = [shallow, deep, compute]
  if (rows.some((s) => !s?.decodeTps)) return null
  const share = (s: Sample) => (s.terms.costFlopsCache ?? 0) / s.terms.costFlops
  if (share(shallow!) < 0.5 || share(compute) >= 0.5) return null
  const sol = solve3(
    rows.map((s) => [
      s!.terms.costFlopsCache ?? 0,
      s!.terms.costFlops - (s!.terms.costFlopsCache ?? 0),
      s!.terms.layers,
    ]),
    rows.map((s) => 1 / s!.decodeTps! - s!.terms.attnS),
  )
  if (!sol || !(sol[0] > 0 && sol[1] > 0 && sol[2] >= 0)) return null
  return {gCache: sol[0], gDram: sol[1], layerS: sol[2]}
}

/** At another thread count: g_c and g_d from the shallow and compute models, λ as fitted (2 × 2). */
export function fitCacheSplitAt(
  shallow: Sample,
  compute: Sample,
  layerS: number,
): {gCache: number; gDram: number} | null {
  const row = (s: Sample) => [s.terms.costFlopsCache ?? 0, s.terms.costFlops - (s.terms.costFlopsCache ?? 0)]
  const y = (s: Sample) => 1 / s.decodeTps! - s.terms.attnS - s.terms.layers * layerS
  const [a, b] = row(shallow),
    [c, d] = row(compute)
  const det = a * d - b * c
  if (!shallow.decodeTps || !compute.decodeTps || Math.abs(det) < 1e-30) return null
  const gCache = (y(shallow) * d - b * y(compute)) / det
  const gDram = (a * y(compute) - c * y(shallow)) / det
  return gCache > 0 && gDram > 0 ? {gCache, gDram} : null
}

/**
 * Prefill's time besides the matmuls at the measured kernels (reference rate at this thread count),
 * the measured attention and the per-layer overhead, per prompt token and activation element of the
 * CPU's blocks (planner prefillRestUnits): the geometric mean over the samples that leave a positive
 * rest. A per-element price fits both deepseek2 shapes (their non-matmul share 4–16 %), where the
 * fitted FLOP rate alone charged r1-dram (matmul-bound: 1.5–1.8 % rest) that share too. Until the
 * sixteenth session the unit was a routed expert of a MoE layer, which fitted tiny and r1-mini only
 * while the last block's FFN was charged for every row (docs/speed-fidelity.md).
 */
/** A prefill sample's ubatch (= its prompt) less one graph evaluation's overheads and the measured attention (s). */
function prefillComputeS(x: Sample, layerS: number, tokenS: number): number {
  return x.terms.nPrompt / x.prefillTps! - x.terms.layers * layerS - tokenS - (x.terms.prefillAttnS ?? 0)
}

export function prefillOther(
  xs: Sample[],
  kernels: DecodeKernels | undefined,
  layerS: number,
  tokenS: number,
): {ns: number; ref: number; each: Array<{name: string; ns: number}>} | null {
  const ref = kernels?.prefill?.length ? prefillRates(kernels, xs[0]?.threads ?? 1)?.ref : undefined
  if (!ref) return null
  const each: Array<{name: string; ns: number}> = []
  for (const x of xs) {
    const n = x.terms.nPrompt
    if (!x.prefillTps || n <= 0 || !x.terms.restUnits) continue
    const rest = prefillComputeS(x, layerS, tokenS) - (n * x.terms.prefillFlops) / ref
    if (rest > 0) each.push({name: x.terms.name, ns: (rest / (n * x.terms.restUnits)) * 1e9})
  }
  return each.length ? {ns: geomean(each.map((e) => e.ns)), ref, each} : null
}

/**
 * The calibration section from measurements (pure: fake measurements in, section out).
 * `samples`: shallow/deep/compute decode, compute prefill, one dram decode, GPU samples.
 */
export function fitCalibration(samples: Sample[], meta: FitMeta, kernels?: DecodeKernels): Calibration {
  const notes = [...(meta.notes ?? [])]
  const cal: Calibration = {
    provenance: 'measured',
    measuredAt: meta.measuredAt,
    llamaCppRelease: meta.llamaCppRelease,
    cpuVariant: meta.cpuVariant,
    models: meta.models,
  }
  const computes = samples.filter((s) => s.role === 'compute').sort((a, b) => a.threads - b.threads)
  const firstDecode = computes.find((s) => s.decodeTps)
  let layerS = 0,
    tokenS = 0
  const shallow1 = firstDecode
    ? samples.find((s) => s.role === 'shallow' && s.threads === firstDecode.threads)
    : undefined
  let split = firstDecode
    ? fitCacheSplit(
        shallow1,
        samples.find((s) => s.role === 'deep' && s.threads === firstDecode.threads),
        firstDecode,
      )
    : null
  if (!split && firstDecode && shallow1?.decodeTps) {
    // the three decode times disagree (noise): the shallow and compute models alone, with the
    // per-layer cost the planner assumes without a calibration (speed.ts CPU_LAYER_SYNC_*)
    const prior = CPU_LAYER_SYNC_S.mid + CPU_LAYER_SYNC_PER_THREAD_S.mid * firstDecode.threads
    const share = (x: Sample) => (x.terms.costFlopsCache ?? 0) / x.terms.costFlops
    const two =
      share(shallow1) >= 0.5 && share(firstDecode) < 0.5 ? fitCacheSplitAt(shallow1, firstDecode, prior) : null
    if (two) {
      split = {...two, layerS: prior}
      notes.push(
        `the cache-resident pair and the compute model gave no positive solution (noise): per-layer cost taken as the planner's prior ${round(prior * 1e6, 2)} µs, cached and streamed rates from ${shallow1.terms.name} and ${firstDecode.terms.name}`,
      )
    }
  }
  if (split) {
    layerS = split.layerS
    notes.push(
      `overheads and decode compute solved from the cache-resident pair and the streamed compute model at ${firstDecode!.threads} threads: ${round(1 / split.gCache / 1e9, 2)} GFLOP/s on cached weights, ${round(1 / split.gDram / 1e9, 2)} GFLOP/s streamed (stalls included), ${round(layerS * 1e6, 2)} µs per layer, per-token overhead taken as 0`,
    )
    cal.tokenOverheadMs = 0
    cal.layerOverheadUs = round(layerS * 1e6, 2)
  } else if (firstDecode) {
    const t = firstDecode.threads
    const o = fitOverheads(
      samples.find((s) => s.role === 'shallow' && s.threads === t),
      samples.find((s) => s.role === 'deep' && s.threads === t),
      firstDecode,
    )
    layerS = o.layerS
    tokenS = o.tokenS
    notes.push(`overheads: ${o.how}`)
    cal.tokenOverheadMs = round(tokenS * 1e3, 4)
    cal.layerOverheadUs = round(layerS * 1e6, 2)
  } else {
    // stopped before the compute model: the shallow/deep pair alone (its small matmuls included)
    const sh = samples.find((s) => s.role === 'shallow' && s.decodeTps)
    const dp = samples.find((s) => s.role === 'deep' && s.decodeTps && s.threads === sh?.threads)
    if (sh && dp && dp.terms.layers > sh.terms.layers) {
      const y = (s: Sample) => 1 / s.decodeTps! - s.terms.attnS
      layerS = Math.max(0, (y(dp) - y(sh)) / (dp.terms.layers - sh.terms.layers))
      tokenS = Math.max(0, y(sh) - sh.terms.layers * layerS)
      cal.tokenOverheadMs = round(tokenS * 1e3, 4)
      cal.layerOverheadUs = round(layerS * 1e6, 2)
      notes.push(`overheads from ${sh.terms.name} vs ${dp.terms.name} alone (no compute model measured): upper bounds`)
    }
  }
  const throughput: NonNullable<Calibration['cpuThroughput']> = []
  for (const s of computes) {
    const p: NonNullable<Calibration['cpuThroughput']>[number] = {threads: s.threads}
    const sh = samples.find((x) => x.role === 'shallow' && x.threads === s.threads)
    const at = split && sh ? (s === firstDecode ? split : fitCacheSplitAt(sh, s, layerS)) : null
    if (at) {
      p.decodeGflops = round(1 / at.gDram / 1e9, 2)
      p.decodeCacheGflops = round(1 / at.gCache / 1e9, 2)
    } else if (s.decodeTps) {
      const rest = 1 / s.decodeTps - s.terms.attnS - s.terms.layers * layerS - tokenS
      if (rest > 0.05 / s.decodeTps) p.decodeGflops = round(s.terms.costFlops / rest / 1e9, 2)
      else
        notes.push(
          `decode at ${s.threads} threads: overheads take the whole token time of ${s.terms.name}; no decode throughput`,
        )
    }
    if (s.prefillTps) {
      // one ubatch = the prompt: its time less one graph evaluation's overhead is compute
      // (its length unknown, nPrompt 0: no overhead taken off)
      const rate = (x: Sample) => {
        const n = x.terms.nPrompt > 0 ? x.terms.nPrompt : 1
        const tUb = n / x.prefillTps!
        const tCompute = x.terms.nPrompt > 0 ? prefillComputeS(x, layerS, tokenS) : tUb
        return (x.terms.prefillFlops * n) / (tCompute > 0.5 * tUb ? tCompute : tUb)
      }
      // with prefill kernels (FLOPs weighed per type: the shapes' FLOPs are comparable) the
      // shallow model's prefill too: the geometric mean of two shapes' samples, not one's noise
      const more = kernels?.prefill?.length
        ? samples.filter((x) => x.role === 'shallow' && x.threads === s.threads && x.prefillTps && x.terms.nPrompt > 0)
        : []
      p.prefillGflops = round(geomean([s, ...more].map(rate)) / 1e9, 2)
      const other = prefillOther([s, ...more], kernels, layerS, tokenS)
      if (other) {
        p.prefillRestNs = round(other.ns, 4)
        notes.push(
          `prefill at ${s.threads} threads besides the matmuls at the measured kernels (reference ${round(other.ref / 1e9, 1)} GFLOP/s): ${other.each.map((e) => `${e.name} ${round(e.ns, 3)}`).join(', ')} ns per token and activation element → ${round(other.ns, 3)}`,
        )
      }
      if (more.length)
        notes.push(
          `prefill at ${s.threads} threads: geometric mean of ${[s, ...more].map((x) => `${x.terms.name} ${round(rate(x) / 1e9, 2)}`).join(' and ')} GFLOP/s (reference FLOPs: the prefill kernels weigh each type)`,
        )
    }
    if (p.decodeGflops !== undefined || p.prefillGflops !== undefined) throughput.push(p)
  }
  // more threads are never slower on a machine of one's own: a thread count that measured below the
  // one before it measured other processes (a descheduled thread stalls every barrier), so it keeps
  // the fewer threads' throughput, with a note
  for (let i = 1; i < throughput.length; i++) {
    const prev = throughput[i - 1],
      cur = throughput[i]
    for (const k of ['decodeGflops', 'decodeCacheGflops', 'prefillGflops'] as const) {
      const a = prev[k],
        b = cur[k]
      if (a !== undefined && b !== undefined && b < a) {
        notes.push(
          `${k === 'decodeGflops' ? 'decode' : k === 'decodeCacheGflops' ? 'decode (cached weights)' : 'prefill'} at ${cur.threads} threads measured ${b} GFLOP/s, below ${prev.threads} threads' ${a}: contention on a shared machine; ${a} kept for ${cur.threads} threads`,
        )
        cur[k] = a
      }
    }
  }
  if (throughput.length) cal.cpuThroughput = throughput
  const dram = samples.filter((s) => s.role === 'dram' && s.decodeTps).sort((a, b) => b.threads - a.threads)[0]
  if (dram) {
    const tMem = 1 / dram.decodeTps! - dram.terms.attnS - dram.terms.cacheS - dram.terms.layers * layerS - tokenS
    // under 0.5 MB/s rounds to 0, which no profile may hold (a loaded machine, a tiny model): no bandwidth
    const gbs = tMem > 0 ? round(dram.terms.bytes / tMem / 1e9, 3) : 0
    if (gbs > 0) {
      cal.decodeBandwidthGBs = gbs
      cal.decodeThreads = dram.threads
      const g = throughput.find((p) => p.threads === dram.threads)?.decodeGflops
      if (g && dram.terms.costFlops / (g * 1e9) >= tMem) {
        notes.push(
          `${dram.terms.name} at ${dram.threads} threads was compute-bound by the calibrated decode throughput (${g} GFLOP/s): ${cal.decodeBandwidthGBs} GB/s is a lower bound of the bandwidth`,
        )
      }
      notes.push(
        `decode bandwidth: ${(dram.terms.bytes / 2 ** 30).toFixed(2)} GiB per token × ${dram.decodeTps!.toFixed(2)} t/s on ${dram.terms.name} at ${dram.threads} threads, less the overheads`,
      )
    } else if (tMem > 0)
      notes.push(`${dram.terms.name}: the token time left after the overheads gives under 0.001 GB/s; no bandwidth`)
    else notes.push(`${dram.terms.name}: overheads exceed the token time; no bandwidth`)
  }
  const gpus = samples.filter((s) => s.role === 'gpu' && s.gpuIndex !== undefined)
  cal.gpus = gpus.map((s) => {
    const g = fitGpu(s, tokenS)
    notes.push(g.note)
    return {
      index: s.gpuIndex!,
      ...(s.gpuName ? {name: s.gpuName} : {}),
      ...(g.layerUs !== undefined ? {layerUs: g.layerUs} : {}),
      ...(g.bandwidthGBs !== undefined ? {bandwidthGBs: g.bandwidthGBs} : {}),
      ...(g.prefillTflops !== undefined ? {prefillTflops: g.prefillTflops} : {}),
      ...(s.backend ? {backend: s.backend} : {}),
    }
  })
  if (kernels) {
    const overheads = fitKernelOverheads(samples)
    if (overheads.length) {
      cal.decodeKernels = {...kernels, overheads}
      notes.push(
        `decode kernels: ${new Set(kernels.kernels.map((x) => x.type)).size} ggml types timed (cache and DRAM); per layer and per token besides them, from ${samples.find((s) => s.role === 'shallow')?.terms.name} and ${samples.find((s) => s.role === 'deep')?.terms.name}: ${overheads.map((o) => `${o.threads}t ${o.layerUs} µs/layer + ${o.tokenUs} µs/token`).join(', ')}`,
      )
      const busy = busyScales(overheads)
      if (busy.length)
        notes.push(
          `the models ran slower than their own kernels add up to (× ${busy.map((o) => `${o.scale!.toFixed(2)} at ${o.threads}t`).join(', ')}; ${BUSY_SCALE_QUIET} on a quiet machine): the machine was likely busier during the model rounds than during the kernel passes, and predictions from this calibration may be off by 10–40 % — run calibrate again when it is quiet`,
        )
    } else
      notes.push('decode kernels measured, but no shallow/deep pair at a thread count to fit the overheads: not used')
  }
  if (meta.partial) cal.partial = true
  cal.notes = notes
  return cal
}

/**
 * The measured kernels in the models, per thread count: decode time y = s·K + L·λ + τ (K the
 * kernels' time for the model, attention taken off y). The scale s (how the kernels run inside a
 * model relative to the benchmark's best short window: activations, expert selection, the ops
 * between them, sustained load) comes from the big models measured at that thread count (compute
 * and DRAM: the ones decode speed matters for; geometric mean of (y − L·λ − τ) ÷ K), then λ and τ
 * from the shallow/deep pair with s fixed (only the layer count differs); the two steps alternate
 * until they agree. Never negative: a negative λ gives λ = 0 and τ the pair's mean rest, a negative
 * τ gives τ = 0 and λ by least squares through the origin. Without a big model s = 1. Then, where
 * the samples carry their kernels' cached part C (kernelCacheS), the cached reads get their own
 * scale s_c = (y − L·λ − τ − s·(K − C)) ÷ C from the shallow model (mostly cached): the planner
 * scales a model's cached reads by s_c, its streamed ones by s.
 */
export function fitKernelOverheads(samples: Sample[]): DecodeKernels['overheads'] {
  const out: DecodeKernels['overheads'] = []
  const threads = [...new Set(samples.filter((s) => s.role === 'shallow').map((s) => s.threads))].sort((a, b) => a - b)
  for (const t of threads) {
    const at = (role: Role) =>
      samples.find((s) => s.role === role && s.threads === t && s.decodeTps && s.terms.kernelS !== undefined)
    const sh = at('shallow'),
      dp = at('deep')
    if (!sh || !dp || dp.terms.layers <= sh.terms.layers) continue
    const big = [at('compute'), at('dram')].filter((x): x is Sample => x !== undefined && x.terms.kernelS! > 0)
    const y = (x: Sample) => 1 / x.decodeTps! - x.terms.attnS
    let scale = 1,
      layerS = 0,
      tokenS = 0
    for (let i = 0; i < KERNEL_FIT_ROUNDS; i++) {
      if (big.length) {
        scale = geomean(big.map((x) => Math.max(1e-9, y(x) - x.terms.layers * layerS - tokenS) / x.terms.kernelS!))
      }
      const rest = (x: Sample) => y(x) - scale * x.terms.kernelS!
      layerS = (rest(dp) - rest(sh)) / (dp.terms.layers - sh.terms.layers)
      tokenS = rest(sh) - sh.terms.layers * layerS
      if (layerS < 0) {
        layerS = 0
        tokenS = Math.max(0, (rest(sh) + rest(dp)) / 2)
      } else if (tokenS < 0) {
        tokenS = 0
        layerS = Math.max(
          0,
          (rest(sh) * sh.terms.layers + rest(dp) * dp.terms.layers) / (sh.terms.layers ** 2 + dp.terms.layers ** 2),
        )
      }
    }
    // the cached kernels' own scale: the shallow model (cache-resident) with the overheads above.
    // Inside a model cached kernels sit nearer the benchmark than streamed ones (a Zen 4 guest:
    // tiny 1.11×, r1-dram 1.71× on one calibration), and s from the large models charged the
    // cache-resident shapes 10–16 % too much at one thread (docs/speed-fidelity.md, sixth pass)
    const c = sh.terms.kernelCacheS
    const scaleCache =
      big.length && c !== undefined && c > 0.5 * sh.terms.kernelS!
        ? (y(sh) - sh.terms.layers * layerS - tokenS - scale * (sh.terms.kernelS! - c)) / c
        : null
    out.push({
      threads: t,
      ...(big.length ? {scale: round(scale, 4)} : {}),
      ...(scaleCache !== null && scaleCache > 0 ? {scaleCache: round(scaleCache, 4)} : {}),
      layerUs: round(layerS * 1e6, 2),
      tokenUs: round(tokenS * 1e6, 2),
    })
  }
  return out
}

/**
 * A budget (whole minutes) in which the tests a budget of `budgetS` cut short would all have run
 * once, at the pace they ran (pure): the budget × the tests ÷ those that ran, rounded up; at least
 * one minute more than the budget.
 */
export function budgetHintMinutes(budgetS: number, ran: number, all: number): number {
  const s = ran > 0 ? (budgetS * all) / ran : budgetS * 2
  return Math.max(Math.ceil(s / 60), Math.floor(budgetS / 60) + 1)
}

/**
 * In-model scale above which a calibration says the machine was busy (pure check in busyScales):
 * on a Zen 4 guest quiet calibrations fitted 0.89–0.98 at 1 and 2 threads (bench/speed-fidelity
 * passes 32, 34, 36–38); two taken while other guests slowed every test by 10–40 % fitted 1.06
 * and 1.45 at one thread (passes 33, 35), and their plans missed 4–5 of 8 rows.
 */
export const BUSY_SCALE = 1.05
const BUSY_SCALE_QUIET = '0.89–0.98'
/** The overheads whose in-model scale says the models ran in busier minutes than the kernels (pure). */
export function busyScales(overheads: DecodeKernels['overheads']): DecodeKernels['overheads'] {
  return overheads.filter((o) => (o.scale ?? 0) > BUSY_SCALE)
}

/** Alternations of the scale and overhead fits (they agree to < 0.1 % after a few on real timings). */
const KERNEL_FIT_ROUNDS = 8

// ------------------------------------------------------------------------------------------------
// planner terms

/**
 * The CPU part of a profile with a unit calibration: its plan's predicted milliseconds are the model's
 * terms. With measured kernels, their prefill rates (and the cached matrix × vector lines that
 * repacked experts run in prefill) weigh the prefill FLOPs as the planner will; nothing else of them
 * (no overheads: decode stays on the rate terms).
 */
function unitProfile(
  base: HardwareProfile,
  threads: number,
  cacheGflops = 1,
  kernels?: DecodeKernels,
): HardwareProfile {
  const prefill = kernels?.prefill?.length
    ? {
        decodeKernels: {
          kernels: kernels.kernels,
          ops: [],
          overheads: [],
          prefill: kernels.prefill,
          // the routed experts' own MUL_MAT_ID rates, as the planner weighs them (without them F
          // weighed plain-buffer experts at the 2-D rate, and calibrate fitted on another F than plans use)
          ...(kernels.prefillExperts?.length ? {prefillExperts: kernels.prefillExperts} : {}),
          ...(kernels.attention?.length ? {attention: kernels.attention} : {}),
        },
      }
    : {}
  return {
    ...base,
    gpus: [],
    calibration: {
      provenance: 'measured',
      measuredAt: new Date(0).toISOString(),
      decodeBandwidthGBs: 1,
      decodeThreads: threads,
      cpuThroughput: [{threads, decodeGflops: 1, decodeCacheGflops: cacheGflops, prefillGflops: 1}],
      tokenOverheadMs: 0,
      layerOverheadUs: 1,
      ...prefill,
    },
  }
}

/**
 * B, C, A, L and F of a GGUF as the planner counts them (see the header), planned at the depth the
 * bench runs: the planner charges decode at half the context and prefill attention over half the
 * context, so a tg<n> test is planned with context n (mean depth n/2) and a pp<n> test with context
 * n and ubatch n (the causal mean, and the expert batch that ran).
 */
export async function modelTerms(
  path: string,
  base: HardwareProfile,
  threads: number,
  test: {nPrompt: number; nGen: number},
  name = basename(path),
  kernels?: DecodeKernels,
): Promise<ModelTerms> {
  const plan = async (ctx: number, ubatch: number, profile: HardwareProfile) =>
    runPlan({
      model: path,
      hardware: 'calibration',
      engine: 'llama.cpp',
      threads: Math.min(threads, base.cpu.threads),
      ubatch,
      ctx,
      profiles: [profile],
    })
  const at = (ctx: number, ubatch: number, cacheGflops = 1) =>
    plan(ctx, ubatch, unitProfile(base, threads, cacheGflops, kernels))
  const decPlan = await at(Math.max(1, test.nGen), 512)
  const dec = decPlan.prediction
  // the same plan with cached weights computed at 10⁶ GFLOP/s leaves the streamed part of C
  const streamed = (await at(Math.max(1, test.nGen), 512, 1e6)).prediction.decodeMs!.cpuCompute! * 1e6
  const pre = test.nPrompt > 0 ? (await at(test.nPrompt, test.nPrompt)).prediction : null
  const ms = dec.decodeMs!
  // the prefill ubatch also pays one graph evaluation's overhead: here layers × 1 µs (= ms.sync)
  const preAttnMs = pre?.prefillAttentionMs ?? 0
  const preMs = pre ? pre.prefillMsPerUbatch! - (pre.decodeMs?.sync ?? 0) - preAttnMs : 0
  // the rest's elements per token (planner prefillRestUnits): what 1 µs more per element adds to the
  // ubatch, where the planner prices a rest (measured prefill kernels, a deepseek2 model)
  let restUnits: number | undefined
  if (pre && kernels?.prefill?.length) {
    const withRest = async (ns: number) => {
      const u = unitProfile(base, threads, 1, kernels)
      u.calibration!.cpuThroughput = u.calibration!.cpuThroughput!.map((p) => ({...p, prefillRestNs: ns}))
      return (await plan(test.nPrompt, test.nPrompt, u)).prediction.prefillMsPerUbatch!
    }
    const perUs = ((await withRest(1001)) - (await withRest(1))) / (1e-3 * test.nPrompt)
    if (perUs > 0) restUnits = Math.round(perUs)
  }
  // the measured kernels' time for this model (overheads 0 at this thread count): decodeMs.cpu
  let kernelS: number | undefined, kernelCacheS: number | undefined
  // attention at depth: the measured decode attention where the kernels have it (as the plan will charge it)
  let attnS = ms.attention! * 1e-3
  if (kernels) {
    const decodeMs = async (dk: DecodeKernels) =>
      (
        await plan(Math.max(1, test.nGen), 512, {
          ...base,
          gpus: [],
          calibration: {provenance: 'measured', measuredAt: new Date(0).toISOString(), decodeKernels: dk},
        })
      ).prediction.decodeMs!
    const cpuS = async (dk: DecodeKernels) => (await decodeMs(dk)).cpu! * 1e-3
    const dk: DecodeKernels = {...kernels, overheads: [{threads, layerUs: 0, tokenUs: 0}]}
    const withKernels = await decodeMs(dk)
    kernelS = withKernels.cpu! * 1e-3
    if (kernels.decodeAttention?.length) attnS = withKernels.attention! * 1e-3
    // the same with the cached timings at 0 leaves the DRAM part
    const dramOnly = await cpuS({
      ...dk,
      kernels: dk.kernels.map((x) => (x.residency === 'cache' ? {...x, nsPerRow: 0, nsPerWeight: 0} : x)),
      ops: (dk.ops ?? []).map((x) => (x.residency === 'cache' ? {...x, us: 0} : x)),
    })
    kernelCacheS = Math.max(0, kernelS - dramOnly)
  }
  return {
    ...(kernelS !== undefined ? {kernelS} : {}),
    ...(kernelCacheS !== undefined ? {kernelCacheS} : {}),
    name,
    bytes: ms.cpuMemory! * 1e6, // DRAM bytes: ms at 1 GB/s
    costFlops: ms.cpuCompute! * 1e6, // ms at 1 GFLOP/s
    costFlopsCache: Math.max(0, ms.cpuCompute! * 1e6 - streamed),
    attnS,
    cacheS: (ms.cpuCache ?? 0) * 1e-3,
    layers: Math.round(ms.sync! * 1e3), // ms at 1 µs per layer
    prefillFlops: pre ? (Math.max(0, preMs) * 1e6) / test.nPrompt : 0,
    ...(pre?.prefillAttentionMs !== undefined ? {prefillAttnS: pre.prefillAttentionMs * 1e-3} : {}),
    nPrompt: pre ? test.nPrompt : 0,
    ...(restUnits !== undefined ? {restUnits} : {}),
  }
}

/**
 * A GPU sample's terms as the planner counts them for that GPU: the model fully offloaded to it
 * (-ngl all) on a unit calibration (1 GB/s, 1 GFLOP/s, 1 µs per layer), so the plan's milliseconds
 * are its bytes per token, its GPU FLOPs per ubatch and its per-layer launches (layers + output).
 * `layers` here counts those launches; attnS is the GPU's attention at depth (not calibrated).
 */
export async function gpuModelTerms(
  path: string,
  base: HardwareProfile,
  gpuIndex: number,
  test: {nPrompt: number; nGen: number},
  name = basename(path),
): Promise<ModelTerms> {
  const unit: HardwareProfile = {
    ...base,
    calibration: {
      provenance: 'measured',
      measuredAt: new Date(0).toISOString(),
      tokenOverheadMs: 0,
      layerOverheadUs: 0,
      gpus: [{index: gpuIndex, bandwidthGBs: 1, prefillTflops: 0.001, layerUs: 1}],
    },
  }
  const plan = async (ctx: number, ubatch: number) =>
    (
      await runPlan({
        model: path,
        hardware: 'calibration',
        engine: 'llama.cpp',
        placement: 'all-gpu',
        ubatch,
        ctx,
        profiles: [unit],
      })
    ).prediction
  const dec = await plan(Math.max(1, test.nGen), 512)
  const ms = dec.decodeMs!
  const pre = test.nPrompt > 0 ? await plan(test.nPrompt, test.nPrompt) : null
  const syncMs = (x: typeof dec) => x.decodeMs?.sync ?? 0
  return {
    name,
    layers: Math.round(ms.sync! * 1e3),
    bytes: ms.gpu! * 1e6,
    costFlops: 0,
    attnS: (ms.attention ?? 0) * 1e-3,
    cacheS: 0,
    prefillFlops: pre ? (Math.max(0, pre.prefillMsPerUbatch! - syncMs(pre)) * 1e6) / test.nPrompt : 0,
    nPrompt: pre ? test.nPrompt : 0,
  }
}

// ------------------------------------------------------------------------------------------------
// running

/** "5m", "90s", "300", "1m30s" → seconds. */
export function parseBudget(text: string): number {
  const m = /^\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s?)?\s*$/i.exec(text)
  const s = m && (m[1] !== undefined || m[2] !== undefined) ? Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0) : NaN
  if (!Number.isFinite(s) || s <= 0 || s > 24 * 3600)
    throw new MoerigError(
      'E_USAGE',
      `--budget must be a duration like 5m, 90s or 1m30s (at most 24h), got "${text}"`,
      USAGE_EXIT,
    )
  return s
}

/** "1,2,4" or "1-4" → sorted unique thread counts, each within this machine. */
export function parseThreadList(text: string | undefined, max = maxThreads(), cores = physicalCores()): number[] {
  if (text === undefined) return Array.from({length: Math.max(1, Math.min(cores, max))}, (_, i) => i + 1)
  const out = new Set<number>()
  for (const part of text.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!m)
      throw new MoerigError(
        'E_USAGE',
        `--threads must be a list like 1,2,4 or a range like 1-8, got "${text}"`,
        USAGE_EXIT,
      )
    const a = Number(m[1]),
      b = Number(m[2] ?? m[1])
    if (a < 1 || b < a || b > max)
      throw new MoerigError(
        'E_USAGE',
        `--threads ${part}: thread counts must be 1..${max} on this machine (low-high ascending)`,
        USAGE_EXIT,
      )
    for (let i = a; i <= b; i++) out.add(i)
  }
  return [...out].sort((x, y) => x - y)
}

/** The deep twin of `tiny`: the same blocks, 16 layers (only the layer count differs). */
export const DEEP_PRESET = 'tiny-deep16'
function ensureDeepPreset(): void {
  if (Object.hasOwn(SYNTH_PRESETS, DEEP_PRESET)) return
  const t = SYNTH_PRESETS.tiny
  const p: SynthPreset = {
    name: DEEP_PRESET,
    description: 'tiny with 16 blocks (calibrate: per-layer overhead)',
    vocab: t.vocab,
    hparams: {...t.hparams, nLayer: 16},
  }
  SYNTH_PRESETS[DEEP_PRESET] = p
}

/** The DRAM-bound preset when synth has one (r1-dram), else r1-mini with a note. */
export function dramPreset(): {preset: string; note: string | null} {
  if (Object.hasOwn(SYNTH_PRESETS, 'r1-dram')) return {preset: 'r1-dram', note: null}
  return {
    preset: 'r1-mini',
    note: 'synth has no DRAM-bound preset (r1-dram); r1-mini (0.2 GB per token) stands in: the bandwidth may be a cache bandwidth',
  }
}

/** Repetitions of the small models (tiny, tiny-deep16): milliseconds each, and the overheads rest on them. */
export const SMALL_MODEL_REPS = 5
/** Budget (s) below which the big models (r1-mini, r1-dram) are not run. */
export const SMALL_BUDGET_S = 120
/** Budget (s) from which a small-budget calibration still times the decode kernels (≈ 20 s at two thread counts). */
export const KERNELS_MIN_BUDGET_S = 60

export interface CalibrateOptions {
  /** profile to start from (its calibration is replaced) */
  profile: HardwareProfile
  /** where to write the calibrated profile; null = do not write */
  savePath: string | null
  force?: boolean
  /** the profile file given with --hardware (never written unless it is savePath) */
  inputs?: string[]
  threads: number[]
  budgetS: number
  /** the DRAM-bound model (default: the r1-dram preset) */
  model?: string
  /** repetitions per test (default 2; the best is used) */
  reps?: number
  /**
   * more models and tests to run in the calibration models' rounds (the first rounds child), for
   * the caller (bench/speed-fidelity): results through CalibrateEvents.onExtraRounds, never fitted
   */
  extraRounds?: {models: RoundsModel[]; tests: RoundsTest[]}
  /** true once the user asked to stop (Ctrl-C): no new measurement starts */
  stopRequested?: () => boolean
  childEnv?: NodeJS.ProcessEnv
}

export interface CalibrateEvents {
  onPhase?(label: string, total?: number): void
  onRep?(index: number, reps: number, tps: number): void
  /** decode kernel cases done of total (the kernel benchmark) */
  onCase?(done: number, total: number): void
  onStep?(line: string): void
  onInterrupt?(): void
  /** CalibrateOptions.extraRounds' tests after their rounds, in order */
  onExtraRounds?(tests: RoundsTestResult[]): void
}

/**
 * Decode and prefill t/s of a bench result. On a shared machine another process only ever slows a
 * step down (with few cores, a descheduled thread stalls every barrier of the others), so the
 * fastest is the machine's own speed. 'token' (what calibrate fits on): decode = 1 ÷ the
 * fastest single-token step of the tg test, prefill = the best repetition. The kernel benchmark keeps
 * each case's fastest graph (a few ms); a repetition of 16 r1-mini tokens lasts 0.25 s, of 8 r1-dram
 * tokens 0.8 s, and on a shared machine the longer the window the more of the others' bursts it
 * carries (one calibration on a Zen 4 guest: r1-dram's best repetition ran 1.71× its kernel sum,
 * tiny's 1.11×; one fidelity pass judged both ways with bench/speed-refit: fitted and judged on
 * fastest steps, in-model kernel scale 1.21 at one thread and decode median error 9.1 %; on best
 * repetitions 1.53 and 13.1 %).
 * 'best': the best repetition for both; 'median': the median repetition.
 */
export function benchTps(
  r: BenchResult,
  stat: 'token' | 'best' | 'median' = 'token',
): {decode: number | null; prefill: number | null} {
  const tg = r.results.find((x) => x.nGen > 0 && x.nPrompt === 0)
  const pp = r.results.find((x) => x.nPrompt > 0 && x.nGen === 0)
  const pick = (xs: number[]) => (stat !== 'median' ? (xs.length ? Math.max(...xs) : null) : median(xs))
  const decode = !tg ? null : stat === 'token' && tg.tokenMs ? 1000 / tg.tokenMs.fastest : pick(tg.samples)
  return {decode, prefill: pp ? pick(pp.samples) : null}
}

/**
 * The CPU samples' placement: no offload device at all (llama.cpp's --device none). With a GPU in
 * the engine, -ngl 0 alone still keeps CPU weights in the GPU's pinned host buffer and hands
 * prompt batches of 32+ tokens to the GPU (op offload, llama-context.cpp), so a "CPU" prefill
 * would time the GPU and the PCIe link.
 */
export const cpuOnly = (p: Partial<PlacementRun> = {}): Partial<PlacementRun> => ({...p, devices: []})

/**
 * The GPU sample's model: the DRAM-bound one where it fits the GPU's free memory with this margin
 * (KV, compute buffers, the CUDA context) plus GPU_SAMPLE_SPARE_BYTES, else the compute model.
 * r1-mini's matmuls are too small to say what a GPU does with R1's: on an H200 its prefill ran
 * at 17.6 TFLOP/s, r1-dram's at ≈ 60 (docs/device/h200-2026-12-04b/); the larger the model,
 * the nearer its per-layer cost and prefill rate to R1's.
 */
export const GPU_SAMPLE_MARGIN = 1.15
export const GPU_SAMPLE_SPARE_BYTES = 1 * 2 ** 30

export function gpuSampleModel(dramPath: string | null, computePath: string, freeBytes: number): string {
  if (dramPath === null || !(freeBytes > 0)) return computePath
  let size: number
  try {
    size = statSync(dramPath).size
  } catch {
    return computePath
  }
  return size * GPU_SAMPLE_MARGIN + GPU_SAMPLE_SPARE_BYTES <= freeBytes ? dramPath : computePath
}

/**
 * A GPU sample fits the bandwidth only when the model's bytes at the spec's rate take at least this
 * share of its token time; under it, the per-layer cost (fitGpu).
 */
export const GPU_BYTES_SHARE_MAX = 0.5

/** at most this many interleaved rounds of the calibration models (rounds.ts) */
export const CALIBRATE_ROUNDS = 6
/** the rounds may take this share of the budget left, loading included (the rest: GPUs, the last test's overrun) */
export const ROUNDS_BUDGET_SHARE = 0.8
/** the cache-resident models' rounds may take this share of the budget left when a DRAM model follows in its own child */
export const SMALL_ROUNDS_SHARE = 0.4

export async function runCalibrate(opts: CalibrateOptions, ev: CalibrateEvents = {}): Promise<CalibrateResult> {
  const t0 = Date.now()
  const load0 = loadavg()
  if (opts.savePath !== null)
    checkOverwrite(opts.savePath, {
      kind: 'hardware',
      force: opts.force,
      what: '--save',
      inputs: opts.model ? [opts.model] : [],
    })
  // a bad --model is one line now, not after minutes of measuring
  if (opts.model) await checkModelFile(opts.model)
  const reps = opts.reps ?? 2
  const small = opts.budgetS < SMALL_BUDGET_S
  const notes: string[] = []
  const samples: Sample[] = []
  const measurements: CalibrationMeasurement[] = []
  const models = new Map<string, string>()
  let provenance: {release: string | null; variant: string | null} = {release: null, variant: null}
  let stopped: string | null = null
  /** the engine's GPUs; memoryBytes: free where the engine reported it (the rounds), else total (a bench result) */
  let gpuDevices: Array<{name: string; description: string; backend: string; memoryBytes: number}> = []
  const elapsed = () => (Date.now() - t0) / 1000
  const stop = () => opts.stopRequested?.() ?? false
  let kernels: DecodeKernels | null = null
  /** each CPU sample's model and test: its terms are worked out again when a later kernel pass changes the fit */
  const sampleSpecs = new Map<Sample, {path: string; test: {nPrompt: number; nGen: number}}>()

  ensureDeepPreset()
  const dram = opts.model ? {preset: null, note: null} : small ? null : dramPreset()
  if (dram?.note) notes.push(dram.note)
  if (!dram)
    notes.push(
      `budget ${opts.budgetS} s < ${SMALL_BUDGET_S} s and no --model: the DRAM-bound model was not run; decode bandwidth not measured`,
    )
  const computePreset = 'r1-mini'
  if (small)
    notes.push(
      `budget ${opts.budgetS} s < ${SMALL_BUDGET_S} s: prefill measured with pp128 (ubatch 128) instead of pp512`,
    )

  ev.onPhase?.('synthetic models')
  const synth = async (preset: string) => {
    const path = await cachedSynthModel({preset, quant: 'Q4_K_M'})
    models.set(path, `synth ${preset} Q4_K_M`)
    return path
  }
  const shallowPath = await synth('tiny')
  const deepPath = await synth(DEEP_PRESET)
  const computePath = await synth(computePreset)
  let dramPath: string | null = null
  if (opts.model) {
    dramPath = opts.model
    models.set(dramPath, basename(dramPath))
  } else if (dram?.preset) {
    ev.onPhase?.(`synthetic ${dram.preset} (first time: a few GB, written once and cached)`)
    dramPath = await synth(dram.preset)
  }

  // pp = ubatch, so the expert batch the planner assumes is the one that ran; shorter under a small budget
  const ppCompute = small ? 128 : 512

  /** one bench (each GPU: a model fully offloaded to it); false when stopped (Ctrl-C or budget) */
  const measure = async (
    role: Role,
    path: string,
    threads: number,
    nPrompt: number,
    nGen: number,
    extra: Partial<Sample> = {},
    placement?: Parameters<typeof runBench>[0]['placement'],
  ): Promise<boolean> => {
    if (stop()) {
      stopped ??= 'SIGINT'
      return false
    }
    if (elapsed() > opts.budgetS) {
      stopped ??= 'budget'
      return false
    }
    const label = `${role} ${models.get(path)} ${threads} thread${threads > 1 ? 's' : ''}`
    ev.onPhase?.(label, reps)
    let r: BenchResult
    try {
      r = await runBench(
        {
          path,
          nPrompt: [nPrompt],
          nGen: [nGen],
          reps,
          threads,
          ...(nPrompt > 0 ? {nUbatch: nPrompt, nBatch: Math.max(nPrompt, 512)} : {}),
          runsDir: null,
          placement,
          childEnv: opts.childEnv,
        },
        {onRep: (_t, i, n, tps) => ev.onRep?.(i, n, tps), onInterrupt: ev.onInterrupt},
      )
    } catch (e) {
      // stopped before this test's first repetition: what finished before it is kept
      if (e instanceof MoerigError && e.code === 'E_INTERRUPTED' && samples.length > 0) {
        stopped = e.exitCode === 143 ? 'SIGTERM' : e.exitCode === 129 ? 'SIGHUP' : 'SIGINT'
        return false
      }
      throw e
    }
    provenance = {release: r.provenance.llamaRelease ?? null, variant: r.provenance.cpuVariant ?? null}
    gpuDevices = r.provenance.devices
      .filter((d) => d.type === 'gpu' || d.type === 'igpu')
      .map((d) => ({name: d.name, description: d.description, backend: d.backend, memoryBytes: d.totalBytes}))
    const tps = benchTps(r)
    const t =
      role === 'gpu' && extra.gpuIndex !== undefined
        ? await gpuModelTerms(path, opts.profile, extra.gpuIndex, {nPrompt, nGen}, models.get(path))
        : await modelTerms(path, opts.profile, threads, {nPrompt, nGen}, models.get(path), kernels ?? undefined)
    const sample: Sample = {role, terms: t, threads, decodeTps: tps.decode, prefillTps: tps.prefill, ...extra}
    samples.push(sample)
    // the CPU samples' terms are worked out again when a later kernel pass changes the fit
    if (role !== 'gpu') sampleSpecs.set(sample, {path, test: {nPrompt, nGen}})
    for (const row of r.results)
      measurements.push({
        role,
        model: models.get(path) ?? basename(path),
        threads,
        test: row.test,
        tps: round(Math.max(...row.samples), 3),
        ...(row.tokenMs ? {tokenTps: round(1000 / row.tokenMs.fastest, 3)} : {}),
        reps: row.samples.length,
      })
    ev.onStep?.(
      `${label}: ${r.results.map((x) => `${x.test} ${Math.max(...x.samples).toFixed(2)} t/s (best of ${x.samples.length})`).join(', ')}`,
    )
    if (r.partial) {
      stopped = r.stoppedBy ?? 'SIGINT'
      return false
    }
    return true
  }

  /**
   * `tests` on `paths` in interleaved rounds (rounds.ts); every test that finished a round becomes a
   * sample (decode: the fastest token step of its rounds; prefill: the best repetition) and its
   * measurements; a role's pp and tg tests at one thread count make one sample. False when stopped.
   */
  const measureRounds = async (
    label: string,
    roundModels: RoundsModel[],
    tests: Array<RoundsTest & {role: Role}>,
    budgetS: number,
    extra?: CalibrateOptions['extraRounds'],
  ): Promise<boolean> => {
    const paths = roundModels.map((m) => m.path)
    if (stop()) {
      stopped ??= 'SIGINT'
      return false
    }
    // the caller's own tests ride along in the same rounds (bench/speed-fidelity: its rows measured
    // in the same minutes as the calibration models); their results go back through onExtraRounds
    // a model the calibration already loads (same file and placement) is not loaded twice
    const merged = [...roundModels]
    const same = (a: RoundsModel, b: RoundsModel) =>
      a.path === b.path && JSON.stringify(a.placement ?? {}) === JSON.stringify(b.placement ?? {})
    const index = (extra?.models ?? []).map((m) => {
      const i = merged.findIndex((x) => same(x, m))
      return i >= 0 ? i : merged.push(m) - 1
    })
    const extraTests = (extra?.tests ?? []).map((t) => ({...t, model: index[t.model]}))
    const all = [...tests, ...extraTests]
    const total = CALIBRATE_ROUNDS * all.length
    let done = 0
    ev.onPhase?.(`${label}: up to ${CALIBRATE_ROUNDS} rounds of ${all.length} tests, interleaved`, total)
    let r: RoundsResult
    try {
      r = await runRounds(
        {
          models: merged,
          tests: all,
          rounds: CALIBRATE_ROUNDS,
          budgetS,
          childEnv: opts.childEnv,
        },
        {onTest: (_round, _test, tps) => ev.onRep?.(done++, total, tps), onInterrupt: ev.onInterrupt},
      )
    } catch (e) {
      if (e instanceof MoerigError && e.code === 'E_INTERRUPTED') {
        stopped = e.exitCode === 143 ? 'SIGTERM' : e.exitCode === 129 ? 'SIGHUP' : 'SIGINT'
        return false
      }
      throw e
    }
    provenance = {release: r.llamaRelease, variant: r.cpuVariant}
    gpuDevices = r.devices
      .filter((d) => d.type === 'gpu' || d.type === 'igpu')
      .map((d) => ({name: d.name, description: d.description, backend: d.backend, memoryBytes: d.freeBytes}))
    // one sample per role, model and thread count (compute: its pp and tg tests together)
    const groups = new Map<string, Array<{t: (typeof tests)[number]; res: RoundsTestResult}>>()
    for (const [i, t] of tests.entries()) {
      if (!r.tests[i].rounds.length) continue
      const key = `${t.role}\t${t.model}\t${t.threads}`
      groups.set(key, [...(groups.get(key) ?? []), {t, res: r.tests[i]}])
    }
    for (const g of groups.values()) {
      const {role, model, threads: t} = g[0].t
      const path = paths[model]
      const pp = g.find((x) => x.t.nPrompt > 0)
      const tg = g.find((x) => x.t.nGen > 0)
      const test = {nPrompt: pp?.t.nPrompt ?? 0, nGen: tg?.t.nGen ?? 0}
      const terms = await modelTerms(path, opts.profile, t, test, models.get(path), kernels ?? undefined)
      const sample: Sample = {
        role,
        terms,
        threads: t,
        decodeTps: tg ? roundsTps(tg.res).decode : null,
        prefillTps: pp ? roundsTps(pp.res).prefill : null,
      }
      samples.push(sample)
      sampleSpecs.set(sample, {path, test})
      for (const x of g) {
        const st = roundsTps(x.res)
        measurements.push({
          role,
          model: models.get(path) ?? basename(path),
          threads: t,
          test: testName(x.t.nPrompt, x.t.nGen, x.t.nDepth),
          tps: round(st.decodeRep ?? st.prefill ?? 0, 3),
          ...(st.decode !== null ? {tokenTps: round(st.decode, 3)} : {}),
          reps: x.res.rounds.reduce((n, q) => n + q.samplesNs.length, 0),
          rounds: x.res.rounds.length,
        })
      }
    }
    ev.onStep?.(
      `${label}: ${r.roundsRun} round${r.roundsRun > 1 ? 's' : ''}; ` +
        tests
          .map((t, i) => {
            const st = roundsTps(r.tests[i])
            const v = st.decode ?? st.prefill
            return `${models.get(paths[t.model])} ${t.threads}t ${testName(t.nPrompt, t.nGen, t.nDepth)} ${v === null ? '—' : v.toFixed(2)} t/s`
          })
          .join(', '),
    )
    if (extra) ev.onExtraRounds?.(r.tests.slice(tests.length))
    if (r.stopped) {
      stopped = r.signal ?? 'SIGINT'
      return false
    }
    // the budget ran out before every test ran once: what ran is kept, the rest is not measured
    const ran = r.tests.slice(0, tests.length).filter((t) => t.rounds.length > 0).length
    if (ran < tests.length) {
      stopped ??= 'budget'
      notes.push(
        `${label}: ${ran} of ${tests.length} tests ran before the budget ended (not one whole round: the machine ran them slowly, or the budget is short for it); run calibrate again when it is quieter or with --budget ${budgetHintMinutes(opts.budgetS, ran, tests.length)}m`,
      )
      return false
    }
    return true
  }

  const threads = opts.threads
  const tMax = threads[threads.length - 1]
  /**
   * The kernel benchmark's two passes run apart: one before the models' rounds, one after them (not
   * back to back), and each case keeps the faster. The models' rows keep their best round over
   * minutes; kernels timed only in the first two minutes missed the quiet ones: on a Zen 4 guest
   * qwen3moe-tiny at 2 threads measured 511–1 093 t/s across eleven calibrations while its
   * prediction, built on kernels (cache and DRAM timings, the capacity sweep) from the first
   * minutes, stayed within 581–735 (passes 16–26, docs/speed-fidelity.md).
   */
  const latePass = !small
  let reserveS = 0
  let kernelRuns: KernelResult[] = []
  let kernelSweeps: KernelResult[][] = []
  const kernelPass = async (passes: number, label: string) => {
    let kernelTotal = firstRunCases(opts.profile.cpu.l3Bytes ?? null, passes)
    ev.onPhase?.(label, kernelTotal)
    return measureKernels({
      threads,
      l3Bytes: opts.profile.cpu.l3Bytes ?? null,
      childEnv: opts.childEnv,
      passes,
      onProgress: (done, total) => {
        // the types llama.cpp repacked, once more in the plain CPU buffer: known only after the first run
        if (total !== kernelTotal)
          ev.onPhase?.(`${label}: repacked types again in the plain CPU buffer`, (kernelTotal = total))
        ev.onCase?.(done, total)
      },
      onInterrupt: ev.onInterrupt,
    })
  }
  const tgSmall = 64
  const tgCompute = 16
  run: {
    // ggml's matrix × vector kernels first (tens of seconds): the models' decode is then their sum
    // plus the per-layer and per-token costs the shallow/deep pair gives at each thread count
    if (!small || opts.budgetS >= KERNELS_MIN_BUDGET_S) {
      if (stop()) {
        stopped ??= 'SIGINT'
        break run
      }
      const k0 = Date.now()
      const k = await kernelPass(latePass ? 1 : KERNEL_PASSES, 'decode kernels (ggml matrix × vector, cache and DRAM)')
      // the late pass takes about as long as this one: the models' rounds leave it that time
      if (latePass) reserveS = (Date.now() - k0) / 1000
      kernelRuns = k.results
      kernelSweeps = k.sweeps
      if (k.results.length) {
        kernels = fitKernels(k.results, k.sweeps)
        ev.onStep?.(
          `decode kernels: ${k.results.length} cases × ${threads.length} thread counts (${[...new Set(k.results.map((r) => r.buffer))].join(', ')})`,
        )
      }
      if (k.stopped) {
        stopped ??= 'SIGINT'
        break run
      }
    }
    const roundsStart = Date.now()
    // the cache-resident models (the shallow/deep pair: per-layer and per-token costs; r1-mini:
    // compute) at every thread count, in interleaved rounds (rounds.ts): a shared machine's slow
    // minutes fall on all of them alike, and each keeps its best round
    const smallTests: Array<RoundsTest & {role: Role}> = []
    // the small models take a tenth of a second per repetition: more of them, less noise in the overheads
    const repsSmall = Math.max(reps, SMALL_MODEL_REPS)
    for (const t of threads) {
      smallTests.push({role: 'shallow', model: 0, threads: t, nPrompt: 0, nGen: tgSmall, reps: repsSmall})
      smallTests.push({role: 'deep', model: 1, threads: t, nPrompt: 0, nGen: tgSmall, reps: repsSmall})
      smallTests.push({
        role: 'compute',
        model: 2,
        threads: t,
        nPrompt: ppCompute,
        nGen: 0,
        reps,
        nUbatch: ppCompute,
        nBatch: Math.max(ppCompute, 512),
      })
      smallTests.push({role: 'compute', model: 2, threads: t, nPrompt: 0, nGen: tgCompute, reps})
      // with prefill kernels the prefill throughput is fitted on tiny's prompt too (fitCalibration)
      if (kernels?.prefill?.length)
        smallTests.push({
          role: 'shallow',
          model: 0,
          threads: t,
          nPrompt: ppCompute,
          nGen: 0,
          reps: repsSmall,
          nUbatch: ppCompute,
          nBatch: Math.max(ppCompute, 512),
        })
    }
    // the DRAM model at every thread count (with kernels: the in-model scale at each comes from
    // both large models), without mmap: on a machine with little free RAM the page cache of a
    // mapped 9 GB file is evicted while CPU_REPACK holds its own copy, and decode then reads the
    // disk (0.3 t/s seen)
    const dramModel: RoundsModel | null = dramPath ? {path: dramPath, placement: cpuOnly({mmap: false})} : null
    const dramTests = (model: number) =>
      (kernels ? threads : [tMax]).map((t) => ({
        role: 'dram' as const,
        model,
        threads: t,
        nPrompt: 0,
        nGen: small ? 16 : 8,
        reps,
      }))
    const smallModels: RoundsModel[] = [shallowPath, deepPath, computePath].map((path) => ({
      path,
      placement: cpuOnly(),
    }))
    const left = () => Math.max(0, opts.budgetS - elapsed() - reserveS)
    const extraPaths = (opts.extraRounds?.models ?? []).map((m) => m.path)
    if (dramModel && roundsFit([...new Set([...smallModels.map((m) => m.path), dramModel.path, ...extraPaths])])) {
      // one child for all: compute and DRAM samples from the same minutes, each model's rounds
      // spread over the whole measurement
      if (
        !(await measureRounds(
          'calibration models',
          [...smallModels, dramModel],
          [...smallTests, ...dramTests(smallModels.length)],
          left() * ROUNDS_BUDGET_SHARE,
          opts.extraRounds,
        ))
      )
        break run
    } else {
      // the DRAM model (a large --model) in a child of its own after the others; its load and
      // rounds take what the cache-resident models' rounds leave
      if (
        !(await measureRounds(
          'cache-resident models',
          smallModels,
          smallTests,
          left() * (dramModel ? SMALL_ROUNDS_SHARE : ROUNDS_BUDGET_SHARE),
          opts.extraRounds,
        ))
      )
        break run
      if (dramModel) {
        if (elapsed() > opts.budgetS) {
          stopped ??= 'budget'
          break run
        }
        if (!(await measureRounds('DRAM-bound model', [dramModel], dramTests(0), left() * ROUNDS_BUDGET_SHARE)))
          break run
      }
    }
    // the kernels' second pass, after the models' rounds (see latePass): each case keeps the faster
    // of the two, and every sample's terms are worked out again on the merged fit
    if (latePass && kernelRuns.length) {
      if (stop()) {
        stopped ??= 'SIGINT'
        break run
      }
      reserveS = 0
      const apartS = (Date.now() - roundsStart) / 1000
      const k = await kernelPass(1, 'decode kernels, second pass (after the models)')
      kernelRuns = fasterOfRuns(kernelRuns, k.results)
      kernelSweeps = [...kernelSweeps, ...k.sweeps]
      kernels = fitKernels(kernelRuns, kernelSweeps)
      for (const [s, spec] of sampleSpecs)
        s.terms = await modelTerms(spec.path, opts.profile, s.threads, spec.test, models.get(spec.path), kernels)
      ev.onStep?.(
        `decode kernels, second pass: ${k.results.length} of ${kernelRuns.length} cases again, each keeps the faster of two passes ${apartS.toFixed(0)} s apart`,
      )
      if (k.stopped) {
        stopped ??= 'SIGINT'
        break run
      }
    }
    const fastest = samples
      .filter((x) => x.role === 'compute' && x.decodeTps)
      .sort((x, y) => y.decodeTps! - x.decodeTps!)[0]
    if (fastest && fastest.threads !== tMax)
      notes.push(
        `r1-mini decoded faster at ${fastest.threads} threads than at ${tMax} (a loaded machine: threads wait for each other)`,
      )
    const gpus = gpuDevices.filter((d) => !/llvmpipe|lavapipe|swiftshader/i.test(`${d.name} ${d.description}`))
    if (gpuDevices.length > gpus.length)
      notes.push(
        `software GPU devices skipped: ${gpuDevices
          .filter((d) => !gpus.includes(d))
          .map((d) => d.description || d.name)
          .join(', ')}`,
      )
    for (const [i, d] of gpus.entries()) {
      // engine GPU i is taken to be the profile's gpus[i] (both in PCI order)
      const gi = opts.profile.gpus[i]?.index ?? i
      // its spec (planner/gpus.ts by PCI id or name): fitGpu weighs the model's bytes at that rate
      const spec = planHosts([opts.profile])[0]?.gpus.find((g) => !g.rpc && g.localIndex === gi)
      const path = gpuSampleModel(dramPath, computePath, d.memoryBytes)
      if (
        !(await measure(
          'gpu',
          path,
          tMax,
          ppCompute,
          tgCompute,
          {
            gpuIndex: gi,
            gpuName: d.description || d.name,
            backend: d.backend,
            ...(spec ? {gpuSpecBw: gpuSpecBandwidth(spec, 'llama.cpp', 'mid')} : {}),
          },
          {nGpuLayers: 999, splitMode: 'none', mainGpu: i},
        ))
      )
        break run
    }
    if (gpus.length === 0) notes.push('no GPU seen by the runner: CPU only')
  }
  const load = loadavg()
  notes.push(
    `machine load during calibration: load average ${load0.map((x) => x.toFixed(2)).join(' ')} at the start, ${load.map((x) => x.toFixed(2)).join(' ')} at the end (1/5/15 min) on ${cpus().length} logical CPUs`,
  )
  if (stopped === 'budget')
    notes.push(`budget of ${opts.budgetS} s spent after ${elapsed().toFixed(0)} s: the rest was not measured`)
  else if (stopped) notes.push(`stopped (${stopped}) after ${elapsed().toFixed(0)} s: what finished is kept`)
  if (samples.length === 0) {
    throw new MoerigError(
      'E_INTERRUPTED',
      `stopped${stopped ? ` (${stopped})` : ''} before any measurement finished; nothing written`,
      stopped === 'SIGTERM' ? 143 : stopped === 'SIGHUP' ? 129 : 130,
    )
  }
  const partial = stopped !== null
  const calibration = fitCalibration(
    samples,
    {
      measuredAt: new Date(t0).toISOString(),
      llamaCppRelease: provenance.release,
      cpuVariant: provenance.variant,
      models: [...new Set(samples.map((s) => s.terms.name))],
      notes,
      partial,
    },
    kernels ?? undefined,
  )
  // every sample of the capacity sweep, as fitCapacity saw them (the calibration keeps their extremes)
  const capacity = kernels && kernelRuns.length ? capacitySamples(kernelRuns, kernelSweeps) : []
  const profile: HardwareProfile = {...opts.profile, calibration}
  assertValid<HardwareProfile>(hardwareProfileSchema, profile, 'calibrated hardware profile')
  if (opts.savePath) writeJsonFile(opts.savePath, profile)
  const result: CalibrateResult = {
    calibration,
    savedTo: opts.savePath,
    partial,
    ...(partial && stopped ? {stoppedBy: stopped} : {}),
    seconds: round(elapsed(), 1),
    measurements,
    ...(capacity.length ? {capacitySamples: capacity} : {}),
  }
  return assertValid<CalibrateResult>(calibrateResultSchema, result, 'calibrate result')
}
