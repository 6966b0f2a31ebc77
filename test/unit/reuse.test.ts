import {test} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {LfuCache, LruCache, StaticCache, hotSets, optLayer, type Shape} from '../../src/reuse/cache.js'
import {LocalityStats, baselines, skew} from '../../src/reuse/metrics.js'
import {Rng, synthIds, tinyHeader, type Routing} from '../support/reuse-synth.js'
import {analyzeReuse, POLICIES, type ReuseOptions} from '../../src/reuse/analyze.js'
import {bytesPerToken, capacityForBudget, decodeTps} from '../../src/reuse/cost.js'
import {openTrace, writeTrace} from '../../src/trace/trace.js'
import {reuseResultSchema} from '../../src/schemas/reuse.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {tempDir} from '../support/tmp.js'

const dir = tempDir('moerig-reuse-test-')

// ---------------------------------------------------------------- brute-force reference

type Policy = 'lru' | 'lfu' | 'static' | 'opt'

/** One layer's tokens as arrays of expert ids. */
function column(ids: Uint16Array, shape: Shape, nTokens: number, l: number): number[][] {
  const out: number[][] = []
  for (let t = 0; t < nTokens; t++) {
    const o = (t * shape.nMoe + l) * shape.k
    out.push([...ids.subarray(o, o + shape.k)])
  }
  return out
}

/**
 * The semantics written as plainly as possible: hits against the cache before the token;
 * misses admitted in gate order, each evicting the policy's victim among cached experts the token
 * does not use. Recency: hits (gate order) then misses (gate order). LFU: all-time frequency, ties
 * to least recent. Static: top-c of the first `warmup` tokens (ties to the lower id), hits counted
 * from `warmup` on. OPT may bypass: after a token it keeps the c experts, of those cached or just
 * used, whose next use is soonest.
 */
function reference(
  policy: Policy,
  tokens: number[][],
  nExpert: number,
  c: number,
  warmup = 0,
): {hits: number; hitsScored: number} {
  if (policy === 'static') {
    const counts = new Array(nExpert).fill(0)
    for (const s of tokens.slice(0, warmup)) for (const e of s) counts[e]++
    const hot = new Set([...counts.keys()].sort((a, b) => counts[b] - counts[a] || a - b).slice(0, c))
    let hits = 0
    for (const s of tokens.slice(warmup)) for (const e of s) if (hot.has(e)) hits++
    return {hits, hitsScored: hits}
  }
  const cache = new Set<number>()
  const stamp = new Map<number, number>()
  const freq = new Array(nExpert).fill(0)
  let hits = 0
  let hitsScored = 0
  const nextUse = (e: number, t: number) => {
    for (let u = t + 1; u < tokens.length; u++) if (tokens[u].includes(e)) return u
    return Infinity
  }
  if (policy === 'opt') {
    let cached: number[] = []
    tokens.forEach((s, t) => {
      const h = s.filter((e) => cached.includes(e)).length
      hits += h
      if (t >= warmup) hitsScored += h
      const pool = [...new Set([...cached, ...s])]
      cached = pool.sort((a, b) => nextUse(a, t) - nextUse(b, t)).slice(0, c)
    })
    return {hits, hitsScored}
  }
  tokens.forEach((s, t) => {
    const hitList = s.filter((e) => cache.has(e))
    const missList = s.filter((e) => !cache.has(e))
    hits += hitList.length
    if (t >= warmup) hitsScored += hitList.length
    let rank = t * s.length
    for (const e of [...hitList, ...missList]) {
      stamp.set(e, rank++)
      freq[e]++
    }
    for (const e of missList) {
      if (cache.size === c) {
        const candidates = [...cache].filter((x) => !s.includes(x))
        const better = (a: number, b: number): boolean => {
          if (policy === 'lru') return stamp.get(a)! < stamp.get(b)!
          return freq[a] < freq[b] || (freq[a] === freq[b] && stamp.get(a)! < stamp.get(b)!)
        }
        const victim = candidates.reduce((v, x) => (better(x, v) ? x : v))
        cache.delete(victim)
      }
      cache.add(e)
    }
  })
  return {hits, hitsScored}
}

/**
 * The true optimum by exhaustive search (tiny N): after each token the cache may become any set of
 * at most c experts among those cached or just used (what any policy, admitting, evicting or
 * bypassing, can reach; keeping fewer never helps).
 */
