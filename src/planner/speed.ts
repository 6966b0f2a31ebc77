/**
 * Speed model: decode from bytes read per token over each device's bandwidth, prefill from FLOPs
 * (and, for llama.cpp with GPUs, from the PCIe copies of CPU-resident weights), each as a
 * low / mid / high range with its assumptions listed.
 *
 * Decode (shared/reference/expert_reuse.md §3.3): every token reads, on the device that holds
 * them, all non-routed weights of each layer (attention, norms, router, shared expert, dense FFN),
 * the output matrix, k of the n routed experts of each MoE layer, and the KV cache written so far;
 * token_embd is one row (ignored). T = Σ_device bytes / (bandwidth × η) + hand-offs × t_sync
 * (layers run in order: llama.cpp and ktransformers without expert deferral).
 */
import type {Engine} from '../schemas/plan.js'
import type {PlanHost} from './hardware.js'
import type {Inventory} from './inventory.js'
import type {KvModel} from './kv.js'
import {attnHeadDims} from './memory.js'
import type {Assignment} from './placement.js'

type Range = {low: number; mid: number; high: number}

/**
 * Achieved fraction of CPU memory bandwidth during MoE decode.
 * Of a theoretical peak: KTransformers on 2 × Xeon 6454S + 4090D decodes R1 at 12.2 tok/s, which
 * implies 176–197 GB/s = 29–32 % of the 614 GB/s peak; one socket ≈ 39 %; STREAM reaches 61 %
 * (expert_reuse.md §3.4, §4.3) → low 0.25, mid 0.33, high 0.6.
 * Of a measured STREAM triad: the same runs reach ≈ 50 % of STREAM → low 0.4, mid 0.55, high 0.85.
 */
export const CPU_BW_EFF_THEORETICAL: Range = {low: 0.25, mid: 0.33, high: 0.6}
export const CPU_BW_EFF_MEASURED: Range = {low: 0.4, mid: 0.55, high: 0.85}
/**
 * Achieved fraction of GPU memory bandwidth: Arc A770 llama.cpp SYCL llama-2-7B Q4_0 ≈ 25 %,
 * neural-speed INT4 ≈ 45–48 %, 60 % as the optimistic row (expert_reuse.md §3.4).
 */
export const GPU_BW_EFF: Range = {low: 0.25, mid: 0.45, high: 0.6}
/**
 * Per CPU↔GPU round trip of a layer (two small PCIe copies of the hidden state + CPU wake-up and
 * barrier + launches): 50–170 µs (expert_reuse.md §3.1, "3–10 ms per token" for R1's 58 layers).
 */
export const T_SYNC_S: Range = {low: 170e-6, mid: 100e-6, high: 50e-6}
/**
 * Prefill efficiency against peak ops. llama.cpp CPU int8 kernels: ik_llama.cpp on one Xeon 6980P
 * socket reaches pp512 78.9 tok/s on R1 ≈ 9 % of its VNNI peak, mainline ≈ ¼–½ of ik
 * (engines.md §3.3, §4.3) → 0.02 / 0.04 / 0.08. AMX (ktransformers): 21.3 TFLOPS per socket
 * (KTransformers SOSP'25) ≈ 10–14 % of the AMX int8 peak → 0.07 / 0.1 / 0.14.
 * GPUs: an assumption, 0.2 / 0.35 / 0.5 of FP16 peak.
 * PCIe copies of CPU weights for GPU prefill (llama.cpp offloads matmuls of CPU weights to the
 * GPU for batches ≥ 32): 0.6 / 0.8 / 0.9 of the link bandwidth.
 */
export const CPU_PREFILL_EFF: Range = {low: 0.02, mid: 0.04, high: 0.08}
export const AMX_PREFILL_EFF: Range = {low: 0.07, mid: 0.1, high: 0.14}
export const GPU_PREFILL_EFF: Range = {low: 0.2, mid: 0.35, high: 0.5}
export const PCIE_EFF: Range = {low: 0.6, mid: 0.8, high: 0.9}
/**
 * Per hop to or from an llama.cpp RPC device: a TCP round trip on a LAN plus sending the hidden
 * state (7168 × 4 B for R1). An assumption: 0.3–2 ms.
 */
