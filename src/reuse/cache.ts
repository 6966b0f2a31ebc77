/**
 * Per-layer VRAM expert-cache simulators over routing traces: LRU, LFU, static hot set, Belady OPT.
 *
 * Token semantics (as the brute-force reference in test/unit/reuse.test.ts spells them out): a token
 * needs all k experts of a layer at once. Its hits are counted against the cache as it stood
 * before the token; then LRU and LFU admit its misses in gate order, each evicting a cached expert
 * that this token does not use (so they need capacity c ≥ k). Recency order after a token: its
 * hits (gate order), then its misses (gate order). The static set admits nothing; OPT admits a
 * miss only when that pays (it may bypass, so it bounds all three). Cold misses count as misses.
 *
 * Layout: LRU/LFU/static keep all MoE layers in flat typed arrays indexed [layer * N + expert] and
 * run whole chunks (`run(ids, nTokens, t0)`), so the hot loop allocates nothing; OPT runs on one
 * layer's column at a time (it needs next uses).
 * ids are (nTokens, nMoe, k) as in src/trace/trace.ts.
 */

/** What every simulator reports per layer. */
export interface CacheCounts {
  /** Hits per MoE layer over all tokens. */
  hits: Float64Array
  /** Hits per MoE layer over tokens ≥ scoreFrom (the warm-up boundary). */
  hitsScored: Float64Array
}

export interface Shape {
  nMoe: number
  nExpert: number
  k: number
}

/**
 * What LRU and LFU share: per-layer hit counters, and capacity c ≥ k, since they admit all the
 * misses of a token at once and may evict none of the experts that token uses.
 */
abstract class AdmittingCache implements CacheCounts {
  readonly hits: Float64Array
  readonly hitsScored: Float64Array

  constructor(
    readonly shape: Shape,
    readonly capacity: number,
    readonly scoreFrom: number,
    policy: string,
  ) {
    if (capacity < shape.k) throw new Error(`${policy} capacity ${capacity} is below k ${shape.k}`)
    this.hits = new Float64Array(shape.nMoe)
    this.hitsScored = new Float64Array(shape.nMoe)
  }

  /** Simulate `nTokens` tokens of `ids`; t0 = index of the first one in the trace. */
  abstract run(ids: Uint16Array, nTokens: number, t0: number): void
}

/**
 * LRU with an intrusive doubly-linked list per layer: node e of layer l is slot l*(N+1)+e, the
 * sentinel is l*(N+1)+N; sentinel.next is the least recently used expert.
 */
export class LruCache extends AdmittingCache {
  private readonly prev: Int32Array
  private readonly next: Int32Array
  private readonly cached: Uint8Array
  private readonly size: Int32Array

  constructor(shape: Shape, capacity: number, scoreFrom = 0) {
    super(shape, capacity, scoreFrom, 'LRU')
    const {nMoe, nExpert} = shape
    const stride = nExpert + 1
    this.prev = new Int32Array(nMoe * stride)
    this.next = new Int32Array(nMoe * stride)
    for (let l = 0; l < nMoe; l++) {
      const s = l * stride + nExpert
      this.prev[s] = s
      this.next[s] = s
    }
    this.cached = new Uint8Array(nMoe * nExpert)
    this.size = new Int32Array(nMoe)
  }

  run(ids: Uint16Array, nTokens: number, t0: number): void {
    const {nMoe, nExpert, k} = this.shape
    const {prev, next, cached, size, capacity} = this
    const stride = nExpert + 1
    let o = 0
    for (let t = 0; t < nTokens; t++) {
      const scored = t0 + t >= this.scoreFrom
      for (let l = 0; l < nMoe; l++, o += k) {
        const base = l * stride
        const cbase = l * nExpert
        const s = base + nExpert
        let h = 0
        // Hits: counted against the cache before the token, then moved to the MRU end.
        for (let j = 0; j < k; j++) {
          const e = ids[o + j]
          if (cached[cbase + e] === 0) continue
          h++
          const n = base + e
          const p = prev[n]
          const x = next[n]
          next[p] = x
          prev[x] = p
          const tail = prev[s]
          next[tail] = n
          prev[n] = tail
          next[n] = s
          prev[s] = n
        }
        if (h < k) {
          // Misses: admit, evicting from the LRU end; the hits and earlier misses of this token sit
          // at the MRU end and c ≥ k keeps them out of reach.
          let sz = size[l]
          for (let j = 0; j < k; j++) {
            const e = ids[o + j]
            if (cached[cbase + e] !== 0) continue
            if (sz === capacity) {
              const v = next[s]
              const vx = next[v]
              next[s] = vx
              prev[vx] = s
              cached[cbase + v - base] = 0
            } else sz++
            const n = base + e
            const tail = prev[s]
            next[tail] = n
            prev[n] = tail
            next[n] = s
            prev[s] = n
            cached[cbase + e] = 1
          }
          size[l] = sz
        }
        this.hits[l] += h
        if (scored) this.hitsScored[l] += h
      }
    }
  }
}