function exhaustiveOptimum(tokens: number[][], c: number): number {
  const memo = new Map<string, number>()
  const best = (t: number, cache: number[]): number => {
    if (t === tokens.length) return 0
    const key = `${t}:${cache.join(',')}`
    const m = memo.get(key)
    if (m !== undefined) return m
    const s = tokens[t]
    const hits = s.filter((e) => cache.includes(e)).length
    const pool = [...new Set([...cache, ...s])].sort((a, b) => a - b)
    let result = -1
    for (const keep of combinations(pool, Math.min(c, pool.length))) result = Math.max(result, hits + best(t + 1, keep))
    memo.set(key, result)
    return result
  }
  return best(0, [])
}

function combinations<T>(xs: T[], n: number): T[][] {
  if (n === 0) return [[]]
  if (xs.length < n) return []
  const [h, ...rest] = xs
  return [...combinations(rest, n - 1).map((c) => [h, ...c]), ...combinations(rest, n)]
}

/** Fast simulators over the whole trace in uneven chunks (t0 carried across run calls). */
function fast(
  policy: 'lru' | 'lfu' | 'static',
  ids: Uint16Array,
  shape: Shape,
  nTokens: number,
  c: number,
  warmup: number,
  counts?: Float64Array,
) {
  const sim =
    policy === 'lru'
      ? new LruCache(shape, c, warmup)
      : policy === 'lfu'
        ? new LfuCache(shape, c, warmup)
        : new StaticCache(shape, c, counts!, warmup)
  const per = shape.nMoe * shape.k
  const rng = new Rng(nTokens)
  for (let t = 0; t < nTokens;) {
    const n = Math.min(nTokens - t, 1 + rng.below(40))
    sim.run(ids.subarray(t * per, (t + n) * per), n, t)
    t += n
  }
  return sim
}

function warmupCounts(ids: Uint16Array, shape: Shape, warmup: number): Float64Array {
  const counts = new Float64Array(shape.nMoe * shape.nExpert)
  for (let i = 0; i < warmup * shape.nMoe * shape.k; i++)
    counts[(Math.floor(i / shape.k) % shape.nMoe) * shape.nExpert + ids[i]]++
  return counts
}

const routings: Routing[] = [{kind: 'uniform'}, {kind: 'markov', p: 0.6}, {kind: 'zipf', s: 1.1}]

// ---------------------------------------------------------------- properties

test('every simulator matches the brute-force reference exactly on random traces', () => {
  let cases = 0
  for (const [nExpert, k] of [
    [8, 2],
    [12, 3],
    [20, 4],
  ]) {
    for (const routing of routings) {
      const shape = {nMoe: 3, nExpert, k}
      const T = 150
      const ids = synthIds(shape, T, routing, nExpert * 31 + k)
      const warmup = 20
      const counts = warmupCounts(ids, shape, warmup)
      for (let c = 1; c <= nExpert; c++) {
        const sims = {
          lru: c >= k ? fast('lru', ids, shape, T, c, warmup) : null,
          lfu: c >= k ? fast('lfu', ids, shape, T, c, warmup) : null,
          static: fast('static', ids, shape, T, c, warmup, counts),
        }
        for (let l = 0; l < shape.nMoe; l++) {
          const col = column(ids, shape, T, l)
          for (const p of ['lru', 'lfu', 'static'] as const) {
            const sim = sims[p]
            if (!sim) continue
            const ref = reference(p, col, nExpert, c, warmup)
            assert.equal(sim.hits[l], ref.hits, `${p} N=${nExpert} k=${k} c=${c} layer ${l} ${routing.kind}`)
            assert.equal(sim.hitsScored[l], ref.hitsScored, `${p} scored N=${nExpert} c=${c}`)
          }
          const opt = optLayer(Uint16Array.from(col.flat()), T, k, nExpert, c, {scoreFrom: warmup})
          const ref = reference('opt', col, nExpert, c, warmup)
          assert.equal(opt.hits, ref.hits, `opt N=${nExpert} k=${k} c=${c} ${routing.kind}`)
          assert.equal(opt.hitsScored, ref.hitsScored)
          cases++
        }
      }
    }
  }
  assert.ok(cases > 100)
})