export const T_RPC_HOP_S: Range = {low: 2e-3, mid: 1e-3, high: 0.3e-3}
/** KV depth assumed for decode: the full context (low), half of it (mid), empty (high). */
export const KV_DEPTH: Range = {low: 1, mid: 0.5, high: 0}

export interface SpeedResult {
  decode: Range
  prefill: Range
  bytesPerToken: Record<string, number>
  decodeMs: {cpu: number; gpu: number; handoff: number; total: number}
  assumptions: string[]
}

const KEYS = ['low', 'mid', 'high'] as const

export function predictSpeed(inv: Inventory, host: PlanHost, a: Assignment, kv: KvModel, engine: Engine, ctx: number, ubatch: number): SpeedResult {
  const hp = inv.shape.hp
  const nLayer = hp.nLayer
  const kFrac = (hp.nExpert ?? 0) > 0 ? (hp.nExpertUsed ?? 0) / (hp.nExpert ?? 1) : 0
  const weightBytes: Record<string, number> = {CPU: 0}
  for (const g of a.gpus) weightBytes[g.id] = 0
  let cpuExpertBytes = 0
  let cpuAllBytes = 0
  for (const t of inv.tensors) {
    if (t.role === 'embeddings') continue
    let d: string
    let bytes = t.bytes
    if (t.layer === null) d = a.layerDevice[nLayer]
    else if (t.role === 'routed_experts') {
      d = a.expertDevice[t.layer]
      if (d === 'CPU') cpuExpertBytes += t.bytes
      bytes = t.bytes * kFrac
    } else d = a.layerDevice[t.layer]
    weightBytes[d] += bytes
    if (d === 'CPU') cpuAllBytes += t.bytes
  }
  // hand-offs: each change of device along the layer sequence (attention → experts → next layer);
  // changes to or from a remote (RPC) device are network hops
  const isRpc = (d: string) => a.gpus.some((g) => g.rpc && g.id === d)
  let handoffs = 0
  let hops = 0
  let prev = 'CPU' // token_embd
  const step = (d: string) => {
    if (d !== prev) {
      if (isRpc(d) || isRpc(prev)) hops++
      else handoffs++
    }
    prev = d
  }
  for (let l = 0; l < nLayer; l++) {
    step(a.layerDevice[l])
    if (inv.expertLayerBytes.has(l)) step(a.expertDevice[l])
  }
  step(a.layerDevice[nLayer])

  const bw = (id: string, k: (typeof KEYS)[number]) => {
    if (id === 'CPU') return host.cpuBandwidthGBs * 1e9 * (host.cpuBandwidthMeasured ? CPU_BW_EFF_MEASURED : CPU_BW_EFF_THEORETICAL)[k]
    const g = a.gpus.find((x) => x.id === id)!
    return g.bandwidthGBs * 1e9 * (g.rpc ? CPU_BW_EFF_THEORETICAL : GPU_BW_EFF)[k]
  }
  const decode = {low: 0, mid: 0, high: 0}
  const bytesPerToken: Record<string, number> = {}
  let ms = {cpu: 0, gpu: 0, handoff: 0, total: 0}
  for (const k of KEYS) {
    const depth = Math.round(ctx * KV_DEPTH[k])
    const kvBytes: Record<string, number> = {}
    if (depth > 0) for (let l = 0; l < nLayer; l++) kvBytes[a.layerDevice[l]] = (kvBytes[a.layerDevice[l]] ?? 0) + kv.layerBytesAt(l, depth, 1)
    let tCpu = 0, tGpu = 0
    for (const id of Object.keys(weightBytes)) {
      const bytes = weightBytes[id] + (kvBytes[id] ?? 0)
      if (k === 'mid') bytesPerToken[id] = Math.round(bytes)
      const t = bytes / bw(id, k)
      if (id === 'CPU' || isRpc(id)) tCpu += t
      else tGpu += t
    }
    const tSync = Math.ceil(handoffs / 2) * T_SYNC_S[k] + hops * T_RPC_HOP_S[k]
    const total = tCpu + tGpu + tSync
    decode[k] = total > 0 ? 1 / total : 0
    if (k === 'mid') ms = {cpu: tCpu * 1e3, gpu: tGpu * 1e3, handoff: tSync * 1e3, total: total * 1e3}
  }

  // Prefill: FLOPs of one ubatch = 2 × active params per token (+ attention over half the context).
  const attnFlopsPerToken = 2 * nLayer * hp.nHead * attnHeadDims(inv.shape, kv.layout) * (ctx / 2)
  const routedActive = inv.tensors.filter((t) => t.role === 'routed_experts').reduce((s, t) => s + t.elements, 0) * kFrac
  const flopsPerToken = 2 * inv.activeParams + attnFlopsPerToken
  const prefill = {low: 0, mid: 0, high: 0}
  // RPC devices are remote CPUs: they compute their own layers; only local GPUs take offloaded matmuls
  const localGpus = a.gpus.filter((g) => !g.rpc)
  const remotes = a.gpus.filter((g) => g.rpc)
  const gpuFlops = localGpus.reduce((s, g) => s + g.fp16Tflops * 1e12, 0)
  const pcie = localGpus.length > 0 ? Math.min(...localGpus.map((g) => g.pcieGBs)) * 1e9 : 0
  const rpcShare = remotes.length > 0 ? prefillShares(inv, a, kFrac, attnFlopsPerToken / Math.max(1, nLayer)) : null
  for (const k of KEYS) {
    let tUb: number
    if (rpcShare) {
      // layers run in order, each on its machine: remote CPUs, then the local GPUs (which take the
      // local CPU's matmuls over PCIe) or the local CPU
      tUb = 0
      for (const g of remotes) {
        const tCompute = (ubatch * rpcShare.flops[g.id]) / (g.rpc!.cpuOps * CPU_PREFILL_EFF[k])
        tUb += Math.max(tCompute, rpcShare.bytes[g.id] / bw(g.id, k))
      }
      const localFlops = Object.entries(rpcShare.flops).filter(([id]) => !isRpc(id)).reduce((s, [, f]) => s + f, 0)
      if (localGpus.length > 0) tUb += cpuExpertBytes / (pcie * PCIE_EFF[k]) + (ubatch * localFlops) / (gpuFlops * GPU_PREFILL_EFF[k])
      else tUb += Math.max((ubatch * localFlops) / (host.cpuOpsLlama * CPU_PREFILL_EFF[k]), cpuAllBytes / bw('CPU', k))
    } else if (a.gpus.length === 0) {
      // CPU only: compute-bound, but never faster than streaming the weights once per ubatch.
      const tCompute = (ubatch * flopsPerToken) / (host.cpuOpsLlama * CPU_PREFILL_EFF[k])
      tUb = Math.max(tCompute, cpuAllBytes / bw('CPU', k))
    } else if (engine === 'llama.cpp' || engine === 'flashmoe') {
      // GPU computes everything; the CPU-resident expert weights cross PCIe once per ubatch.
      tUb = cpuExpertBytes / (pcie * PCIE_EFF[k]) + (ubatch * flopsPerToken) / (gpuFlops * GPU_PREFILL_EFF[k])
    } else {
      // ktransformers: routed experts on the CPU (AMX when present), the rest on the GPU.
      const cpuOps = host.cpuOpsAmx ? host.cpuOpsAmx * AMX_PREFILL_EFF[k] : host.cpuOpsLlama * CPU_PREFILL_EFF[k]
      tUb = (ubatch * 2 * routedActive) / cpuOps + (ubatch * (flopsPerToken - 2 * routedActive)) / (gpuFlops * GPU_PREFILL_EFF[k])
    }
    prefill[k] = tUb > 0 ? ubatch / tUb : 0
  }

  const cpuEff = host.cpuBandwidthMeasured ? CPU_BW_EFF_MEASURED : CPU_BW_EFF_THEORETICAL
  const assumptions = [
    `decode reads per token: non-routed weights + output on their device, ${hp.nExpertUsed ?? 0} of ${hp.nExpert ?? 0} routed experts per MoE layer, KV at depth ${KV_DEPTH.low}/${KV_DEPTH.mid}/${KV_DEPTH.high} × context (low/mid/high)`,
    `CPU bandwidth ${host.cpuBandwidthSource} × η ${cpuEff.low}/${cpuEff.mid}/${cpuEff.high} (calibrated on KTransformers' dual-Xeon R1 decode)`,
    ...a.gpus.map((g) => g.rpc
      ? `${g.id} ${g.name}: ${g.bandwidthSource} × η ${CPU_BW_EFF_THEORETICAL.low}/${CPU_BW_EFF_THEORETICAL.mid}/${CPU_BW_EFF_THEORETICAL.high}`
      : `${g.id} ${g.name}: ${g.bandwidthGBs} GB/s ${g.bandwidthSource} × η ${GPU_BW_EFF.low}/${GPU_BW_EFF.mid}/${GPU_BW_EFF.high} (calibrated on the Arc A770: llama.cpp SYCL 25 % … neural-speed 48 %; other GPUs assumed alike)`),
    `${Math.ceil(handoffs / 2)} CPU↔GPU round trips per token × ${T_SYNC_S.high * 1e6}–${T_SYNC_S.low * 1e6} µs${hops ? `; ${hops} network hops to RPC machines × ${T_RPC_HOP_S.high * 1e3}–${T_RPC_HOP_S.low * 1e3} ms (assumed LAN)` : ''}`,
    `prefill FLOPs: 2 × ${fmtParams(inv.activeParams)} active parameters per token + attention over half the context`,
    'layers run one after another (no expert deferral / CPU-GPU overlap)',
    remotes.length > 0
      ? `prefill: each RPC machine computes its own layers on its CPU (η ${CPU_PREFILL_EFF.low}–${CPU_PREFILL_EFF.high} of its int8 peak); ${localGpus.length > 0 ? `the local layers on the GPU${localGpus.length > 1 ? 's' : ''}, copying ${(cpuExpertBytes / 1e9).toFixed(1)} GB of CPU-resident experts per ubatch over PCIe (${(pcie / 1e9).toFixed(1)} GB/s × η ${PCIE_EFF.low}–${PCIE_EFF.high})` : `the local layers on this CPU (${host.cpuOpsSource})`}`
      : a.gpus.length === 0
      ? `prefill: CPU ${host.cpuOpsSource}, η ${CPU_PREFILL_EFF.low}–${CPU_PREFILL_EFF.high}`
      : engine === 'ktransformers'
        ? `prefill: routed experts on CPU (${host.cpuOpsAmx ? 'AMX' : 'no AMX'}: ${host.cpuOpsSource}), the rest on GPU FP16 × η ${GPU_PREFILL_EFF.low}–${GPU_PREFILL_EFF.high}`
        : `prefill: llama.cpp offloads CPU-weight matmuls to the GPU for batches ≥ 32, so each ubatch of ${ubatch} copies ${(cpuExpertBytes / 1e9).toFixed(1)} GB over PCIe (${(pcie / 1e9).toFixed(1)} GB/s × η ${PCIE_EFF.low}–${PCIE_EFF.high}) plus GPU FP16 compute × η ${GPU_PREFILL_EFF.low}–${GPU_PREFILL_EFF.high}`,
  ]
  return {decode, prefill, bytesPerToken, decodeMs: ms, assumptions}
}

