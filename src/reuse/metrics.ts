/**
 * Locality metrics of a routing trace, per MoE layer, each beside its random-routing baseline
 * (how to read them: docs/readme-reuse.md; definitions and baselines: docs/expert-reuse.md §1.2):
 *
 *   reuse        E|S_t ∩ S_t−1| / k                          random: k/N
 *   anyRepeat    P(|S_t ∩ S_t−1| ≥ 1)                        random: 1 − C(N−k,k)/C(N,k)
 *   windowReuse  share of accesses whose expert was used in    random: 1 − (1 − k/N)^w
 *                one of the previous w tokens (t ≥ w)
 *   topXShare    share of activations on the top x % experts  uniform: ⌈xN⌉/N
 *   entropy      H(counts) / ln N                             uniform: 1
 *   gini         Gini coefficient of the counts               uniform: 0
 *
 * Streaming: one `add(chunk)` per chunk, O(nMoe × N) state.
 */
import type {Shape} from './cache.js'

/** Activations-share fractions reported (top 1 %, 10 %, 20 % of experts). */
export const TOP_FRACTIONS = [0.01, 0.1, 0.2] as const
/** Hottest experts listed per layer. */
export const HOTTEST = 5

export class LocalityStats {
  /** counts[l*N+e] = activations of expert e in layer l. */
  readonly counts: Float64Array
  /** Same, over the first `warmupTokens` tokens only (what the static policy may see). */
  readonly warmupCounts: Float64Array
  /** Σ_t≥1 |S_t ∩ S_t−1| per layer. */
  readonly overlap: Float64Array
  /** Tokens t ≥ 1 with at least one repeat, per layer. */
  readonly anyRepeat: Float64Array
  /** Accesses at t ≥ w whose expert was used within the previous w tokens, per layer. */
  readonly windowHits: Float64Array
  /** lastSeen[l*N+e] = last token that used e in layer l. */
  private readonly lastSeen: Float64Array
  nTokens = 0

  constructor(
    readonly shape: Shape,
    readonly window: number,
    readonly warmupTokens: number,
  ) {
    const {nMoe, nExpert} = shape
    this.counts = new Float64Array(nMoe * nExpert)
    this.warmupCounts = new Float64Array(nMoe * nExpert)
    this.overlap = new Float64Array(nMoe)
    this.anyRepeat = new Float64Array(nMoe)
    this.windowHits = new Float64Array(nMoe)
    this.lastSeen = new Float64Array(nMoe * nExpert).fill(-Infinity)
  }

  add(ids: Uint16Array, nTokens: number, t0: number): void {
    const {nMoe, nExpert, k} = this.shape
    const {counts, lastSeen, window: w} = this
    let o = 0
    for (let t = 0; t < nTokens; t++) {
      const tok = t0 + t
      const warm = tok < this.warmupTokens
      for (let l = 0; l < nMoe; l++, o += k) {
        const cb = l * nExpert
        let ov = 0
        let wh = 0
        for (let j = 0; j < k; j++) {
          const i = cb + ids[o + j]
          const gap = tok - lastSeen[i]
          if (gap === 1) ov++
          if (gap <= w) wh++
          lastSeen[i] = tok
          counts[i]++
          if (warm) this.warmupCounts[i]++
        }
        this.overlap[l] += ov
        if (ov > 0) this.anyRepeat[l]++
        if (tok >= w) this.windowHits[l] += wh
      }
    }
    this.nTokens = Math.max(this.nTokens, t0 + nTokens)
  }
}

/** Random-routing (uniform, independent tokens) baselines. */
export function baselines(nExpert: number, k: number, window: number) {
  let noneShared = 1
  for (let i = 0; i < k; i++) noneShared *= (nExpert - k - i) / (nExpert - i)
  return {
    reuse: k / nExpert,
    anyRepeat: 1 - Math.max(0, noneShared),
    windowReuse: 1 - (1 - k / nExpert) ** window,
    topShare: TOP_FRACTIONS.map((x) => topCount(x, nExpert) / nExpert),
  }
}

/** Experts in the top fraction x of N (at least one). */
export function topCount(x: number, nExpert: number): number {
  return Math.max(1, Math.ceil(x * nExpert - 1e-9))
}

export interface SkewMetrics {
  topShare: number[]
  entropy: number
  gini: number
  hottest: {expert: number; share: number}[]
}

/** Frequency skew of one layer's activation counts. */
export function skew(counts: ArrayLike<number>): SkewMetrics {
  const n = counts.length
  const sorted = Float64Array.from(counts).sort()
  let total = 0
  for (let i = 0; i < n; i++) total += sorted[i]
  if (total === 0) return {topShare: TOP_FRACTIONS.map(() => 0), entropy: 0, gini: 0, hottest: []}
  // Top shares from the descending end.
  const topShare = TOP_FRACTIONS.map((x) => {
    let s = 0
    const m = topCount(x, n)
    for (let i = 0; i < m; i++) s += sorted[n - 1 - i]
    return s / total
  })
  let h = 0
  for (let i = 0; i < n; i++) {
    const p = sorted[i] / total
    if (p > 0) h -= p * Math.log(p)
  }
  // Gini over the ascending order: Σ (2i − n + 1) x_i / (n Σ x).
  let g = 0
  for (let i = 0; i < n; i++) g += (2 * i - n + 1) * sorted[i]
  const order = Array.from({length: n}, (_, e) => e).sort((a, b) => counts[b] - counts[a] || a - b)
  return {
    topShare,
    entropy: n > 1 ? h / Math.log(n) : 0,
    gini: n > 1 ? g / (n * total) : 0,
    hottest: order.slice(0, HOTTEST).map((e) => ({expert: e, share: counts[e] / total})),
  }
}
