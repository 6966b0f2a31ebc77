/**
 * Placement: which device holds each layer's tensors, its KV cache and its routed experts, in
 * llama.cpp's own terms (-ngl, -ts, -ot, --n-cpu-moe), and the memory each device then needs.
 *
 * llama.cpp's layer split (src/llama-model.cpp, load_tensors): with n_gpu_layers = ngl,
 * i_gpu_start = max(n_layer + 1 − ngl, 0); layer il (0 … n_layer, where n_layer is the output
 * layer) goes to the CPU when il < i_gpu_start, otherwise to the first GPU whose cumulative
 * tensor-split fraction exceeds (il − i_gpu_start) / (n_layer + 1 − i_gpu_start). token_embd
 * always stays on the CPU (the input layer). KV cache of a layer lives with the layer.
 * `-ot` patterns then move tensors: routed experts to the CPU (`exps=CPU`) or to a GPU.
 */
import type {Engine, PlanDevice} from '../schemas/plan.js'
import type {PlanGpu, PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import type {KvModel} from './kv.js'
import {amxBytes} from './amx.js'
import {
  attnHeadDims,
  computeBytes,
  FLASHMOE_GPU_COMPUTE_BYTES,
  FLASHMOE_HOST_BUFFER_BYTES,
  GPU_HEADROOM_BYTES,
  KTRANSFORMERS_GPU_OVERHEAD_BYTES,
  OP_OFFLOAD_MIN_BATCH,
  type FfnParts,
} from './memory.js'

/**
 * llama.cpp asks a GPU backend whether it can run a weight's op before placing the weight there
 * (src/llama-model-loader.cpp weight_buft_supported), with a test batch of 512 columns whatever
 * the ubatch. Vulkan refuses an op any of whose tensors exceeds maxStorageBufferRange, so on a
 * device with a limit the output matrix stays in RAM when its logits [n_vocab, 512] F32 are larger:
 * seen on llvmpipe (128 MiB): qwen3moe-tiny's output.weight (n_vocab 151936 → 297 MiB of logits)
 * loads into CPU_Mapped and its logits go to the Vulkan_Host compute buffer.
 */
export const WEIGHT_TEST_BATCH = 512

/** Does a weight of `bytes` whose op writes `outBytes` fit the GPU's per-tensor limit? */
export function gpuTakesTensor(g: PlanGpu | undefined, bytes: number, outBytes = 0): boolean {
  return !g || g.maxTensorBytes === null || (bytes <= g.maxTensorBytes && outBytes <= g.maxTensorBytes)
}

export interface Assignment {
  gpus: PlanGpu[]
  nGpuLayers: number
  /** proportions per GPU (same order as gpus) */
  tensorSplit: number[]
  /** device of each layer's non-expert tensors and KV: "CPU" or a GPU id; index nLayer = output */
  layerDevice: string[]
  /** device of each layer's routed experts (non-MoE layers: "CPU", unused) */
  expertDevice: string[]
}

/** Memory on one device: the plan's device entry (schemas/plan.ts) before the speed model adds its bandwidth. */
export type DeviceUse = Required<Omit<PlanDevice, 'bandwidthGBs' | 'bandwidthSource'>>

export interface PlacementInput {
  inv: Inventory
  host: PlanHost
  engine: Engine
  kv: KvModel
  ctx: number
  ubatch: number
  flashAttention: boolean
  /** false: llama.cpp --no-op-offload (no GPU copies RAM-held weights); default true */
  opOffload?: boolean
}

/** Does llama.cpp's op offload run at this plan's ubatch (not --no-op-offload, batch ≥ OP_OFFLOAD_MIN_BATCH)? */
function opOffloadRuns(p: PlacementInput): boolean {
  return p.opOffload !== false && p.ubatch >= OP_OFFLOAD_MIN_BATCH
}

/** llama.cpp's layer → device split (see the file comment). */
export function splitLayers(nLayer: number, ngl: number, gpus: PlanGpu[], split: number[]): string[] {
  const out: string[] = []
  const start = Math.max(nLayer + 1 - ngl, 0)
  const act = nLayer + 1 - start
  const sum = split.reduce((a, b) => a + b, 0) || 1
  const cum: number[] = []
  let acc = 0
  for (const s of split) cum.push((acc += s / sum))
  for (let il = 0; il <= nLayer; il++) {
    if (il < start || gpus.length === 0) {
      out.push('CPU')
      continue
    }
    const x = (il - start) / act
    let g = cum.findIndex((c) => c > x)
    if (g < 0) g = gpus.length - 1
    out.push(gpus[g].id)
  }
  return out
}

/**
 * `localRamBytes`: with RPC devices in the list, a local GPU's share of layers follows the local
 * RAM (where its layers' experts live), not its VRAM.
 */
export function makeAssignment(
  inv: Inventory,
  gpus: PlanGpu[],
  ngl: number,
  expertOnGpu: Set<number> = new Set(),
  localRamBytes = 0,
): Assignment {
  const nLayer = inv.shape.hp.nLayer
  const hasRpc = gpus.some((g) => g.rpc)
  const localVram = gpus.filter((g) => !g.rpc).reduce((s, g) => s + g.capacityBytes, 0) || 1
  const split =
    gpus.length > 1
      ? gpus.map((g) => (hasRpc && !g.rpc ? (localRamBytes * g.capacityBytes) / localVram : g.capacityBytes))
      : gpus.map(() => 1)
  const layerDevice = splitLayers(nLayer, ngl, gpus, split)
  const rpc = new Set(gpus.filter((g) => g.rpc).map((g) => g.id))
  // RPC devices keep their layers' experts (remote RAM); local GPUs send them to the CPU unless chosen.
  const expertDevice = layerDevice
    .slice(0, nLayer)
    .map((d, i) => (rpc.has(d) || (expertOnGpu.has(i) && d !== 'CPU') ? d : 'CPU'))
  const norm = split.reduce((a, b) => a + b, 0) || 1
  return {
    gpus,
    nGpuLayers: ngl,
    tensorSplit: gpus.length > 1 ? split.map((s) => Math.round((100 * s) / norm) / 100) : [],
    layerDevice,
    expertDevice,
  }
}

/** A device with nothing on it yet. */
function emptyDevice(
  id: string,
  kind: DeviceUse['kind'],
  name: string,
  host: string,
  capacityBytes: number,
  overheadBytes: number,
): DeviceUse {
  return {
    id,
    kind,
    name,
    host,
    capacityBytes,
    weightsBytes: 0,
    kvBytes: 0,
    computeBytes: 0,
    overheadBytes,
    totalBytes: 0,
    fits: true,
    layers: [],
    expertLayers: [],
  }
}

/** The main machine's RAM first, then the assignment's GPUs (RPC devices count as CPU memory). */
function emptyDevices(host: PlanHost, gpus: PlanGpu[]): Map<string, DeviceUse> {
  const dev = new Map<string, DeviceUse>()
  dev.set('CPU', emptyDevice('CPU', 'cpu', `${host.name} RAM`, host.id, host.ramCapacityBytes, 0))
  for (const g of gpus)
    dev.set(
      g.id,
      emptyDevice(g.id, g.rpc ? 'cpu' : 'gpu', g.name, g.host, g.capacityBytes, g.rpc ? 0 : GPU_HEADROOM_BYTES),
    )
  return dev
}

/** Where the logits are computed, and what op offload moves to a GPU (see memory.ts). */
interface OutputPlan {
  /** the output layer's device */
  outputDev: string
  /** the device holding output.weight: the output layer's, unless its GPU refuses the matrix */
  logitsDev: string
  /** the device whose compute buffer holds the logits */
  logitsCompute: string
  /** the GPU that runs big-batch ops of weights in RAM (llama.cpp op offload), if any */
  offloadGpu: PlanGpu | undefined
  /** the logits run away from output.weight (op offload, or a GPU refusing the op at the ubatch): that device copies it */
  logitsWeightCopied: boolean
  outMatrix: Inventory['tensors'][number] | undefined
}

function outputPlan(p: PlacementInput, a: Assignment): OutputPlan {
  const hp = p.inv.shape.hp
  const outputDev = a.layerDevice[hp.nLayer]
  const gpuOf = new Map(a.gpus.map((g) => [g.id, g]))
  const logitsBytes = hp.nVocab * WEIGHT_TEST_BATCH * 4
  const outMatrix = p.inv.tensors.find((t) => t.role === 'output')
  const logitsDev = outMatrix && !gpuTakesTensor(gpuOf.get(outputDev), outMatrix.bytes, logitsBytes) ? 'CPU' : outputDev
  // op offload (memory.ts): llama.cpp's scheduler gives big-batch ops whose weights are in RAM to
  // the first GPU that accepts them, which copies one such weight at a time into its compute buffer
  const offloadGpu = p.engine === 'llama.cpp' && opOffloadRuns(p) ? a.gpus.find((g) => !g.rpc) : undefined
  // the logits: computed by the offload GPU when output.weight is in RAM and that GPU takes the op
  // as it runs, at the ubatch (the scheduler asks supports_op of the real tensors, not the load-time
  // test batch): on llvmpipe (128 MiB) r1-mini's logits at -ub 256 (100 MiB) went to Vulkan0 though
  // its output.weight stayed in RAM (200 MiB at the test batch)
  const ubLogits = hp.nVocab * p.ubatch * 4
  const logitsOnOffload =
    logitsDev === 'CPU' &&
    offloadGpu !== undefined &&
    outMatrix !== undefined &&
    gpuTakesTensor(offloadGpu, outMatrix.bytes, ubLogits)
  // and the other way: a GPU holding output.weight (placed by the 512-column test) whose limit the
  // logits at a larger ubatch exceed leaves the op to the host, which copies the weight: llvmpipe,
  // tiny -ub 2048 / 4096 (logits 252 / 504 MiB): CPU 262.59 / 518.60 MiB = logits + the output
  // matrix + two [n_embd, ub] rows, Vulkan0 without them
  const logitsOnHost =
    logitsDev !== 'CPU' && outMatrix !== undefined && !gpuTakesTensor(gpuOf.get(logitsDev), outMatrix.bytes, ubLogits)
  const logitsCompute = logitsOnOffload ? offloadGpu!.id : logitsOnHost ? 'CPU' : logitsDev
  return {
    outputDev,
    logitsDev,
    logitsCompute,
    offloadGpu,
    logitsWeightCopied: logitsOnOffload || logitsOnHost,
    outMatrix,
  }
}

/** Weights onto their devices; returns the largest RAM weight the offload GPU copies at a time. */
function placeWeights(p: PlacementInput, a: Assignment, dev: Map<string, DeviceUse>, o: OutputPlan): number {
  const gpuOf = new Map(a.gpus.map((g) => [g.id, g]))
  const amxHost = p.engine === 'llama.cpp' && p.host.cpuOpsAmx != null
  let offloadWeightBytes = 0
  for (const t of p.inv.tensors) {
    let d: string
    if (t.layer === null) d = t.role === 'embeddings' ? 'CPU' : t.role === 'output' ? o.logitsDev : o.outputDev
    else if (t.role === 'routed_experts') d = a.expertDevice[t.layer]
    else d = a.layerDevice[t.layer]
    if (d !== 'CPU' && !gpuTakesTensor(gpuOf.get(d), t.bytes)) d = 'CPU'
    // llama.cpp on an AMX CPU repacks what AMX takes into its own, larger layout (amx.ts)
    dev.get(d)!.weightsBytes += d === 'CPU' && amxHost ? amxBytes(t) : t.bytes
    if (d === 'CPU' && t.layer !== null && o.offloadGpu && gpuTakesTensor(o.offloadGpu, t.bytes))
      offloadWeightBytes = Math.max(offloadWeightBytes, t.bytes)
  }
  return offloadWeightBytes
}

/** Each layer's KV cache with its layer; each MoE layer's experts listed on their device. */
function placeLayers(p: PlacementInput, a: Assignment, dev: Map<string, DeviceUse>): void {
  for (let l = 0; l < p.inv.shape.hp.nLayer; l++) {
    const d = dev.get(a.layerDevice[l])!
    d.layers.push(l)
    d.kvBytes += p.kv.layerBytesAt(l, p.ctx, p.ubatch)
    if (p.inv.expertLayerBytes.has(l)) dev.get(a.expertDevice[l])!.expertLayers.push(l)
  }
}

/** Compute buffers and engine overheads per device, then totals and whether each fits. */
function sizeDevices(
  p: PlacementInput,
  a: Assignment,
  dev: Map<string, DeviceUse>,
  o: OutputPlan,
  offloadWeightBytes: number,
): void {
  const {inv, kv} = p
  const headDims = attnHeadDims(inv.shape, kv.layout)
  // a local GPU takes over the big-batch FFNs of experts kept in RAM (see memory.ts)
  const offload = a.gpus.some((g) => !g.rpc) && opOffloadRuns(p)
  const moe = p.inv.expertLayerBytes
  for (const d of dev.values()) {
    const isGpu = d.kind === 'gpu'
    const onOffloadGpu = o.offloadGpu?.id === d.id
    // a GPU runs the FFNs of its layers but the routed ones only of experts it holds (offloaded
    // ones: the offload phase). The host keeps the all-widths rule: running the GPUs' routed
    // experts under --no-op-offload it measured 7.04–8.51 MiB besides its output buffer (tiny on
    // llvmpipe, n_ctx 512 … 6144, as ggml-alloc fits them around the mask input) against 8.0 planned
    const ffnParts: FfnParts | undefined = isGpu
      ? {
          dense: d.layers.some((l) => !moe.has(l)),
          moe: d.layers.some((l) => moe.has(l)),
          routed: d.expertLayers.length > 0,
        }
      : undefined
    d.computeBytes = computeBytes(
      {
        shape: inv.shape,
        ctx: p.ctx,
        ubatch: p.ubatch,
        flashAttention: p.flashAttention,
        attnHeadDims: headDims,
        attention: d.layers.length > 0,
        ffn: d.layers.length > 0 || (d.expertLayers.length > 0 && !(d.id === 'CPU' && offload)),
        ffnParts,
        output: o.logitsCompute === d.id,
        host: d.id === 'CPU',
        kvLayout: kv.layout,
        kvBytesPerElem: kv.bytesPerElem,
        vElemsPerLayer: kv.vElemsPerLayer,
        offloadWeightBytes: onOffloadGpu ? offloadWeightBytes : 0,
        offloadOutputBytes: o.logitsWeightCopied && o.logitsCompute === d.id ? o.outMatrix!.bytes : 0,
      },
      isGpu,
    )
    if (isGpu && p.engine === 'ktransformers' && d.layers.length > 0)
      d.overheadBytes += KTRANSFORMERS_GPU_OVERHEAD_BYTES
    if (isGpu && p.engine === 'flashmoe') d.computeBytes = Math.max(d.computeBytes, FLASHMOE_GPU_COMPUTE_BYTES)
    if (!isGpu && p.engine === 'flashmoe' && a.gpus.length > 0) d.overheadBytes = FLASHMOE_HOST_BUFFER_BYTES
    d.totalBytes = d.weightsBytes + d.kvBytes + d.computeBytes + d.overheadBytes
    d.fits = d.totalBytes <= d.capacityBytes
  }
}

/** Memory per device of an assignment at a context. */
export function deviceUse(p: PlacementInput, a: Assignment): DeviceUse[] {
  const dev = emptyDevices(p.host, a.gpus)
  const o = outputPlan(p, a)
  const offloadWeightBytes = placeWeights(p, a, dev, o)
  placeLayers(p, a, dev)
  sizeDevices(p, a, dev, o, offloadWeightBytes)
  return [...dev.values()]
}

export interface SearchResult {
  assignment: Assignment
  devices: DeviceUse[]
  /** all GPUs fit (whether the CPU fits is reported separately) */
  gpusFit: boolean
}

/**
 * The placement a planner would choose on `gpus`: as many layers as fit on the GPUs with all
 * routed experts in RAM, then whole layers of routed experts into the VRAM left, last layers first
 * on each GPU (what --n-cpu-moe expresses for one GPU). ktransformers and FlashMoE keep every
 * routed expert on the CPU in their default rules; llama.cpp fills.
 */
export function searchPlacement(p: PlacementInput, gpus: PlanGpu[]): SearchResult {
  const nLayer = p.inv.shape.hp.nLayer
  const gpuFits = (devs: DeviceUse[]) => devs.every((d) => d.id === 'CPU' || d.fits)
  if (gpus.length === 0) {
    const a = makeAssignment(p.inv, [], 0)
    return {assignment: a, devices: deviceUse(p, a), gpusFit: true}
  }
  // Most layers that fit with experts on the CPU (monotone in ngl, so a binary search).
  // FlashMoE and ktransformers put every layer's attention on the GPUs; they cannot spill layers.
  let lo = p.engine === 'llama.cpp' ? 0 : nLayer + 1,
    hi = nLayer + 1
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (gpuFits(deviceUse(p, makeAssignment(p.inv, gpus, mid)))) lo = mid
    else hi = mid - 1
  }
  const ngl = lo
  let a = makeAssignment(p.inv, gpus, ngl)
  let devs = deviceUse(p, a)
  const fill = p.engine === 'llama.cpp'
  if (fill && ngl > 0) {
    const onGpu = new Set<number>()
    // Per GPU, try its MoE layers from the last one down; stop at the first that does not fit.
    for (const g of gpus.filter((x) => !x.rpc)) {
      const mine = p.inv.moeLayers.filter((l) => a.layerDevice[l] === g.id).sort((x, y) => y - x)
      for (const l of mine) {
        onGpu.add(l)
        const trial = makeAssignment(p.inv, gpus, ngl, onGpu)
        const tdevs = deviceUse(p, trial)
        if (tdevs.find((d) => d.id === g.id)!.fits) {
          a = trial
          devs = tdevs
        } else {
          onGpu.delete(l)
          break
        }
      }
    }
  }
  return {assignment: a, devices: devs, gpusFit: gpuFits(devs)}
}