test("Belady's OPT reaches the exhaustive-search optimum of the token semantics", () => {
  const rng = new Rng(99)
  for (let trial = 0; trial < 60; trial++) {
    const nExpert = 5 + rng.below(3)
    const k = 1 + rng.below(2)
    const c = 1 + rng.below(nExpert - 1)
    const T = 8 + rng.below(6)
    const shape = {nMoe: 1, nExpert, k}
    const ids = synthIds(shape, T, routings[trial % 3], trial + 1)
    const {hits} = optLayer(ids, T, k, nExpert, c)
    assert.equal(hits, exhaustiveOptimum(column(ids, shape, T, 0), c), `trial ${trial}: N=${nExpert} k=${k} c=${c}`)
  }
})

test('OPT ≥ LRU, LFU; OPT from the static hot set ≥ static on the same tokens', () => {
  for (const routing of routings) {
    const shape = {nMoe: 4, nExpert: 32, k: 4}
    const T = 600
    const ids = synthIds(shape, T, routing, 5)
    const warmup = 60
    const counts = warmupCounts(ids, shape, warmup)
    for (const c of [1, 2, 4, 6, 8, 16, 31]) {
      const lru = c >= shape.k ? fast('lru', ids, shape, T, c, warmup) : null
      const lfu = c >= shape.k ? fast('lfu', ids, shape, T, c, warmup) : null
      const st = fast('static', ids, shape, T, c, warmup, counts)
      const hot = hotSets(counts, shape.nMoe, shape.nExpert, c)
      for (let l = 0; l < shape.nMoe; l++) {
        const col = Uint16Array.from(column(ids, shape, T, l).flat())
        const opt = optLayer(col, T, shape.k, shape.nExpert, c).hits
        if (lru) assert.ok(opt >= lru.hits[l], `${routing.kind} c=${c}: opt ${opt} < lru ${lru.hits[l]}`)
        if (lfu) assert.ok(opt >= lfu.hits[l], `${routing.kind} c=${c}: opt ${opt} < lfu ${lfu.hits[l]}`)
        // Static starts with its hot set loaded: OPT from that same start, on the same tokens.
        const initial = [...Array(shape.nExpert).keys()].filter((e) => hot[l * shape.nExpert + e])
        const suffix = col.subarray(warmup * shape.k)
        const optSuffix = optLayer(suffix, T - warmup, shape.k, shape.nExpert, c, {initial}).hits
        assert.ok(optSuffix >= st.hits[l], `${routing.kind} c=${c}: opt ${optSuffix} < static ${st.hits[l]}`)
      }
    }
  }
})

test('LRU hit rate never decreases as capacity grows; capacity N hits all but first touches', () => {
  for (const routing of routings) {
    const shape = {nMoe: 3, nExpert: 24, k: 3}
    const T = 400
    const ids = synthIds(shape, T, routing, 17)
    let prev: Float64Array = new Float64Array(shape.nMoe)
    for (let c = shape.k; c <= shape.nExpert; c++) {
      const lru = fast('lru', ids, shape, T, c, 0)
      for (let l = 0; l < shape.nMoe; l++) assert.ok(lru.hits[l] >= prev[l], `${routing.kind} c=${c} layer ${l}`)
      prev = lru.hits
    }
    for (const p of ['lru', 'lfu'] as const) {
      const full = fast(p, ids, shape, T, shape.nExpert, 0)
      for (let l = 0; l < shape.nMoe; l++) {
        const distinct = new Set(column(ids, shape, T, l).flat()).size
        assert.equal(full.hits[l], T * shape.k - distinct)
      }
    }
    for (let l = 0; l < shape.nMoe; l++) {
      const distinct = new Set(column(ids, shape, T, l).flat()).size
      const opt = optLayer(Uint16Array.from(column(ids, shape, T, l).flat()), T, shape.k, shape.nExpert, shape.nExpert)
      assert.equal(opt.hits, T * shape.k - distinct)
    }
  }
})

test('LRU with capacity k hits exactly the consecutive-reuse overlaps', () => {
  for (const routing of routings) {
    const shape = {nMoe: 5, nExpert: 40, k: 5}
    const T = 500
    const ids = synthIds(shape, T, routing, 23)
    const stats = new LocalityStats(shape, 4, 50)
    stats.add(ids, T, 0)
    const lru = fast('lru', ids, shape, T, shape.k, 0)
    for (let l = 0; l < shape.nMoe; l++) assert.equal(lru.hits[l], stats.overlap[l])
  }
})

