/**
 * `moerig reuse`: locality metrics and expert-cache simulation over one routing trace.
 *
 * The passes, in order (each a function below): the cache configurations (`cacheConfigs`); pass 1
 * streams the trace once for the metrics, LRU, LFU and static at every capacity (`streamingPass`);
 * OPT needs each access's next use, so it runs per layer over columns: passes 2..n stream the trace
 * again, each time pulling the columns of as many layers as `optMemoryBytes` allows (2 B per access
 * per layer held, plus one i32 next-use array of 4 B per access), then run Belady layer by layer
 * (`optPasses`); then the result rows (`layerLocality`, `overallLocality`, `cacheRows`). Memory
 * stays O(nMoe × N × policies) plus that budget, whatever the trace length.
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
/** OPT's counts per MoE layer for one capacity. */
type OptSim = CacheCounts & {admits: Float64Array}
type Layer = ReuseResult['layers'][number]
type Baselines = ReturnType<typeof baselines>

export async function analyzeReuse(src: TraceSource, o: ReuseOptions): Promise<ReuseResult> {
  const h = src.header
  const shape: Shape = {nMoe: h.moeLayers.length, nExpert: h.nExpert, k: h.k}
  const T = h.nTokens
  if (T < 2)
    throw new MoerigError('E_TRACE_DATA', `trace ${src.path}: ${T} token${T === 1 ? '' : 's'}; reuse needs at least 2`)
  const notes: string[] = []
  const warmupTokens = warmupTokenCount(T, o.warmup)
  const configs = cacheConfigs(o, shape, notes)
  const capacities = [...new Set(configs.map((c) => c.capacity))].sort((a, b) => a - b)
  noteSmallCapacities(capacities, shape.k, o.policies, notes)

  const started = performance.now()
  const {stats, sims} = await streamingPass(src, shape, capacities, warmupTokens, o)
  const opt = o.policies.includes('opt') ? await optPasses(src, shape, capacities, warmupTokens, o, notes) : new Map()
  const seconds = (performance.now() - started) / 1000

  const base = baselines(shape.nExpert, shape.k, o.window)
  const layers = layerLocality(h.moeLayers, stats, shape, T, o.window, base)
  const counts = (policy: PolicyKind, capacity: number) =>
    policy === 'opt' ? opt.get(capacity) : sims.get(`${policy}:${capacity}`)
  const cache = cacheRows(configs, o, counts, shape, h.moeLayers, T, warmupTokens)
  const noCache = decodeTps(new Float64Array(shape.nMoe), new Float64Array(shape.nMoe), shape.k, o.facts, o.bandwidth)
  const missing = decodeTpsMissing(o.facts, o.bandwidth)
  if (missing) notes.push(missing)

  return {
    trace: {
      path: src.path,
      format: src.format,
      model: h.model,
      arch: h.arch,
      nTokens: T,
      moeLayers: h.moeLayers,
      nExpert: shape.nExpert,
      k: shape.k,
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
    overall: overallLocality(layers, base),
    layers,
    cache,
    estimate: {
      kind: 'bandwidth-only',
      expertBytes: o.facts.expertBytes,
      denseBytes: o.facts.denseBytes,
      modelSource: o.facts.source,
      pcieGBs: o.bandwidth.pcieGBs,
      gpuGBs: o.bandwidth.gpuGBs,
      cpuGBs: o.bandwidth.cpuGBs,
      bandwidthSource: o.bandwidth.source,
      noCacheDecodeTps: noCache,
    },
    notes,
    timing: {seconds, accesses: T * shape.nMoe * shape.k},
  }
}

/** Warm-up prefix in tokens: `warmup` tokens when ≥ 1, else that fraction of T; at least 1, at most T − 1. */
function warmupTokenCount(T: number, warmup: number): number {
  return Math.min(T - 1, Math.max(1, warmup >= 1 ? Math.floor(warmup) : Math.round(warmup * T)))
}

/** Configurations: --cache capacities (clamped to n_expert, each once), then --vram budgets as experts per layer. */
function cacheConfigs(o: ReuseOptions, {nMoe, nExpert}: Shape, notes: string[]): Config[] {
  const configs: Config[] = []
  // --cache 32,64 on 16 experts is one configuration (all of them), simulated and shown once
  const over = o.capacities.filter((c) => c > nExpert)
  if (over.length > 0)
    notes.push(
      `--cache ${over.join(', ')}: more than the ${nExpert} experts of a layer; clamped to ${nExpert} (every expert cached) and simulated once`,
    )
  for (const c of new Set(o.capacities.map((x) => Math.min(x, nExpert)))) configs.push({capacity: c, vramBytes: null})
  for (const b of o.vram) {
    const expertBytes = o.facts.expertBytes
    if (!expertBytes) {
      throw new MoerigError(
        'E_USAGE',
        '--vram needs the bytes per expert: a trace header with expertBytes, --gguf FILE or --expert-bytes SIZE',
      )
    }
    const c = Math.min(nExpert, capacityForBudget(b, expertBytes))
    if (c < 1) {
      notes.push(
        `${fmtBytes(b)} of VRAM holds no expert per layer (${nMoe} layers × ${fmtBytes(expertBytes[0])}); skipped`,
      )
      continue
    }
    configs.push({capacity: c, vramBytes: b})
  }
  return configs
}

function noteSmallCapacities(capacities: number[], k: number, policies: readonly PolicyKind[], notes: string[]): void {
  const small = capacities.filter((c) => c < k)
  if (small.length > 0 && (policies.includes('lru') || policies.includes('lfu'))) {
    notes.push(
      `capacity ${small.join(', ')} < k = ${k}: LRU and LFU admit all k experts of a token at once, so only static and OPT run there`,
    )
  }
}

/** Pass 1: one read of the trace for the locality metrics, LRU, LFU and static (from the warm-up on). */
async function streamingPass(
  src: TraceSource,
  shape: Shape,
  capacities: number[],
  warmupTokens: number,
  o: ReuseOptions,
): Promise<{stats: LocalityStats; sims: Map<string, Sim>}> {
  const T = src.header.nTokens
  const stats = new LocalityStats(shape, o.window, warmupTokens)
  const sims = new Map<string, Sim>()
  for (const c of capacities) {
    if (c < shape.k) continue
    if (o.policies.includes('lru')) sims.set(`lru:${c}`, new LruCache(shape, c, warmupTokens))
    if (o.policies.includes('lfu')) sims.set(`lfu:${c}`, new LfuCache(shape, c, warmupTokens))
  }
  let staticsDue = o.policies.includes('static')
  for await (const chunk of src.chunks()) {
    stats.add(chunk.ids, chunk.nTokens, chunk.start)
    if (staticsDue && stats.nTokens >= warmupTokens) {
      for (const c of capacities) sims.set(`static:${c}`, new StaticCache(shape, c, stats.warmupCounts, warmupTokens))
      staticsDue = false
    }
    for (const sim of sims.values()) sim.run(chunk.ids, chunk.nTokens, chunk.start)
    o.onProgress?.('simulating LRU/LFU/static', chunk.start + chunk.nTokens, T)
  }
  if (stats.nTokens !== T)
    throw new MoerigError('E_TRACE_DATA', `trace ${src.path}: read ${stats.nTokens} tokens, header says ${T}`)
  return {stats, sims}
}

/**
 * Passes 2..n: OPT per layer over columns. Each pass pulls the columns of as many layers as
 * --opt-memory allows (2 B per access per layer held, plus one 4 B next-use array), then runs
 * Belady on each of them for every capacity. Empty (with a note) when one layer does not fit.
 */
async function optPasses(
  src: TraceSource,
  {nMoe, nExpert, k}: Shape,
  capacities: number[],
  warmupTokens: number,
  o: ReuseOptions,
  notes: string[],
): Promise<Map<number, OptSim>> {
  const opt = new Map<number, OptSim>()
  if (capacities.length === 0) return opt
  const T = src.header.nTokens
  const perLayer = T * k * 2
  const nextBytes = T * k * 4
  const group = Math.min(nMoe, Math.floor((o.optMemoryBytes - nextBytes) / perLayer))
  if (group < 1) {
    notes.push(
      `OPT skipped: one layer needs ${fmtBytes(perLayer + nextBytes)} (its ids and next uses, 6 B per access), more than --opt-memory ${fmtBytes(o.optMemoryBytes)}`,
    )
    return opt
  }
  for (const c of capacities)
    opt.set(c, {hits: new Float64Array(nMoe), hitsScored: new Float64Array(nMoe), admits: new Float64Array(nMoe)})
  const next = new Int32Array(T * k)
  // Allocated once and reused by every pass, so the budget holds (no garbage between passes).
  const cols = Array.from({length: group}, () => new Uint16Array(T * k))
  for (let g0 = 0; g0 < nMoe; g0 += group) {
    const g1 = Math.min(nMoe, g0 + group)
    await readColumns(src, g0, g1, cols, o.onProgress)
    for (let l = g0; l < g1; l++) {
      nextUses(cols[l - g0], T, k, nExpert, next)
      for (const c of capacities) {
        // free loads at the start and at the warm-up boundary, as static gets its hot set:
        // OPT then bounds static too (at c ≥ n_expert all three reach 100 %)
        const r = optLayer(cols[l - g0], T, k, nExpert, c, {
          next,
          scoreFrom: warmupTokens,
          freeLoadAt: [0, warmupTokens],
        })
        const counts = opt.get(c)!
        counts.hits[l] = r.hits
        counts.hitsScored[l] = r.hitsScored
        counts.admits[l] = r.admits
      }
      o.onProgress?.('OPT: simulating', l + 1, nMoe)
    }
  }
  return opt
}

/** One read of the trace: the (T, k) columns of MoE layers g0 ≤ l < g1 into cols[l − g0]. */
async function readColumns(
  src: TraceSource,
  g0: number,
  g1: number,
  cols: Uint16Array[],
  onProgress: ReuseOptions['onProgress'],
): Promise<void> {
  const {k, nTokens: T} = src.header
  const nMoe = src.header.moeLayers.length
  for await (const chunk of src.chunks()) {
    for (let t = 0; t < chunk.nTokens; t++) {
      const rec = t * nMoe * k
      const dst = (chunk.start + t) * k
      for (let l = g0; l < g1; l++) cols[l - g0].set(chunk.ids.subarray(rec + l * k, rec + l * k + k), dst)
    }
    onProgress?.(`OPT: reading layers ${g0 + 1}–${g1} of ${nMoe}`, chunk.start + chunk.nTokens, T)
  }
}

/** Locality metrics of each MoE layer, beside random routing's. */
function layerLocality(
  moeLayers: number[],
  stats: LocalityStats,
  {nExpert, k}: Shape,
  T: number,
  window: number,
  base: Baselines,
): Layer[] {
  return moeLayers.map((layer, l) => {
    const sk = skew(stats.counts.subarray(l * nExpert, (l + 1) * nExpert))
    return {
      layer,
      reuse: stats.overlap[l] / ((T - 1) * k),
      reuseRandom: base.reuse,
      anyRepeat: stats.anyRepeat[l] / (T - 1),
      anyRepeatRandom: base.anyRepeat,
      windowReuse: T > window ? stats.windowHits[l] / ((T - window) * k) : null,
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
}

/** The mean over layers of each metric (window reuse null when any layer's is). */
function overallLocality(layers: Layer[], base: Baselines): ReuseResult['overall'] {
  const mean = (f: (x: Layer) => number | null) => {
    const v = layers.map(f)
    return v.some((x) => x === null) ? null : (v as number[]).reduce((a, b) => a + b, 0) / v.length
  }
  return {
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
}

/** Result rows per configuration × policy: the mean over layers ("all", with tok/s), then each layer. */
function cacheRows(
  configs: Config[],
  o: ReuseOptions,
  countsOf: (policy: PolicyKind, capacity: number) => Sim | OptSim | undefined,
  {nMoe, nExpert, k}: Shape,
  moeLayers: number[],
  T: number,
  warmupTokens: number,
): ReuseResult['cache'] {
  const accessesAll = T * k
  const accessesScored = (T - warmupTokens) * k
  const S = o.facts.expertBytes
  const sum = (x: number[]) => x.reduce((a, b) => a + b, 0)
  const cache: ReuseResult['cache'] = []
  for (const cfg of configs) {
    for (const policy of o.policies) {
      const counts = countsOf(policy, cfg.capacity)
      if (!counts) continue
      const rates = Array.from(counts.hits, (x) => x / (policy === 'static' ? accessesScored : accessesAll))
      const scoredRates = Array.from(counts.hitsScored, (x) => x / accessesScored)
      const admits = admitRates(policy, counts, rates, accessesAll)
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
          sum(rates) / nMoe,
          sum(scoredRates) / nMoe,
          S ? bytesPerToken(admits, k, S) : null,
          decodeTps(rates, admits, k, o.facts, o.bandwidth),
        ),
      )
      moeLayers.forEach((layer, l) => {
        cache.push(row(layer, rates[l], scoredRates[l], S ? bytesPerToken([admits[l]], k, [S[l]]) : null, null))
      })
    }
  }
  return cache
}

/** Share of accesses copied into the cache per layer: every miss for LRU/LFU, none for static, OPT's own count. */
function admitRates(policy: PolicyKind, counts: Sim | OptSim, hitRates: number[], accesses: number): number[] {
  if (policy === 'opt') return Array.from((counts as OptSim).admits, (x) => x / accesses)
  return hitRates.map((r) => (policy === 'static' ? 0 : 1 - r))
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