/**
 * Binary min-heaps of experts, one per layer, ordered by a key pair (k1, then k2). The keys live
 * beside the experts at heap positions (contiguous, no indirection in the compare); max-heaps
 * store negated keys. pos[l*N+e] is e's position in layer l's heap, -1 when absent.
 */
class PairHeaps {
  /** (nMoe, cap): expert at each heap position. */
  readonly exp: Int32Array
  readonly k1: Float64Array
  readonly k2: Float64Array
  readonly pos: Int32Array
  readonly size: Int32Array

  constructor(
    readonly nMoe: number,
    readonly nExpert: number,
    readonly cap: number,
  ) {
    this.exp = new Int32Array(nMoe * cap)
    this.k1 = new Float64Array(nMoe * cap)
    this.k2 = new Float64Array(nMoe * cap)
    this.pos = new Int32Array(nMoe * nExpert).fill(-1)
    this.size = new Int32Array(nMoe)
  }

  /** Put expert e with keys (a1, a2) at absolute position i of layer l's heap (hb = l * cap). */
  private place(l: number, hb: number, i: number, e: number, a1: number, a2: number): void {
    this.exp[i] = e
    this.k1[i] = a1
    this.k2[i] = a2
    this.pos[l * this.nExpert + e] = i - hb
  }

  /** Move the entry at absolute position i up until its parent is smaller. */
  private up(l: number, i: number): void {
    const {exp, k1, k2} = this
    const hb = l * this.cap
    const e = exp[i]
    const a1 = k1[i]
    const a2 = k2[i]
    while (i > hb) {
      const p = hb + ((i - hb - 1) >> 1)
      if (!(a1 < k1[p] || (a1 === k1[p] && a2 < k2[p]))) break
      this.place(l, hb, i, exp[p], k1[p], k2[p])
      i = p
    }
    this.place(l, hb, i, e, a1, a2)
  }

  /** Move the entry at absolute position i down until both children are larger. */
  private down(l: number, i: number): void {
    const {exp, k1, k2} = this
    const hb = l * this.cap
    const end = hb + this.size[l]
    const e = exp[i]
    const a1 = k1[i]
    const a2 = k2[i]
    while (true) {
      let c = hb + 2 * (i - hb) + 1
      if (c >= end) break
      const d = c + 1
      if (d < end && (k1[d] < k1[c] || (k1[d] === k1[c] && k2[d] < k2[c]))) c = d
      if (!(k1[c] < a1 || (k1[c] === a1 && k2[c] < a2))) break
      this.place(l, hb, i, exp[c], k1[c], k2[c])
      i = c
    }
    this.place(l, hb, i, e, a1, a2)
  }

  push(l: number, e: number, a1: number, a2: number): void {
    const i = l * this.cap + this.size[l]++
    this.exp[i] = e
    this.k1[i] = a1
    this.k2[i] = a2
    this.up(l, i)
  }

  /** Remove and return the smallest expert of layer l. */
  pop(l: number): number {
    const hb = l * this.cap
    const top = this.exp[hb]
    this.pos[l * this.nExpert + top] = -1
    const last = hb + --this.size[l]
    if (last > hb) {
      this.exp[hb] = this.exp[last]
      this.k1[hb] = this.k1[last]
      this.k2[hb] = this.k2[last]
      this.down(l, hb)
    }
    return top
  }

  /** Set e's keys and restore the heap (either direction). */
  rekey(l: number, e: number, a1: number, a2: number): void {
    const i = l * this.cap + this.pos[l * this.nExpert + e]
    const grew = a1 > this.k1[i] || (a1 === this.k1[i] && a2 > this.k2[i])
    this.k1[i] = a1
    this.k2[i] = a2
    if (grew) this.down(l, i)
    else this.up(l, i)
  }

  has(l: number, e: number): boolean {
    return this.pos[l * this.nExpert + e] >= 0
  }
}

/**
 * LFU with perfect frequencies: every access counts, cached or not, since the trace began; the
 * least frequently used cached expert is evicted, ties to the least recently used. (In-cache LFU,
 * which forgets counts on eviction, does worse on the stationary skew MoE routing shows.)
 */
