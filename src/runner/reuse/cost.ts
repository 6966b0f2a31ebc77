/**
 * Model facts (bytes per expert, non-routed bytes per token) and the bandwidth-only decode
 * estimate that turns a cache hit rate into tokens/s for a hybrid CPU + GPU box.
 *
 * Bandwidth-only: a decoded token is bound by the bytes it must stream, nothing else (no compute,
 * no kernel launches, no CPU↔GPU hand-off latency; reference notes §3.3 with t_sync = 0 and
 * η = 1 at the bandwidths given, which should be measured ones: `probe --measure` triad for the CPU).
 * With D non-routed bytes (on the GPU), S_l bytes per expert of MoE layer l, hit rate h_l:
 *
 *   dynamic policies (lru, lfu, opt: a miss is copied over PCIe, then run on the GPU)
 *     T = (D + Σ_l k·S_l) / BW_gpu + Σ_l k·(1−h_l)·S_l / BW_pcie
 *   static hot set (a miss runs on the CPU from RAM; nothing moves)
 *     T = (D + Σ_l k·h_l·S_l) / BW_gpu + Σ_l k·(1−h_l)·S_l / BW_cpu
 *   no cache (all routed experts on the CPU, the usual `-ot exps=CPU` set-up)
 *     T = D / BW_gpu + Σ_l k·S_l / BW_cpu
 *
 * decode tok/s = 1 / T. Sequential sum: CPU and GPU do not overlap (llama.cpp's order).
 */
import type {GgufModel} from '../../planner/gguf.js'
import type {HardwareProfile} from '../../schemas/hardware.js'

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
 * Bytes per routed expert per MoE layer and non-routed bytes per token, from a GGUF's tensor
 * table: `blk.L.ffn_{gate,up,down}_exps` (stacked over experts) ÷ n_expert; everything else but
 * the token embedding (a decoded token reads one row of it) counts as non-routed.
 */
export function factsFromGguf(model: GgufModel, moeLayers: number[], nExpert: number): ModelFacts {
  const perLayer = new Map<number, number>()
  let dense = 0
  for (const t of model.tensors) {
    const m = /^blk\.(\d+)\.ffn_(gate|up|down)_exps\.weight$/.exec(t.name)
    if (m) {
      const l = Number(m[1])
      perLayer.set(l, (perLayer.get(l) ?? 0) + t.bytes)
    } else if (!t.name.startsWith('token_embd.')) {
      dense += t.bytes
    }
  }
  const expertBytes = moeLayers.map((l) => Math.round((perLayer.get(l) ?? Number.NaN) / nExpert))
  const missing = moeLayers.filter((l) => !perLayer.has(l))
  if (missing.length > 0) {
    return {expertBytes: null, denseBytes: dense, source: `GGUF ${model.path} (no expert tensors for layer${missing.length > 1 ? 's' : ''} ${missing.slice(0, 3).join(', ')} of the trace)`}
  }
  return {expertBytes, denseBytes: dense, source: `GGUF ${model.path}`}
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

/** Routed bytes moved over PCIe per token: misses × expert bytes, summed over layers (static: 0). */
export function bytesPerToken(policy: PolicyKind, hitRates: ArrayLike<number>, k: number, expertBytes: number[]): number {
  if (policy === 'static') return 0
  let b = 0
  for (let l = 0; l < expertBytes.length; l++) b += k * (1 - hitRates[l]) * expertBytes[l]
  return b
}

/** Bandwidth-only decode tok/s (see the file comment); null when a needed fact is missing. */
export function decodeTps(policy: PolicyKind | 'none', hitRates: ArrayLike<number>, k: number, facts: ModelFacts, bw: Bandwidths): number | null {
  const S = facts.expertBytes
  const D = facts.denseBytes
  if (!S || D === null || !bw.gpuGBs) return null
  let routed = 0
  let hitBytes = 0
  for (let l = 0; l < S.length; l++) {
    routed += k * S[l]
    hitBytes += policy === 'none' ? 0 : k * hitRates[l] * S[l]
  }
  const missBytes = routed - hitBytes
  let seconds: number
  if (policy === 'static' || policy === 'none') {
    if (!bw.cpuGBs) return null
    seconds = (D + hitBytes) / (bw.gpuGBs * GBS) + missBytes / (bw.cpuGBs * GBS)
  } else {
    if (!bw.pcieGBs) return null
    seconds = (D + routed) / (bw.gpuGBs * GBS) + missBytes / (bw.pcieGBs * GBS)
  }
  return seconds > 0 ? 1 / seconds : null
}
