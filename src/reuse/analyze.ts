/**
 * `moerig reuse`: locality metrics and expert-cache simulation over one routing trace.
 *
 * Pass 1 streams the trace once: metrics, LRU, LFU and static for every capacity. OPT needs each
 * access's next use, so it runs per layer over columns: pass 2..n stream the trace again, each
 * time pulling the columns of as many layers as `optMemoryBytes` allows (2 B per access per layer
 * held, plus one i32 next-use array of 4 B per access), then run Belady layer by layer. Memory stays O(nMoe × N × policies)
 * plus that budget, whatever the trace length.
 */
import {MoerigError} from '../lib/errors.js'
import {fmtBinary} from '../lib/units.js'
import type {TraceSource} from '../trace/trace.js'
import {LfuCache, LruCache, StaticCache, nextUses, optLayer, type CacheCounts, type Shape} from './cache.js'
import {bytesPerToken, capacityForBudget, decodeTps, type Bandwidths, type ModelFacts, type PolicyKind} from './cost.js'
import {LocalityStats, TOP_FRACTIONS, baselines, skew} from './metrics.js'
import type {ReuseResult} from '../schemas/reuse.js'

export const POLICIES: readonly PolicyKind[] = ['lru', 'lfu', 'static', 'opt']
/** Default warm-up prefix for the static policy: this fraction of the tokens. */
export const DEFAULT_WARMUP_FRACTION = 0.1
/** Default window for windowed reuse (tokens). */
export const DEFAULT_WINDOW = 8
/** Default memory for OPT's per-layer columns. */
export const DEFAULT_OPT_MEMORY = 1024 ** 3

export interface ReuseOptions {
  /** Experts per layer (`--cache 4,8,16`). */
  capacities: number[]
  /** Global VRAM budgets in bytes (`--vram 4GiB`), split evenly over the MoE layers. */
  vram: number[]
  policies: readonly PolicyKind[]
  window: number
  /** Warm-up prefix of the static policy: tokens when ≥ 1, else a fraction of the trace. */
  warmup: number
  facts: ModelFacts
  bandwidth: Bandwidths
  optMemoryBytes: number
  /** Tokens skipped at the start of the trace (reported only; the source is already sliced). */
  fromToken?: number
  onProgress?: (phase: string, done: number, total: number) => void
}

/** One simulated configuration: a per-layer capacity, and the budget it came from if any. */
interface Config {
  capacity: number
  vramBytes: number | null
}

type Sim = CacheCounts & {run(ids: Uint16Array, n: number, t0: number): void}