/** -ot overrides that realise an assignment (first match wins, as in llama.cpp). */
export function tensorOverrides(a: Assignment, moeLayers: number[]): Array<{pattern: string; device: string}> {
  const out: Array<{pattern: string; device: string}> = []
  if (moeLayers.length === 0) return out
  const byGpu = new Map<string, number[]>()
  a.expertDevice.forEach((d, l) => {
    if (d !== 'CPU') byGpu.set(d, [...(byGpu.get(d) ?? []), l])
  })
  const rpc = new Set(a.gpus.filter((g) => g.rpc).map((g) => g.id))
  for (const [d, layers] of byGpu)
    if (!rpc.has(d)) out.push({pattern: `blk\\.(${layers.join('|')})\\.ffn_(up|down|gate)_exps`, device: d})
  if (rpc.size > 0) {
    // only the layers on local GPUs send their experts to the local CPU
    const local = a.expertDevice
      .map((d, l) => (d === 'CPU' && a.layerDevice[l] !== 'CPU' ? l : -1))
      .filter((l) => l >= 0)
    if (local.length > 0) out.push({pattern: `blk\\.(${local.join('|')})\\.ffn_(up|down|gate)_exps`, device: 'CPU'})
  } else if (a.gpus.length > 0) out.push({pattern: '\\.ffn_(up|down|gate)_exps', device: 'CPU'})
  return out
}

/** --n-cpu-moe N when the assignment is exactly "experts of layers < N on the CPU", else null. */
export function nCpuMoe(a: Assignment, moeLayers: number[]): number | null {
  if (a.gpus.length === 0 || moeLayers.length === 0) return null
  const gpuExp = moeLayers.filter((l) => a.expertDevice[l] !== 'CPU')
  const first = gpuExp.length > 0 ? gpuExp[0] : a.layerDevice.length - 1
  const contiguous = moeLayers.every((l) => l >= first === (a.expertDevice[l] !== 'CPU'))
  const layersOnGpu = moeLayers.every((l) => l < first || a.layerDevice[l] !== 'CPU')
  return contiguous && layersOnGpu && a.nGpuLayers === a.layerDevice.length ? first : null
}