export class LfuCache extends AdmittingCache {
  private readonly freq: Float64Array
  private readonly heaps: PairHeaps
  private readonly wasHit: Uint8Array

  constructor(shape: Shape, capacity: number, scoreFrom = 0) {
    super(shape, capacity, scoreFrom, 'LFU')
    const {nMoe, nExpert, k} = shape
    this.freq = new Float64Array(nMoe * nExpert)
    this.heaps = new PairHeaps(nMoe, nExpert, capacity)
    this.wasHit = new Uint8Array(k)
  }

  run(ids: Uint16Array, nTokens: number, t0: number): void {
    const {nMoe, nExpert, k} = this.shape
    const {freq, heaps, wasHit, capacity} = this
    const pos = heaps.pos
    let o = 0
    for (let t = 0; t < nTokens; t++) {
      const tok = t0 + t
      const scored = tok >= this.scoreFrom
      for (let l = 0; l < nMoe; l++, o += k) {
        const cb = l * nExpert
        let h = 0
        // While the token is processed its experts are pinned (key +∞), so the heap's minimum is
        // always an expert it does not use.
        for (let j = 0; j < k; j++) {
          const e = ids[o + j]
          wasHit[j] = 0
          if (pos[cb + e] < 0) continue
          h++
          wasHit[j] = 1
          heaps.rekey(l, e, Infinity, 0)
        }
        if (h < k) {
          for (let j = 0; j < k; j++) {
            if (wasHit[j]) continue
            if (heaps.size[l] === capacity) heaps.pop(l)
            heaps.push(l, ids[o + j], Infinity, 0)
          }
        }
        // Unpin with the real keys: frequency, then recency stamp tok*k + rank (hits first, then misses).
        let rank = tok * k
        for (let pass = 1; pass >= 0; pass--) {
          for (let j = 0; j < k; j++) {
            if (wasHit[j] !== pass) continue
            const e = ids[o + j]
            heaps.rekey(l, e, ++freq[cb + e], rank++)
          }
        }
        this.hits[l] += h
        if (scored) this.hitsScored[l] += h
      }
    }
  }
}

/**
 * Static hot set: the c most used experts of each layer in a warm-up prefix (ties to the lower
 * id), pinned; scored on the tokens after the prefix only, so nothing peeks at what it is scored
 * on. Works for any 1 ≤ c ≤ N (nothing is admitted, so c < k is fine).
 */
export class StaticCache implements CacheCounts {
  readonly hits: Float64Array
  readonly hitsScored: Float64Array
  readonly hot: Uint8Array

  constructor(
    readonly shape: Shape,
    readonly capacity: number,
    /** Warm-up activation counts per [l*N+e]. */
    warmupCounts: Float64Array,
    readonly scoreFrom: number,
  ) {
    const {nMoe, nExpert} = shape
    this.hot = hotSets(warmupCounts, nMoe, nExpert, capacity)
    this.hits = new Float64Array(nMoe)
    this.hitsScored = this.hits
  }

  /** Only tokens ≥ scoreFrom count; the caller may pass the whole trace. */
  run(ids: Uint16Array, nTokens: number, t0: number): void {
    const {nMoe, nExpert, k} = this.shape
    const hot = this.hot
    const skip = Math.max(0, Math.min(nTokens, this.scoreFrom - t0))
    let o = skip * nMoe * k
    for (let t = skip; t < nTokens; t++) {
      for (let l = 0; l < nMoe; l++, o += k) {
        const cb = l * nExpert
        let h = 0
        for (let j = 0; j < k; j++) h += hot[cb + ids[o + j]]
        this.hits[l] += h
      }
    }
  }
}

/** Top-c experts per layer by count (ties: lower id) as a 0/1 mask [l*N+e]. */
export function hotSets(counts: Float64Array, nMoe: number, nExpert: number, c: number): Uint8Array {
  const hot = new Uint8Array(nMoe * nExpert)
  const order = new Int32Array(nExpert)
  for (let l = 0; l < nMoe; l++) {
    const cb = l * nExpert
    for (let e = 0; e < nExpert; e++) order[e] = e
    order.sort((a, b) => counts[cb + b] - counts[cb + a] || a - b)
    for (let i = 0; i < Math.min(c, nExpert); i++) hot[cb + order[i]] = 1
  }
  return hot
}

/** Sentinel next-use for "never again": larger than any token index (traces stay below 2^31 tokens). */
export const NEVER = 0x7fffffff

