/**
 * Model facts (bytes per expert, non-routed bytes per token) and the bandwidth-only decode
 * estimate that turns a cache hit rate into tokens/s for a hybrid CPU + GPU box.
 *
 * Bandwidth-only: a decoded token is bound by the bytes it must stream, nothing else (no compute,
 * no kernel launches, no CPU↔GPU hand-off latency; docs/expert-reuse.md §3.3 with t_sync = 0 and
 * η = 1 at the bandwidths given, which should be measured ones: `probe --measure` triad for the CPU).
 * Per token and MoE layer an expert access is a hit (cached: read by the GPU), an admitted miss
 * (copied over PCIe, then read by the GPU) or a bypassed miss (run from RAM on the CPU). With D
 * non-routed bytes (on the GPU), S_l bytes per expert of layer l, hit and admit rates h_l, a_l:
 *
 *   T = (D + Σ_l k·(h_l + a_l)·S_l) / BW_gpu + Σ_l k·a_l·S_l / BW_pcie + Σ_l k·(1 − h_l − a_l)·S_l / BW_cpu
 *
 * LRU and LFU admit every miss (a = 1 − h); the static hot set admits none (a = 0); OPT admits a
 * miss only when that pays off later. "No cache" (h = a = 0) is the usual `-ot exps=CPU` set-up.
 * decode tok/s = 1 / T. A sequential sum: CPU, GPU and PCIe do not overlap (llama.cpp's order).
 */
import {MoerigError} from '../lib/errors.js'
import type {Inventory} from '../model/inventory.js'
import type {HardwareProfile} from '../schemas/hardware.js'

export interface ModelFacts {
  /** Bytes of one routed expert (gate + up + down) per MoE layer; null when unknown. */
  expertBytes: number[] | null
  /** Non-routed bytes read per decoded token; null when unknown. */
  denseBytes: number | null
  /** Where they came from: "trace header", "GGUF …", "--expert-bytes" … */
  source: string
}

export interface Bandwidths {
  /** Host → device, one direction (GB/s = 1e9 B/s). */
  pcieGBs: number | null
  gpuGBs: number | null
  cpuGBs: number | null
  source: string
}

export type PolicyKind = 'lru' | 'lfu' | 'static' | 'opt'

/** GB/s → bytes/s. */
const GBS = 1e9

/**
 * Bytes per routed expert per MoE layer and non-routed bytes per token from the planner's
 * inventory (a GGUF header or a catalog model at a quant): a layer's routed-expert tensors ÷
 * n_expert; non-routed = every block's other tensors + output + norms (the token embedding is a
 * row lookup, not a read). Throws when the trace's MoE layers are not the model's.
 */
export function factsFromInventory(
  inv: Inventory,
  moeLayers: number[],
  nExpert: number,
  label: string,
  trace?: {model: string; arch: string; nLayer: number; k: number},
): ModelFacts {
  const nExp = inv.shape.hp.nExpert ?? 0
  if (nExp !== nExpert)
    throw new MoerigError('E_MODEL_MISMATCH', `${label} has ${nExp} routed experts per layer, the trace ${nExpert}`)
  // A recorded trace names its model's shape (a CSV import says arch "unknown"): another model's
  // GGUF with the same expert count would give the wrong bytes without a word.
  if (trace && trace.arch !== 'unknown') {
    const hp = inv.shape.hp
    const diff =
      trace.arch !== inv.arch
        ? `is ${inv.arch}, the trace's model (${trace.model}) ${trace.arch}`
        : trace.nLayer !== hp.nLayer
          ? `has ${hp.nLayer} blocks, the trace's model (${trace.model}) ${trace.nLayer}`
          : trace.k !== (hp.nExpertUsed ?? 0)
            ? `routes to ${hp.nExpertUsed ?? 0} experts per token, the trace ${trace.k}`
            : null
    if (diff)
      throw new MoerigError(
        'E_MODEL_MISMATCH',
        `${label} ${diff}: give the GGUF or catalog model the trace was recorded with`,
      )
  }
  const missing = moeLayers.filter((l) => !inv.expertLayerBytes.has(l))
  if (missing.length > 0) {
    throw new MoerigError(
      'E_MODEL_MISMATCH',
      `${label} has no routed experts in block${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')} of the trace (its MoE blocks: ${inv.moeLayers[0]}–${inv.moeLayers[inv.moeLayers.length - 1]})`,
    )
  }
  let dense = inv.globalBytes.output + inv.globalBytes.norms
  for (const b of inv.layerDenseBytes.values()) dense += b
  return {
    expertBytes: moeLayers.map((l) => Math.round(inv.expertLayerBytes.get(l)! / nExpert)),
    denseBytes: dense,
    source: label,
  }
}

/** PCIe, GPU and CPU memory bandwidth from a hardware profile (GPU `gpu`, default the first). */
export function bandwidthsFromProfile(p: HardwareProfile, gpu = 0): Bandwidths {
  const g = p.gpus[gpu]
  const cpu = p.bandwidth?.triadGBs ?? p.memory.theoreticalBandwidthGBs ?? null
  const cpuWhat = p.bandwidth?.triadGBs ? 'measured triad' : 'theoretical peak'
  return {
    pcieGBs: g?.pcie.bandwidthGBs ?? null,
    gpuGBs: g?.memoryBandwidthGBs ?? null,
    cpuGBs: cpu,
    source: `hardware profile ${p.id ?? p.name}${g ? ` (GPU ${gpu}: ${g.name})` : ' (no GPU)'}, CPU ${cpuWhat}`,
  }
}

/** Experts per layer that a VRAM budget holds when every MoE layer gets the same count. */
export function capacityForBudget(budgetBytes: number, expertBytes: number[]): number {
  const perSlot = expertBytes.reduce((a, b) => a + b, 0)
  return perSlot > 0 ? Math.floor(budgetBytes / perSlot) : 0
}

/** Routed bytes copied over PCIe per token: admitted misses × expert bytes, summed over layers. */
export function bytesPerToken(admitRates: ArrayLike<number>, k: number, expertBytes: number[]): number {
  let b = 0
  for (let l = 0; l < expertBytes.length; l++) b += k * admitRates[l] * expertBytes[l]
  return b
}

/** Bandwidth-only decode tok/s (see the file comment); null when a needed fact is missing. */
export function decodeTps(
  hitRates: ArrayLike<number>,
  admitRates: ArrayLike<number>,
  k: number,
  facts: ModelFacts,
  bw: Bandwidths,
): number | null {
  const S = facts.expertBytes
  const D = facts.denseBytes
  if (!S || D === null || !bw.gpuGBs) return null
  let routed = 0
  let hitBytes = 0
  let admitBytes = 0
  for (let l = 0; l < S.length; l++) {
    routed += k * S[l]
    hitBytes += k * hitRates[l] * S[l]
    admitBytes += k * admitRates[l] * S[l]
  }
  const cpuBytes = Math.max(0, routed - hitBytes - admitBytes)
  if (admitBytes > 0 && !bw.pcieGBs) return null
  if (cpuBytes > 0 && !bw.cpuGBs) return null
  const seconds =
    (D + hitBytes + admitBytes) / (bw.gpuGBs * GBS) +
    (admitBytes > 0 ? admitBytes / (bw.pcieGBs! * GBS) : 0) +
    (cpuBytes > 0 ? cpuBytes / (bw.cpuGBs! * GBS) : 0)
  return seconds > 0 ? 1 / seconds : null
}
