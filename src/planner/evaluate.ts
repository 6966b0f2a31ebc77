/**
 * Evaluating one candidate of a plan: a GPU count and a context → placement, memory per device,
 * the NUMA check, what binds, and the predicted speed; the largest context that fits on n GPUs;
 * the choice among GPU counts. Pure: the planner's inputs come in a PlanContext (plan.ts builds it).
 */
import type {Engine, KvType, Plan} from '../schemas/plan.js'
import type {PlanGpu, PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import {KV_PAD, type KvModel} from './kv.js'
import {
  deviceUse,
  makeAssignment,
  searchPlacement,
  type Assignment,
  type DeviceUse,
  type PlacementInput,
} from './placement.js'
import {cpuComputesWeights, predictSpeed, type EngineBuild, type Range, type SpeedResult} from './speed.js'

/** Smallest context we report as usable. */
export const MIN_CONTEXT = KV_PAD

/** Decode within this fraction of the fastest counts as a tie. */
export const DECODE_TIE = 0.1

/**
 * llama.cpp's model mapping (--no-mmap = off). Beside a GPU, llama.cpp puts weights kept in RAM into
 * the GPU's pinned host buffer when not mapping the file, and op offload then copies them for each
 * prefill ubatch at the link's rate instead of pageable memory's (docs/device/h200-2026-12-04b/:
 * 2 546 vs 399 t/s). auto: off where that applies and the plan fits in RAM, else on (llama.cpp's default).
 */
export type MmapMode = 'auto' | 'on' | 'off'

/**
 * llama.cpp's op offload (--no-op-offload = off; llama-bench -nopo 1). With a local GPU, mainline
 * llama.cpp hands every op of a ubatch ≥ 32 tokens whose weights sit in RAM to the GPU and copies
 * those weights over PCIe for each ubatch (ggml_backend_sched; ggml-cuda/-vulkan/-sycl offload_op):
 * for R1 with its experts in RAM that is ≈ 380 GB a ubatch, and at the default -ub 512 the CPU
 * computing them is often faster (llama.cpp issue #17026 asks for the break-even to be configurable).
 * auto: off where those copies happen and the CPU's prefill is predicted faster by OP_OFFLOAD_TIE
 * (mid) without costing decode, else on (llama.cpp's default).
 */
export type OpOffloadMode = 'auto' | 'on' | 'off'

/** --op-offload auto leaves llama.cpp's default on unless the CPU's prefill is this much faster (mid). */
export const OP_OFFLOAD_TIE = 0.1

/**
 * The physical batch a plan suggests where op offload copies the weights in RAM once per ubatch:
 * hybrid DeepSeek runs use -b 4096 -ub 4096 to spread those copies (ik_llama.cpp PR #520's tables;
 * llama.cpp issue #17026 on the break-even), 8× the tokens of llama.cpp's default 512.
 */
export const UBATCH_HINT = 4096
/** ... suggested only when its prefill (mid) is at least this many times the plan's */
export const UBATCH_HINT_GAIN = 1.25

/**
 * --placement: "auto" searches (most layers on the GPUs, then whole layers of experts into the VRAM
 * left); the others force one of the three placements people run, with every layer on the GPUs:
 *   all-gpu      routed experts too (plain -ngl 99)
 *   exps-cpu     routed experts of every layer in RAM (-ot exps=CPU)
 *   n-cpu-moe=N  routed experts of blocks < N in RAM, the rest on the GPUs (--n-cpu-moe N)
 */
export type PlacementMode = {kind: 'auto'} | {kind: 'all-gpu'} | {kind: 'exps-cpu'} | {kind: 'n-cpu-moe'; n: number}

/** The plan's NUMA check (schemas/plan.ts): the mode and each node's use. */
export type NumaCheck = NonNullable<Plan['numa']>
export type NumaMode = NumaCheck['mode']

/** Everything a candidate's evaluation needs that does not change between candidates. */
export interface PlanContext {
  inv: Inventory
  hosts: PlanHost[]
  main: PlanHost
  engine: Engine
  kvType: KvType
  fa: boolean
  ubatch: number
  batch: number
  kv: KvModel
  rpc: PlanGpu[]
  placement: PlacementMode
  threads: number
  build: EngineBuild
  numaAware: boolean
  mmap: MmapMode
  opOffload: OpOffloadMode
}

export interface Evaluated {
  nGpus: number
  a: Assignment
  devices: DeviceUse[]
  numa: NumaCheck
  fits: boolean
  binding: string | null
  speed: SpeedResult
  /** false: --no-mmap (the CPU's weights in the GPU's pinned host buffer where a GPU runs) */
  mmap: boolean
  /** false: --no-op-offload (the CPU computes the weights it holds in prefill) */
  opOffload: boolean
  /** --op-offload auto weighed both: the prefill predicted with the other setting */
  opOffloadOther?: {opOffload: boolean; prefill: Range}
}

function numaMode(c: PlanContext): NumaMode {
  if (c.main.numaNodes.length <= 1) return 'single'
  return c.engine === 'ktransformers' ? 'replicate' : 'interleave'
}

/** opOffload: the plan's (auto sizes memory as llama.cpp's default, with the GPU's copy buffer) */
function placementInput(c: PlanContext, ctx: number, opOffload = c.opOffload !== 'off'): PlacementInput {
  return {
    inv: c.inv,
    host: c.main,
    engine: c.engine,
    kv: c.kv,
    ctx,
    ubatch: c.ubatch,
    flashAttention: c.fa,
    opOffload,
  }
}

/** NUMA check and, for replication, the RAM multiplied by the node count. */
function applyNuma(c: PlanContext, devices: DeviceUse[]): NumaCheck {
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

function bindingOf(devices: DeviceUse[], numa: NumaCheck): string | null {
  const gpu = devices.find((d) => d.kind === 'gpu' && !d.fits)
  if (gpu) return 'VRAM'
  const cpu = devices.find((d) => d.kind === 'cpu' && !d.fits)
  if (cpu) return cpu.id === 'CPU' ? 'RAM' : `RAM of ${cpu.host}`
  if (numa.nodes.some((n) => !n.fits)) return 'NUMA node'
  return null
}

/** The GPUs to use for n local GPUs (RPC devices first, as llama.cpp orders them). */
export function gpuList(c: PlanContext, n: number): PlanGpu[] {
  return [...c.rpc, ...c.main.gpus.slice(0, n)]
}

/** RPC placements: remotes hold whole layers in proportion to their RAM (see evaluate). */
function rpcAssignment(c: PlanContext, n: number): Assignment {
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
function forcedAssignment(c: PlanContext, n: number): Assignment {
  const m = c.placement
  const moe = c.inv.moeLayers
  const onGpu = m.kind === 'all-gpu' ? moe : m.kind === 'n-cpu-moe' ? moe.filter((l) => l >= m.n) : []
  return makeAssignment(c.inv, gpuList(c, n), c.inv.shape.hp.nLayer + 1, new Set(onGpu))
}

/** The placement on n GPUs at ctx: RPC by RAM, a forced --placement, or the search. */
function place(c: PlanContext, n: number, ctx: number, opOffload: boolean): {a: Assignment; devices: DeviceUse[]} {
  const p = placementInput(c, ctx, opOffload)
  if (c.rpc.length > 0 || (c.placement.kind !== 'auto' && n > 0)) {
    const a = c.rpc.length > 0 ? rpcAssignment(c, n) : forcedAssignment(c, n)
    return {a, devices: deviceUse(p, a)}
  }
  const r = searchPlacement(p, gpuList(c, n))
  return {a: r.assignment, devices: r.devices}
}

/** The speed model's NUMA setting: the engine's mode, or "unaware" on several nodes without it. */
function speedNuma(c: PlanContext): NumaMode | 'unaware' {
  if (c.numaAware) return numaMode(c)
  return c.main.numaNodes.length > 1 ? 'unaware' : 'single'
}

/** One candidate: n local GPUs at context ctx; --op-offload auto weighs both settings. */
export function evaluate(c: PlanContext, n: number, ctx: number): Evaluated {
  const on = evaluateWith(c, n, ctx, c.opOffload !== 'off')
  if (c.opOffload !== 'auto' || !offloadChoiceApplies(c, on.a)) return on
  const off = evaluateWith(c, n, ctx, false)
  return prefersNoOpOffload(on, off)
    ? {...off, opOffloadOther: {opOffload: true, prefill: on.speed.prefill}}
    : {...on, opOffloadOther: {opOffload: false, prefill: off.speed.prefill}}
}

/**
 * Whether the op-offload choices (--op-offload auto, the -ub hint) apply: mainline llama.cpp copies
 * weights in RAM to a local GPU; --no-op-offload is mainline's (PR #13386, May 2025), not the
 * published February build's.
 */
function offloadChoiceApplies(c: PlanContext, a: Assignment): boolean {
  return c.build === 'llama.cpp' && opOffloadsFromRam(c, a)
}

/** A larger ubatch's prediction for a plan whose prefill copies weights in RAM to a GPU (see UBATCH_HINT). */
export interface UbatchHint {
  ubatch: number
  batch: number
  prefill: Range
  decode: Range
  /** growth of the first GPU's compute buffer, bytes */
  gpuComputeBytes: number
}

/**
 * The plan again at UBATCH_HINT with op offload on, same GPUs and context: returned when it fits,
 * its prefill beats the plan's by UBATCH_HINT_GAIN (mid) and decode holds within DECODE_TIE. Only
 * mainline llama.cpp plans whose GPU would copy weights in RAM (not with --op-offload off), and
 * contexts that hold the batch (llama.cpp caps n_batch at n_ctx).
 */
export function ubatchHint(c: PlanContext, best: Evaluated, ctx: number): UbatchHint | null {
  if (c.ubatch >= UBATCH_HINT || ctx < UBATCH_HINT || c.opOffload === 'off' || !offloadChoiceApplies(c, best.a))
    return null
  const big: PlanContext = {...c, ubatch: UBATCH_HINT, batch: Math.max(c.batch, UBATCH_HINT), opOffload: 'on'}
  const e = evaluate(big, best.nGpus, ctx)
  if (!e.fits || e.speed.prefill.mid < best.speed.prefill.mid * UBATCH_HINT_GAIN) return null
  if (e.speed.decode.mid < best.speed.decode.mid * (1 - DECODE_TIE)) return null
  const gpu0 = (x: Evaluated) => x.devices.find((d) => d.kind === 'gpu')?.computeBytes ?? 0
  return {
    ubatch: big.ubatch,
    batch: big.batch,
    prefill: e.speed.prefill,
    decode: e.speed.decode,
    gpuComputeBytes: gpu0(e) - gpu0(best),
  }
}

/**
 * --op-offload auto: the CPU computing its own weights wins when it fits and its prefill beats the
 * copies by OP_OFFLOAD_TIE without slowing decode (its placement may differ: no copy buffer on the GPU),
 * or when only it fits.
 */
export function prefersNoOpOffload(on: Evaluated, off: Evaluated): boolean {
  if (!off.fits) return false
  if (!on.fits) return true
  return (
    off.speed.prefill.mid > on.speed.prefill.mid * (1 + OP_OFFLOAD_TIE) &&
    off.speed.decode.mid >= on.speed.decode.mid * (1 - DECODE_TIE / 10)
  )
}

function evaluateWith(c: PlanContext, n: number, ctx: number, opOffload: boolean): Evaluated {
  const {a, devices} = place(c, n, ctx, opOffload)
  const numa = applyNuma(c, devices)
  const binding = bindingOf(devices, numa)
  const offload = opOffload && opOffloadsFromRam(c, a)
  const mmap = c.mmap === 'on' || (c.mmap === 'auto' && !(offload && binding === null))
  const speed = predictSpeed(c.inv, c.main, a, c.kv, c.engine, ctx, c.ubatch, {
    threads: c.threads,
    build: c.build,
    numa: speedNuma(c),
    flashAttention: c.fa,
    pinnedHost: offload && !mmap,
    opOffload,
  })
  return {nGpus: n, a, devices, numa, fits: binding === null, binding, speed, mmap, opOffload}
}

/**
 * Does llama.cpp copy weights kept in RAM to a local GPU for prefill (op offload)? llama.cpp's
 * commands (the ones --no-mmap goes into) where the GPU computes the CPU's weights
 * (cpuComputesWeights) and the CPU holds some.
 */
export function opOffloadsFromRam(c: PlanContext, a: Assignment): boolean {
  if (c.engine !== 'llama.cpp' || cpuComputesWeights(a, c.build, c.engine)) return false
  // expertDevice of a dense layer is "CPU" unused: only MoE layers' experts count
  return a.layerDevice.includes('CPU') || [...c.inv.expertLayerBytes.keys()].some((l) => a.expertDevice[l] === 'CPU')
}

/** The recommended placement on n GPUs without the expert fill (all non-expert tensors + KV on the GPUs). */
function recommendedAssignment(c: PlanContext, n: number): Assignment {
  if (c.rpc.length > 0) return rpcAssignment(c, n)
  if (n === 0) return makeAssignment(c.inv, [], 0)
  if (c.placement.kind !== 'auto') return forcedAssignment(c, n)
  return makeAssignment(c.inv, gpuList(c, n), c.inv.shape.hp.nLayer + 1)
}

/** Does the recommended placement fit on n GPUs at ctx? null when it does, else what binds. */
function fitsAt(c: PlanContext, n: number, ctx: number): string | null {
  const devices = deviceUse(placementInput(c, ctx), recommendedAssignment(c, n))
  return bindingOf(devices, applyNuma(c, devices))
}

/** Largest context (multiple of 256, ≤ the trained context) that fits on n GPUs; 0 when none. */
export function maxContextFor(c: PlanContext, n: number): {maxContext: number; binding: string} {
  const trained = c.inv.shape.hp.contextLength
  const top = Math.floor(trained / KV_PAD)
  const atMin = fitsAt(c, n, MIN_CONTEXT)
  if (atMin !== null) return {maxContext: 0, binding: atMin}
  if (fitsAt(c, n, top * KV_PAD) === null)
    return {maxContext: top * KV_PAD === trained ? trained : top * KV_PAD, binding: 'trained context'}
  let lo = 1,
    hi = top
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (fitsAt(c, n, mid * KV_PAD) === null) lo = mid
    else hi = mid - 1
  }
  return {maxContext: lo * KV_PAD, binding: fitsAt(c, n, (lo + 1) * KV_PAD) ?? 'trained context'}
}

/**
 * The fastest predicted decode; near-ties go to the placement with more GPUs (attention and KV on
 * a GPU is what every published R1 recipe does, and it leaves the CPU's bandwidth to the experts).
 */
function pickBest(fitting: Evaluated[]): Evaluated {
  const top = Math.max(...fitting.map((e) => e.speed.decode.mid))
  const near = fitting.filter((e) => e.speed.decode.mid >= top * (1 - DECODE_TIE))
  return near.reduce((x, y) => (y.nGpus > x.nGpus ? y : x))
}

/** GPU counts a plan considers: 0 … all local GPUs (ktransformers and FlashMoE need at least one). */
export function gpuCounts(c: PlanContext): number[] {
  return Array.from({length: c.main.gpus.length + 1}, (_, n) => n).filter((n) => c.engine === 'llama.cpp' || n > 0)
}

/** Evaluate the requested GPU count, or every count; the fastest that fits, else the last tried. */
export function chooseCandidate(c: PlanContext, ctx: number, gpus: number | undefined): Evaluated {
  const counts = gpus !== undefined ? [gpus] : c.placement.kind !== 'auto' ? [c.main.gpus.length] : gpuCounts(c)
  const evals = counts.map((n) => evaluate(c, n, ctx))
  const fitting = evals.filter((e) => e.fits)
  return fitting.length > 0 ? pickBest(fitting) : evals[evals.length - 1]
}