/** "36.6 B", "54.2 M", "812 k": parameter counts of any size without "0.0 B". */
export function fmtParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return String(Math.round(n))
}

/**
 * Prefill work per device for RPC plans: FLOPs per token (2 × active weights + the layer's
 * attention) and all weight bytes, by the device that holds them.
 */
function prefillShares(inv: Inventory, a: Assignment, kFrac: number, attnFlopsPerLayer: number): {flops: Record<string, number>; bytes: Record<string, number>} {
  const nLayer = inv.shape.hp.nLayer
  const flops: Record<string, number> = {CPU: 0}
  const bytes: Record<string, number> = {CPU: 0}
  for (const g of a.gpus) flops[g.id] = bytes[g.id] = 0
  for (const t of inv.tensors) {
    if (t.role === 'embeddings') continue
    const routed = t.role === 'routed_experts' && t.layer !== null
    const d = t.layer === null ? a.layerDevice[nLayer] : routed ? a.expertDevice[t.layer] : a.layerDevice[t.layer]
    flops[d] += 2 * t.elements * (routed ? kFrac : 1)
    bytes[d] += t.bytes
  }
  for (let l = 0; l < nLayer; l++) flops[a.layerDevice[l]] += attnFlopsPerLayer
  return {flops, bytes}
}