test('planted locality: Markov reuse ≈ p; uniform reuse ≈ k/N, any-repeat and LRU ≈ their baselines', async () => {
  const shape = {nMoe: 4, nExpert: 64, k: 4}
  const T = 5000
  for (const p of [0.1, 0.35, 0.7]) {
    const stats = new LocalityStats(shape, 8, 100)
    stats.add(synthIds(shape, T, {kind: 'markov', p}, Math.round(p * 100)), T, 0)
    for (let l = 0; l < shape.nMoe; l++) {
      const reuse = stats.overlap[l] / ((T - 1) * shape.k)
      // Sampling error: sd ≈ √(p(1−p)/(T k)) ≤ 0.004; 5 sd.
      assert.ok(Math.abs(reuse - p) < 0.02, `p=${p}: reuse ${reuse}`)
    }
  }
  const ids = synthIds(shape, T, {kind: 'uniform'}, 8)
  const stats = new LocalityStats(shape, 8, 100)
  stats.add(ids, T, 0)
  const base = baselines(shape.nExpert, shape.k, 8)
  for (let l = 0; l < shape.nMoe; l++) {
    assert.ok(Math.abs(stats.overlap[l] / ((T - 1) * shape.k) - base.reuse) < 0.01)
    assert.ok(Math.abs(stats.anyRepeat[l] / (T - 1) - base.anyRepeat) < 0.03)
    assert.ok(Math.abs(stats.windowHits[l] / ((T - 8) * shape.k) - base.windowReuse) < 0.03)
    const sk = skew(stats.counts.subarray(l * 64, (l + 1) * 64))
    assert.ok(sk.entropy > 0.99 && sk.gini < 0.1, `uniform skew: ${sk.entropy} ${sk.gini}`)
  }
  for (const c of [8, 16, 32]) {
    const lru = fast('lru', ids, shape, T, c, 0)
    const rate = lru.hits.reduce((a, b) => a + b, 0) / (T * shape.nMoe * shape.k)
    assert.ok(Math.abs(rate - c / 64) < 0.02, `uniform LRU c=${c}: ${rate}`)
  }
})

test('baselines and skew match their closed forms', () => {
  const b = baselines(256, 8, 1)
  assert.ok(Math.abs(b.reuse - 0.03125) < 1e-12)
  assert.ok(Math.abs(b.anyRepeat - 0.227) < 0.001) // docs/expert-reuse.md §1.2: 22.7 % for R1
  assert.ok(Math.abs(b.windowReuse - b.reuse) < 1e-12)
  assert.ok(Math.abs(baselines(8, 2, 1).anyRepeat - 0.464) < 0.001) // Mixtral: 46.4 %
  assert.deepEqual(baselines(64, 6, 1).topShare, [1 / 64, 7 / 64, 13 / 64])
  const one = skew([0, 0, 10, 0])
  assert.deepEqual(one.topShare, [1, 1, 1])
  assert.equal(one.entropy, 0)
  assert.equal(one.gini, 0.75)
  assert.deepEqual(one.hottest[0], {expert: 2, share: 1})
  const flat = skew([5, 5, 5, 5])
  assert.equal(flat.entropy, 1)
  assert.equal(flat.gini, 0)
})

