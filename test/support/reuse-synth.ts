/**
 * Synthetic routing traces for tests and bench/reuse: uniformly random routing (reuse ≈ k/N) and a
 * Markov chain with planted locality (each expert slot repeats the previous token's expert with
 * probability p, else picks one the previous token did not use, so reuse ≈ p). Deterministic from a
 * seed; generated chunk by chunk so a 1 M-token R1-shaped trace never sits in memory.
 */
import {createTraceWriter, type TraceHeader} from '../../src/trace/trace.js'
import type {Shape} from '../../src/reuse/cache.js'

/** mulberry32: a small, fast, seedable 32-bit generator (quality is ample for routing noise). */
export class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0
  }

  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n)
  }
}

export type Routing = {kind: 'uniform'} | {kind: 'markov'; p: number} | {kind: 'zipf'; s: number}

/**
 * Fills (nTokens, nMoe, k) ids chunk by chunk, carrying each layer's previous set across chunks.
 * zipf: experts drawn with weight 1/(rank+1)^s under a per-layer random permutation (frequency skew
 * without temporal locality).
 */
export class TraceSynth {
  private readonly prev: Uint16Array
  private readonly mark: Int32Array
  private stamp = 0
  private started = false
  private readonly cdf?: Float64Array
  private readonly perm?: Uint16Array

  constructor(
    readonly shape: Shape,
    readonly routing: Routing,
    readonly rng: Rng,
  ) {
    const {nMoe, nExpert, k} = shape
    if (k > nExpert) throw new Error(`k ${k} exceeds nExpert ${nExpert}`)
    if (routing.kind === 'markov' && 2 * k > nExpert) throw new Error('markov routing needs nExpert ≥ 2k')
    this.prev = new Uint16Array(nMoe * k)
    this.mark = new Int32Array(nExpert)
    if (routing.kind === 'zipf') {
      this.cdf = new Float64Array(nExpert)
      let s = 0
      for (let r = 0; r < nExpert; r++) this.cdf[r] = s += 1 / (r + 1) ** routing.s
      for (let r = 0; r < nExpert; r++) this.cdf[r] /= s
      this.perm = new Uint16Array(nMoe * nExpert)
      for (let l = 0; l < nMoe; l++) {
        const p = this.perm.subarray(l * nExpert, (l + 1) * nExpert)
        for (let e = 0; e < nExpert; e++) p[e] = e
        for (let e = nExpert - 1; e > 0; e--) {
          const j = rng.below(e + 1)
          const x = p[e]
          p[e] = p[j]
          p[j] = x
        }
      }
    }
  }

  fill(ids: Uint16Array, nTokens: number): void {
    const {nMoe, nExpert, k} = this.shape
    const {prev, mark, rng, routing} = this
    let o = 0
    for (let t = 0; t < nTokens; t++) {
      for (let l = 0; l < nMoe; l++, o += k) {
        const stamp = ++this.stamp
        // mark[e] === stamp: e taken by this token; === -stamp: e was in the previous set.
        const pb = l * k
        const markov = routing.kind === 'markov' && this.started
        if (markov) for (let j = 0; j < k; j++) mark[prev[pb + j]] = -stamp
        for (let j = 0; j < k; j++) {
          let e: number
          if (markov && rng.float() < routing.p) {
            e = prev[pb + j]
          } else {
            do {
              e = this.draw(l)
            } while (mark[e] === stamp || (markov && mark[e] === -stamp))
          }
          mark[e] = stamp
          ids[o + j] = e
        }
        for (let j = 0; j < k; j++) prev[pb + j] = ids[o + j]
      }
      this.started = true
    }
    void nExpert
  }

  private draw(l: number): number {
    const n = this.shape.nExpert
    if (!this.cdf) return this.rng.below(n)
    const u = this.rng.float()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.cdf[mid] < u) lo = mid + 1
      else hi = mid
    }
    return this.perm![l * n + lo]
  }
}

/** A whole synthetic trace in memory (tests). */
export function synthIds(shape: Shape, nTokens: number, routing: Routing, seed = 1): Uint16Array {
  const ids = new Uint16Array(nTokens * shape.nMoe * shape.k)
  new TraceSynth(shape, routing, new Rng(seed)).fill(ids, nTokens)
  return ids
}

/** DeepSeek-R1's routing shape: 61 blocks, the first 3 dense, 256 routed experts, top-8. */
export function r1Header(nTokens: number): TraceHeader {
  return {
    model: 'synthetic R1-shaped',
    arch: 'deepseek2',
    nLayer: 61,
    moeLayers: Array.from({length: 58}, (_, i) => i + 3),
    nExpert: 256,
    k: 8,
    nTokens,
    hasWeights: false,
  }
}

/** The tiny synth model's routing shape (4 blocks, MoE in 1–3, 16 experts, top-2); `over` changes fields. */
export function tinyHeader(nTokens: number, over: Partial<TraceHeader> = {}): TraceHeader {
  return {
    model: 'tiny',
    arch: 'deepseek2',
    nLayer: 4,
    moeLayers: [1, 2, 3],
    nExpert: 16,
    k: 2,
    nTokens,
    hasWeights: false,
    ...over,
  }
}

/** Stream a synthetic trace to `path` (bounded memory: chunks of `chunkTokens`). */
export function writeSynthTrace(
  path: string,
  header: TraceHeader,
  routing: Routing,
  seed = 1,
  chunkTokens = 4096,
  onChunk?: (done: number) => void,
): void {
  const shape = {nMoe: header.moeLayers.length, nExpert: header.nExpert, k: header.k}
  const synth = new TraceSynth(shape, routing, new Rng(seed))
  const w = createTraceWriter(path, header)
  const ids = new Uint16Array(chunkTokens * shape.nMoe * shape.k)
  try {
    for (let done = 0; done < header.nTokens; done += chunkTokens) {
      const n = Math.min(chunkTokens, header.nTokens - done)
      synth.fill(ids, n)
      w.append(ids.subarray(0, n * shape.nMoe * shape.k))
      onChunk?.(done + n)
    }
  } catch (e) {
    w.abort()
    throw e
  }
  w.close()
}