export async function analyzeReuse(src: TraceSource, o: ReuseOptions): Promise<ReuseResult> {
  const h = src.header
  const shape: Shape = {nMoe: h.moeLayers.length, nExpert: h.nExpert, k: h.k}
  const {nMoe, nExpert, k} = shape
  const T = h.nTokens
  if (T < 2)
    throw new MoerigError('E_TRACE_DATA', `trace ${src.path}: ${T} token${T === 1 ? '' : 's'}; reuse needs at least 2`)
  const notes: string[] = []
  const warmupTokens = Math.min(T - 1, Math.max(1, o.warmup >= 1 ? Math.floor(o.warmup) : Math.round(o.warmup * T)))
  const facts = o.facts

  // Configurations: --cache capacities, then --vram budgets turned into experts per layer.
  const configs: Config[] = []
  // --cache 32,64 on 16 experts is one configuration (all of them), simulated and shown once
  const over = o.capacities.filter((c) => c > nExpert)
  if (over.length > 0)
    notes.push(
      `--cache ${over.join(', ')}: more than the ${nExpert} experts of a layer; clamped to ${nExpert} (every expert cached) and simulated once`,
    )
  for (const c of new Set(o.capacities.map((x) => Math.min(x, nExpert)))) configs.push({capacity: c, vramBytes: null})
  for (const b of o.vram) {
    if (!facts.expertBytes) {
      throw new MoerigError(
        'E_USAGE',
        '--vram needs the bytes per expert: a trace header with expertBytes, --gguf FILE or --expert-bytes SIZE',
      )
    }
    const c = Math.min(nExpert, capacityForBudget(b, facts.expertBytes))
    if (c < 1) {
      notes.push(
        `${fmtBytes(b)} of VRAM holds no expert per layer (${nMoe} layers × ${fmtBytes(facts.expertBytes[0])}); skipped`,
      )
      continue
    }
    configs.push({capacity: c, vramBytes: b})
  }
  const capacities = [...new Set(configs.map((c) => c.capacity))].sort((a, b) => a - b)
  const smallCaps = capacities.filter((c) => c < k)
  if (smallCaps.length > 0 && (o.policies.includes('lru') || o.policies.includes('lfu'))) {
    notes.push(
      `capacity ${smallCaps.join(', ')} < k = ${k}: LRU and LFU admit all k experts of a token at once, so only static and OPT run there`,
    )
  }

  // ---- pass 1: metrics, LRU, LFU, static
  const stats = new LocalityStats(shape, o.window, warmupTokens)
  const sims = new Map<string, Sim>()
  for (const c of capacities) {
    if (c < k) continue
    if (o.policies.includes('lru')) sims.set(`lru:${c}`, new LruCache(shape, c, warmupTokens))
    if (o.policies.includes('lfu')) sims.set(`lfu:${c}`, new LfuCache(shape, c, warmupTokens))
  }
  const wantStatic = o.policies.includes('static')
  let staticsReady = false
  const started = performance.now()
  for await (const chunk of src.chunks()) {
    stats.add(chunk.ids, chunk.nTokens, chunk.start)
    if (wantStatic && !staticsReady && stats.nTokens >= warmupTokens) {
      for (const c of capacities) sims.set(`static:${c}`, new StaticCache(shape, c, stats.warmupCounts, warmupTokens))
      staticsReady = true
    }
    for (const sim of sims.values()) sim.run(chunk.ids, chunk.nTokens, chunk.start)
    o.onProgress?.('simulating LRU/LFU/static', chunk.start + chunk.nTokens, T)
  }
  if (stats.nTokens !== T)
    throw new MoerigError('E_TRACE_DATA', `trace ${src.path}: read ${stats.nTokens} tokens, header says ${T}`)

  // ---- passes 2..: OPT over per-layer columns
  const opt = new Map<number, {hits: Float64Array; hitsScored: Float64Array; admits: Float64Array}>()
  const optCaps = o.policies.includes('opt') ? capacities : []
  if (optCaps.length > 0) {
    const perLayer = T * k * 2
    const nextBytes = T * k * 4
    const group = Math.min(nMoe, Math.floor((o.optMemoryBytes - nextBytes) / perLayer))
    if (group < 1) {
      notes.push(
        `OPT skipped: one layer needs ${fmtBytes(perLayer + nextBytes)} (its ids and next uses, 6 B per access), more than --opt-memory ${fmtBytes(o.optMemoryBytes)}`,
      )
    } else {
      for (const c of optCaps)
        opt.set(c, {hits: new Float64Array(nMoe), hitsScored: new Float64Array(nMoe), admits: new Float64Array(nMoe)})
      const next = new Int32Array(T * k)
      // Allocated once and reused by every pass, so the budget holds (no garbage between passes).
      const cols = Array.from({length: group}, () => new Uint16Array(T * k))
      for (let g0 = 0; g0 < nMoe; g0 += group) {
        const g1 = Math.min(nMoe, g0 + group)
        for await (const chunk of src.chunks()) {
          for (let t = 0; t < chunk.nTokens; t++) {
            const rec = t * nMoe * k
            const dst = (chunk.start + t) * k
            for (let l = g0; l < g1; l++) cols[l - g0].set(chunk.ids.subarray(rec + l * k, rec + l * k + k), dst)
          }
          o.onProgress?.(`OPT: reading layers ${g0 + 1}–${g1} of ${nMoe}`, chunk.start + chunk.nTokens, T)
        }
        for (let l = g0; l < g1; l++) {
          nextUses(cols[l - g0], T, k, nExpert, next)
          for (const c of optCaps) {
            // free loads at the start and at the warm-up boundary, as static gets its hot set:
            // OPT then bounds static too (at c ≥ n_expert all three reach 100 %)
            const r = optLayer(cols[l - g0], T, k, nExpert, c, {
              next,
              scoreFrom: warmupTokens,
              freeLoadAt: [0, warmupTokens],
            })
            opt.get(c)!.hits[l] = r.hits
            opt.get(c)!.hitsScored[l] = r.hitsScored
            opt.get(c)!.admits[l] = r.admits
          }
          o.onProgress?.('OPT: simulating', l + 1, nMoe)
        }
      }
    }
  }
  const seconds = (performance.now() - started) / 1000

  // ---- results
  const base = baselines(nExpert, k, o.window)
  const layers = h.moeLayers.map((layer, l) => {
    const sk = skew(stats.counts.subarray(l * nExpert, (l + 1) * nExpert))
    return {
      layer,
      reuse: stats.overlap[l] / ((T - 1) * k),
      reuseRandom: base.reuse,
      anyRepeat: stats.anyRepeat[l] / (T - 1),
      anyRepeatRandom: base.anyRepeat,
      windowReuse: T > o.window ? stats.windowHits[l] / ((T - o.window) * k) : null,
      windowReuseRandom: base.windowReuse,
      top1Share: sk.topShare[0],
      top10Share: sk.topShare[1],
      top20Share: sk.topShare[2],
      topShareRandom: base.topShare,
      entropy: sk.entropy,
      gini: sk.gini,
      hottest: sk.hottest,
    }
  })
  const mean = (f: (x: (typeof layers)[number]) => number | null) => {
    const v = layers.map(f)
    return v.some((x) => x === null) ? null : (v as number[]).reduce((a, b) => a + b, 0) / v.length
  }
  const overall = {
    reuse: mean((x) => x.reuse)!,
    reuseRandom: base.reuse,
    anyRepeat: mean((x) => x.anyRepeat)!,
    anyRepeatRandom: base.anyRepeat,
    windowReuse: mean((x) => x.windowReuse),
    windowReuseRandom: base.windowReuse,
    top1Share: mean((x) => x.top1Share)!,
    top10Share: mean((x) => x.top10Share)!,
    top20Share: mean((x) => x.top20Share)!,
    topShareRandom: base.topShare,
    entropy: mean((x) => x.entropy)!,
    gini: mean((x) => x.gini)!,
  }

  const accessesAll = T * k
  const accessesScored = (T - warmupTokens) * k
  const cache: ReuseResult['cache'] = []
  for (const cfg of configs) {
    for (const policy of o.policies) {
      const counts = policy === 'opt' ? opt.get(cfg.capacity) : sims.get(`${policy}:${cfg.capacity}`)
      if (!counts) continue
      const rates = Array.from(counts.hits, (x) => x / (policy === 'static' ? accessesScored : accessesAll))
      const scoredRates = Array.from(counts.hitsScored, (x) => x / accessesScored)
      // Share of accesses copied into the cache: every miss for LRU/LFU, none for static.
      const admits =
        policy === 'opt'
          ? Array.from((counts as {admits: Float64Array}).admits, (x) => x / accessesAll)
          : rates.map((r) => (policy === 'static' ? 0 : 1 - r))
      const S = facts.expertBytes
      const row = (
        layer: number | 'all',
        hitRate: number,
        hitRateAfterWarmup: number,
        bytes: number | null,
        tps: number | null,
      ) => ({
        policy,
        capacity: cfg.capacity,
        vramBytes: cfg.vramBytes,
        layer,
        hitRate,
        hitRateAfterWarmup,
        hitRateRandom: cfg.capacity / nExpert,
        bytesPerToken: bytes,
        decodeTps: tps,
      })
      cache.push(
        row(
          'all',
          rates.reduce((a, b) => a + b, 0) / nMoe,
          scoredRates.reduce((a, b) => a + b, 0) / nMoe,
          S ? bytesPerToken(admits, k, S) : null,
          decodeTps(rates, admits, k, facts, o.bandwidth),
        ),
      )
      h.moeLayers.forEach((layer, l) => {
        cache.push(row(layer, rates[l], scoredRates[l], S ? bytesPerToken([admits[l]], k, [S[l]]) : null, null))
      })
    }
  }
  const noCache = decodeTps(new Float64Array(nMoe), new Float64Array(nMoe), k, facts, o.bandwidth)
  const missing = decodeTpsMissing(facts, o.bandwidth)
  if (missing) notes.push(missing)

  return {
    trace: {
      path: src.path,
      format: src.format,
      model: h.model,
      arch: h.arch,
      nTokens: T,
      moeLayers: h.moeLayers,
      nExpert,
      k,
    },
    settings: {
      fromToken: o.fromToken ?? 0,
      window: o.window,
      warmupTokens,
      policies: [...o.policies],
      capacities: o.capacities,
      vramBytes: o.vram,
      topFractions: [...TOP_FRACTIONS],
    },
    overall,
    layers,
    cache,
    estimate: {
      kind: 'bandwidth-only',
      expertBytes: facts.expertBytes,
      denseBytes: facts.denseBytes,
      modelSource: facts.source,
      pcieGBs: o.bandwidth.pcieGBs,
      gpuGBs: o.bandwidth.gpuGBs,
      cpuGBs: o.bandwidth.cpuGBs,
      bandwidthSource: o.bandwidth.source,
      noCacheDecodeTps: noCache,
    },
    notes,
    timing: {seconds, accesses: T * nMoe * k},
  }
}

function decodeTpsMissing(f: ModelFacts, bw: Bandwidths): string | null {
  const miss: string[] = []
  if (!f.expertBytes) miss.push('bytes per expert (--expert-bytes, --gguf)')
  if (f.denseBytes === null) miss.push('non-routed bytes per token (--dense-bytes, --gguf)')
  if (!bw.gpuGBs) miss.push('GPU memory bandwidth (--hardware, --gpu-gbs)')
  if (!bw.cpuGBs) miss.push('CPU memory bandwidth (--hardware, --cpu-gbs)')
  if (!bw.pcieGBs) miss.push('PCIe bandwidth (--hardware, --pcie-gbs)')
  return miss.length === 0 ? null : `decode tok/s not estimated where it needs ${miss.join(', ')}`
}

function fmtBytes(b: number): string {
  return fmtBinary(b, {units: ['B', 'MiB', 'GiB']})
}