test('cost model: budget → experts per layer, PCIe bytes, bandwidth-only tok/s', () => {
  const S = [26.5e6, 26.5e6]
  assert.equal(capacityForBudget(4 * 1024 ** 3, S), 81)
  assert.equal(bytesPerToken([0.5, 0.75], 8, S), 8 * 0.5 * 26.5e6 + 8 * 0.75 * 26.5e6)
  assert.equal(bytesPerToken([0, 0], 8, S), 0)
  const facts = {expertBytes: S, denseBytes: 1e9, source: 'test'}
  const bw = {pcieGBs: 25, gpuGBs: 500, cpuGBs: 250, source: 'test'}
  const close = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-9 * b, `${a} ≠ ${b}`)
  // No cache: 1e9/500e9 + 2·8·26.5e6/250e9
  close(decodeTps([0, 0], [0, 0], 8, facts, bw), 1 / (1e9 / 500e9 + (16 * 26.5e6) / 250e9))
  // Static, all hits: everything from the GPU; half hits: the rest from the CPU
  close(decodeTps([1, 1], [0, 0], 8, facts, bw), 1 / ((1e9 + 16 * 26.5e6) / 500e9))
  close(decodeTps([0.5, 0.5], [0, 0], 8, facts, bw), 1 / ((1e9 + 8 * 26.5e6) / 500e9 + (8 * 26.5e6) / 250e9))
  // Admit every miss: all routed on the GPU plus misses over PCIe
  close(decodeTps([0.5, 0.5], [0.5, 0.5], 8, facts, bw), 1 / ((1e9 + 16 * 26.5e6) / 500e9 + (8 * 26.5e6) / 25e9))
  assert.equal(decodeTps([0.5, 0.5], [0.5, 0.5], 8, {...facts, expertBytes: null}, bw), null)
  assert.equal(decodeTps([0.5, 0.5], [0.5, 0.5], 8, facts, {...bw, pcieGBs: null}), null)
  assert.ok(
    decodeTps([0.5, 0.5], [0, 0], 8, facts, {...bw, pcieGBs: null}) !== null,
    'no PCIe needed without admissions',
  )
})

// ---------------------------------------------------------------- end to end

function options(over: Partial<ReuseOptions> = {}): ReuseOptions {
  return {
    capacities: [4, 8],
    vram: [],
    policies: POLICIES,
    window: 4,
    warmup: 0.1,
    facts: {expertBytes: null, denseBytes: null, source: 'none'},
    bandwidth: {pcieGBs: null, gpuGBs: null, cpuGBs: null, source: 'none'},
    optMemoryBytes: 1024 ** 3,
    ...over,
  }
}

test('analyzeReuse: schema-valid result, per-layer rows agree with the reference, OPT in layer groups', async () => {
  const shape = {nMoe: 3, nExpert: 16, k: 2}
  const T = 300
  const ids = synthIds(shape, T, {kind: 'markov', p: 0.5}, 4)
  const p = join(dir, 'e2e.moetrace')
  writeTrace(p, tinyHeader(T, {expertBytes: [1e6, 1e6, 2e6], denseBytes: 5e7}), ids)
  const S = [1e6, 1e6, 2e6]
  // OPT memory for exactly one layer per pass: three passes over the file.
  const r = await analyzeReuse(
    openTrace(p),
    options({
      capacities: [2, 4, 8],
      vram: [8e6 + 1, 1e6],
      facts: {expertBytes: S, denseBytes: 5e7, source: 'trace header'},
      bandwidth: {pcieGBs: 25, gpuGBs: 500, cpuGBs: 200, source: 'test'},
      optMemoryBytes: T * 2 * 6 + 10,
    }),
  )
  assert.deepEqual(schemaErrors(reuseResultSchema, r), [])
  assert.equal(r.settings.warmupTokens, 30)
  assert.equal(r.layers.length, 3)
  assert.ok(Math.abs(r.overall.reuse - 0.5) < 0.06)
  // 8 MB + 1 B over (1+1+2) MB per slot → 2 experts per layer; 1 MB holds none.
  assert.ok(r.cache.some((c) => c.vramBytes === 8e6 + 1 && c.capacity === 2))
  assert.ok(r.notes.some((n) => /holds no expert per layer/.test(n)))
  for (const row of r.cache) {
    if (row.layer === 'all') {
      assert.ok(row.decodeTps !== null && row.decodeTps > 0)
      continue
    }
    const l = [1, 2, 3].indexOf(row.layer)
    // OPT gets free loads at the start and at the warm-up boundary (as static gets its hot set),
    // so it is compared with optLayer so loaded, and never below the cold-start optimum
    const cold = reference(row.policy, column(ids, shape, T, l), 16, row.capacity, 30)
    const ref =
      row.policy === 'opt'
        ? optLayer(Uint16Array.from(column(ids, shape, T, l).flat()), T, 2, 16, row.capacity, {
            scoreFrom: 30,
            freeLoadAt: [0, 30],
          })
        : cold
    assert.ok(ref.hits >= cold.hits && ref.hitsScored >= cold.hitsScored)
    const denom = row.policy === 'static' ? (T - 30) * 2 : T * 2
    assert.ok(Math.abs(row.hitRate - ref.hits / denom) < 1e-12, `${row.policy} c=${row.capacity} layer ${row.layer}`)
    assert.ok(Math.abs(row.hitRateAfterWarmup - ref.hitsScored / ((T - 30) * 2)) < 1e-12)
    if (row.policy === 'static') assert.equal(row.bytesPerToken, 0)
    else if (row.policy === 'opt') assert.ok(row.bytesPerToken! <= 2 * (1 - row.hitRate) * S[l] + 1e-6)
    else assert.ok(Math.abs(row.bytesPerToken! - 2 * (1 - row.hitRate) * S[l]) < 1e-6)
  }
  const all = r.cache.filter((c) => c.layer === 'all' && c.capacity === 4 && c.vramBytes === null)
  assert.deepEqual(
    all.map((c) => c.policy),
    ['lru', 'lfu', 'static', 'opt'],
  )
  const opt = all.find((c) => c.policy === 'opt')!
  for (const c of all) assert.ok(opt.hitRate >= c.hitRate || c.policy === 'static')
  assert.ok(opt.hitRateAfterWarmup >= all.find((c) => c.policy === 'static')!.hitRateAfterWarmup - 0.01)
})