/**
 * Next use of every access of one layer's column: col is (nTokens, k) ids, the result (nTokens, k)
 * token index of the next token that uses the same expert, NEVER when none. One backward pass;
 * `last` is an N-sized scratch.
 */
export function nextUses(col: Uint16Array, nTokens: number, k: number, nExpert: number, out?: Int32Array): Int32Array {
  const next = out ?? new Int32Array(nTokens * k)
  const last = new Int32Array(nExpert).fill(NEVER)
  for (let t = nTokens - 1; t >= 0; t--) {
    const o = t * k
    for (let j = 0; j < k; j++) {
      const e = col[o + j]
      next[o + j] = last[e]
      last[e] = t
    }
  }
  return next
}

export interface OptCounts {
  hits: number
  hitsScored: number
  /** Misses copied into the cache (the rest bypass it: run from RAM on the CPU). */
  admits: number
  admitsScored: number
}

/**
 * Belady's OPT for one layer, the upper bound for every policy here: after each token the cache
 * holds the c experts, among those cached or just used, whose next use comes soonest. A miss is
 * admitted only when it will be needed before some cached expert (bypass, i.e. run on the CPU,
 * otherwise), so OPT bounds the admit-every-miss policies (LRU, LFU) and the never-admit static
 * set alike, and works for any c ≥ 1. `initial` pre-loads the cache (to compare with a static set
 * on the same tokens); counts with "Scored" are over tokens ≥ scoreFrom.
 * Memory: the column (2 B per access) and its next-use array (4 B per access).
 */
export function optLayer(
  col: Uint16Array,
  nTokens: number,
  k: number,
  nExpert: number,
  capacity: number,
  options: {next?: Int32Array; initial?: ArrayLike<number>; scoreFrom?: number; freeLoadAt?: number[]} = {},
): OptCounts {
  const next = options.next ?? nextUses(col, nTokens, k, nExpert)
  const scoreFrom = options.scoreFrom ?? 0
  const c = Math.min(capacity, nExpert)
  // A max-heap on next use, as a min-heap on its negation.
  const heaps = new PairHeaps(1, nExpert, c)
  const pos = heaps.pos
  const wasHit = new Uint8Array(k)
  if (options.initial) {
    // The next use of a pre-loaded expert: its first use in the trace.
    const first = new Float64Array(nExpert).fill(NEVER)
    for (let i = nTokens * k - 1; i >= 0; i--) first[col[i]] = Math.floor(i / k)
    for (let i = 0; i < Math.min(options.initial.length, c); i++) {
      const e = options.initial[i]
      if (pos[e] < 0) heaps.push(0, e, -first[e], 0)
    }
  }
  const r: OptCounts = {hits: 0, hitsScored: 0, admits: 0, admitsScored: 0}
  const loads = new Set(options.freeLoadAt ?? [])
  for (let t = 0; t < nTokens; t++) {
    if (loads.has(t)) freeLoad(heaps, col, nTokens, k, c, t)
    const o = t * k
    let h = 0
    for (let j = 0; j < k; j++) {
      const e = col[o + j]
      wasHit[j] = pos[e] >= 0 ? 1 : 0
      if (wasHit[j] === 0) continue
      h++
      heaps.rekey(0, e, -next[o + j], 0)
    }
    let a = 0
    for (let j = 0; j < k && h < k; j++) {
      if (wasHit[j]) continue
      const e = col[o + j]
      const nu = next[o + j]
      if (heaps.size[0] < c) {
        heaps.push(0, e, -nu, 0)
        a++
      } else if (-heaps.k1[0] > nu) {
        // The farthest-needed cached expert (possibly one this token just used) makes room.
        heaps.pop(0)
        heaps.push(0, e, -nu, 0)
        a++
      }
    }
    r.hits += h
    r.admits += a
    if (t >= scoreFrom) {
      r.hitsScored += h
      r.admitsScored += a
    }
  }
  return r
}

/**
 * A free (re)load of the whole cache before token t: it then holds the c experts needed soonest
 * from t on (the first c distinct experts of the rest of the column), which is the best content
 * any policy could have there. `analyze` gives OPT such loads at the start and at the warm-up
 * boundary, where the static set gets its hot set for free, so OPT bounds static as well.
 */
function freeLoad(heaps: PairHeaps, col: Uint16Array, nTokens: number, k: number, c: number, t: number): void {
  while (heaps.size[0] > 0) heaps.pop(0)
  for (let i = t * k; i < nTokens * k && heaps.size[0] < c; i++) {
    const e = col[i]
    if (heaps.pos[e] < 0) heaps.push(0, e, -Math.floor(i / k), 0)
  }
}