test('analyzeReuse: capacities below k run static only, with a note; too little OPT memory is a note', async () => {
  const shape = {nMoe: 2, nExpert: 16, k: 4}
  const T = 100
  const p = join(dir, 'small.moetrace')
  writeTrace(
    p,
    {model: 'tiny', arch: 'x', nLayer: 2, moeLayers: [0, 1], nExpert: 16, k: 4, nTokens: T, hasWeights: false},
    synthIds(shape, T, {kind: 'uniform'}, 1),
  )
  const r = await analyzeReuse(openTrace(p), options({capacities: [2, 40], optMemoryBytes: 100}))
  assert.deepEqual([...new Set(r.cache.filter((c) => c.capacity === 2).map((c) => c.policy))], ['static'])
  assert.ok(r.notes.some((n) => /capacity 2 < k = 4: LRU and LFU/.test(n)))
  assert.ok(r.notes.some((n) => /--cache 40: more than the 16 experts of a layer; clamped to 16/.test(n)))
  assert.ok(r.notes.some((n) => /OPT skipped/.test(n)))
  const withOpt = await analyzeReuse(openTrace(p), options({capacities: [2]}))
  assert.deepEqual([...new Set(withOpt.cache.map((c) => c.policy))], ['static', 'opt'])
  assert.ok(
    r.cache
      .filter((c) => c.capacity === 16 && c.layer === 'all' && c.policy === 'lru')
      .every((c) => Math.abs(c.hitRate - (T * 4 - 16) / (T * 4)) < 0.01),
  )
})

test('model facts from the catalog: R1 Q4_K_M ≈ 26.5 MB per expert, ≈ 9.9 GB non-routed (docs/expert-reuse.md §3.1)', async () => {
  const {loadInventory, resolveFacts} = await import('../../src/reuse/inputs.js')
  const {r1Header} = await import('../support/reuse-synth.js')
  const {MoerigError} = await import('../../src/lib/errors.js')
  const r1 = await loadInventory({model: 'deepseek-r1', quant: 'Q4_K_M'})
  const f = resolveFacts(r1Header(10), {}, r1)
  const mean = f.expertBytes!.reduce((a, b) => a + b, 0) / f.expertBytes!.length
  assert.ok(Math.abs(mean / 26.5e6 - 1) < 0.02, `mean expert bytes ${mean}`)
  assert.ok(Math.abs(f.denseBytes! / 9.92e9 - 1) < 0.03, `non-routed ${f.denseBytes}`)
  // Flags win over the model; the header is the last resort.
  const g = resolveFacts({...r1Header(10), expertBytes: Array(58).fill(1), denseBytes: 2}, {expertBytes: 5}, null)
  assert.deepEqual([g.expertBytes![0], g.denseBytes], [5, 2])
  const lite = await loadInventory({model: 'deepseek-v2-lite'})
  assert.throws(
    () => resolveFacts(r1Header(10), {}, lite),
    (e: Error) => e instanceof MoerigError && /64 routed experts per layer, the trace 256/.test(e.message),
  )
})
