/**
 * The plan-guided search of `moerig tune` (issue 14), as pure logic over a `Measurer`: the real one
 * runs llama-bench style tests in the runner child (measure.ts), tests pass a fake one with a fake
 * clock.
 *
 * 1. Seeds: llama.cpp's defaults and the plan's pick are measured first (short runs).
 * 2. Explore, alternately: a one-dimension neighbour of the best measured configuration, one with
 *    a value never measured first (local, first: it tests the planner's claim about one dimension,
 *    whatever the prediction), and the best corrected prediction among the candidates the planner
 *    says fit (exploit, down to HOPELESS × the best measured score). After every measurement the
 *    predicted/measured ratios of the configurations measured so far correct the predictions of
 *    the rest (correctedPrediction: a similarity-weighted geometric mean, so a dimension the
 *    planner does not model, such as --no-repack, the CPU variant or thread contention, is learnt
 *    from the measured configurations that share it). Exploring stops when EXPLORE_SHARE of the
 *    budget is spent or nothing is left to try.
 * 3. Successive halving: the better half of the measured configurations gets twice the
 *    repetitions, until CONFIRM_TOP remain; those are confirmed with the full repetitions
 *    (mean ± sd like bench).
 * Every measurement is checked against the budget before it starts (its time estimated from the
 * corrected prediction plus the load overhead seen so far); a stop request ends the search after
 * the measurement under way, keeping everything measured.
 */
import {dimensions, type TuneConfig} from './space.js'

export type Objective = 'decode' | 'prefill' | 'balanced'

/** Repetitions of an exploring measurement, and the full ones of the confirmed top (bench's -r 5). */
export const FIRST_REPS = 1
export const FULL_REPS = 5
export const CONFIRM_TOP = 3
/** Share of the budget exploring may use; the rest is for halving and confirming. */
export const EXPLORE_SHARE = 0.55
/** A candidate whose corrected prediction is below this fraction of the best measured is not worth a run. */
export const HOPELESS = 0.7
/** Weight of a measured configuration in the feedback: SIMILARITY_BASE ^ (dimensions in common). */
export const SIMILARITY_BASE = 4
/** Load, context creation and process start of one measurement until the first one says otherwise (s). */
export const DEFAULT_OVERHEAD_S = 3

export interface Speeds {
  decodeTps: number
  prefillTps: number
}

export interface Candidate {
  id: string
  config: TuneConfig
  /** the planner's prediction (t/s) */
  predicted: Speeds
  /** 'defaults' (llama.cpp's), 'plan' (the plan's pick) */
  tags: string[]
}

export interface MeasureResult {
  /** t/s of each repetition */
  decode: number[]
  prefill: number[]
  /** wall time of the measurement, load included */
  seconds: number
  /** stopped by a signal: the repetitions finished so far */
  stopped?: boolean
  /** the run failed (no samples): one line */
  error?: string
}

export interface Measurer {
  measure(c: Candidate, reps: number): Promise<MeasureResult>
}

export type Phase = 'seed' | 'explore' | 'halving' | 'confirm'

export interface Measured {
  id: string
  decode: number[]
  prefill: number[]
  runs: number
  seconds: number
  errors: string[]
  /** the planner's prediction and the corrected one when it was first measured */
  predicted: Speeds
  corrected: Speeds
}

export interface PathStep {
  /** seconds since the search started, at the start of this measurement */
  atS: number
  seconds: number
  id: string
  phase: Phase
  reps: number
  /** this run's mean t/s (null: not measured or failed) */
  decodeTps: number | null
  prefillTps: number | null
  score: number | null
  /** best measured configuration after this step */
  bestId: string | null
  bestScore: number | null
  error?: string
}

export type StopReason = 'done' | 'budget' | 'signal'

export interface SearchResult {
  measured: Measured[]
  path: PathStep[]
  winner: string | null
  stop: StopReason
  /** seconds spent measuring (sum of the runs) */
  measureSeconds: number
  /** geometric mean of measured / predicted over the measured configurations (1 when none) */
  ratio: Speeds
}

export type SearchEvent =
  | {
      type: 'start'
      candidate: Candidate
      phase: Phase
      reps: number
      left: number
      bestId: string | null
      bestScore: number | null
      timeLeftS: number
    }
  | {type: 'done'; step: PathStep}

export interface SearchOptions {
  objective: Objective
  budgetS: number
  /** seconds on a monotonic clock */
  now(): number
  stopRequested?(): boolean
  tests: {nPrompt: number; nGen: number}
  firstReps?: number
  fullReps?: number
  confirmTop?: number
  onEvent?(e: SearchEvent): void
}

/** The objective as one number: t/s of decode or prefill, or their geometric mean (balanced). */
export function score(o: Objective, decodeTps: number | null, prefillTps: number | null): number | null {
  if (o === 'decode') return decodeTps
  if (o === 'prefill') return prefillTps
  if (decodeTps === null || prefillTps === null) return null
  return Math.sqrt(decodeTps * prefillTps)
}

const mean = (v: number[]) => (v.length === 0 ? null : v.reduce((s, x) => s + x, 0) / v.length)

export function measuredSpeeds(m: Pick<Measured, 'decode' | 'prefill'>): {
  decodeTps: number | null
  prefillTps: number | null
} {
  return {decodeTps: mean(m.decode), prefillTps: mean(m.prefill)}
}

export function measuredScore(o: Objective, m: Pick<Measured, 'decode' | 'prefill'>): number | null {
  const s = measuredSpeeds(m)
  return score(o, s.decodeTps, s.prefillTps)
}

const dimsCache = new WeakMap<TuneConfig, string[]>()
function dims(c: TuneConfig): string[] {
  let d = dimsCache.get(c)
  if (!d) dimsCache.set(c, (d = dimensions(c)))
  return d
}

/** Dimensions two configurations share (0 … 8). */
export function similarity(a: TuneConfig, b: TuneConfig): number {
  const x = dims(a)
  const y = dims(b)
  let n = 0
  for (let i = 0; i < x.length; i++) if (x[i] === y[i]) n++
  return n
}

/** A measured configuration as the feedback sees it. */
export interface Observation {
  config: TuneConfig
  predicted: Speeds
  decodeTps: number | null
  prefillTps: number | null
}

/**
 * The planner's prediction of `c` corrected by what was measured: per phase, the prediction times
 * the weighted geometric mean of measured/predicted over the observations, weights
 * SIMILARITY_BASE^(dimensions shared). One observation scales every prediction alike (the ranking
 * stays the planner's); several teach which dimensions the planner misjudges.
 */
export function correctedPrediction(c: {config: TuneConfig; predicted: Speeds}, obs: Observation[]): Speeds {
  let swd = 0,
    sld = 0,
    swp = 0,
    slp = 0
  for (const o of obs) {
    const w = SIMILARITY_BASE ** similarity(c.config, o.config)
    if (o.decodeTps !== null && o.decodeTps > 0 && o.predicted.decodeTps > 0) {
      swd += w
      sld += w * Math.log(o.decodeTps / o.predicted.decodeTps)
    }
    if (o.prefillTps !== null && o.prefillTps > 0 && o.predicted.prefillTps > 0) {
      swp += w
      slp += w * Math.log(o.prefillTps / o.predicted.prefillTps)
    }
  }
  return {
    decodeTps: c.predicted.decodeTps * (swd > 0 ? Math.exp(sld / swd) : 1),
    prefillTps: c.predicted.prefillTps * (swp > 0 ? Math.exp(slp / swp) : 1),
  }
}

/** Geometric mean of measured/predicted per phase over the observations (1 when none). */
export function meanRatio(obs: Observation[]): Speeds {
  const g = (phase: 'decodeTps' | 'prefillTps') => {
    const r = obs
      .filter((o) => o[phase] !== null && o[phase]! > 0 && o.predicted[phase] > 0)
      .map((o) => Math.log(o[phase]! / o.predicted[phase]))
    return r.length === 0 ? 1 : Math.exp(r.reduce((s, x) => s + x, 0) / r.length)
  }
  return {decodeTps: g('decodeTps'), prefillTps: g('prefillTps')}
}

/** Seconds of the timed work of one measurement: a warm-up and `reps` runs of pp and tg. */
export function workSeconds(s: Speeds, reps: number, tests: {nPrompt: number; nGen: number}): number {
  const pp = tests.nPrompt > 0 ? tests.nPrompt / Math.max(s.prefillTps, 1e-6) : 0
  const tg = tests.nGen > 0 ? tests.nGen / Math.max(s.decodeTps, 1e-6) : 0
  return (reps + 1) * (pp + tg)
}

/**
 * Successive halving of candidates ranked by corrected prediction, within a budget. The
 * candidates are those that fit; seeds (tags 'defaults', 'plan') are measured first.
 */
export async function search(candidates: Candidate[], measurer: Measurer, o: SearchOptions): Promise<SearchResult> {
  const firstReps = o.firstReps ?? FIRST_REPS
  const fullReps = Math.max(o.fullReps ?? FULL_REPS, firstReps)
  const confirmTop = o.confirmTop ?? CONFIRM_TOP
  const t0 = o.now()
  const elapsed = () => o.now() - t0
  const byId = new Map(candidates.map((c) => [c.id, c]))
  const measured = new Map<string, Measured>()
  const path: PathStep[] = []
  let stop: StopReason = 'done'
  /** the configurations of the last completed round (explore, a halving round, confirm): the winner's field */
  let finalists: string[] | null = null
  let overheads: number[] = []
  let measureSeconds = 0

  const observations = (): Observation[] =>
    [...measured.values()]
      .filter((m) => m.decode.length + m.prefill.length > 0)
      .map((m) => ({config: byId.get(m.id)!.config, predicted: m.predicted, ...measuredSpeeds(m)}))
  const best = (): {id: string | null; score: number | null} => {
    let id: string | null = null
    let s: number | null = null
    for (const m of measured.values()) {
      const x = measuredScore(o.objective, m)
      if (x !== null && (s === null || x > s)) {
        s = x
        id = m.id
      }
    }
    return {id, score: s}
  }
  const overhead = () =>
    overheads.length ? overheads.reduce((a, b) => a + b, 0) / overheads.length : DEFAULT_OVERHEAD_S
  const estimate = (c: Candidate, reps: number): number => {
    const m = measured.get(c.id)
    const known = m && m.decode.length + m.prefill.length > 0 ? measuredSpeeds(m) : null
    const s =
      known && known.decodeTps !== null && known.prefillTps !== null
        ? {decodeTps: known.decodeTps, prefillTps: known.prefillTps}
        : correctedPrediction(c, observations())
    return overhead() + workSeconds(s, reps, o.tests)
  }

  /** One measurement; false when the search must end (signal). */
  const run = async (c: Candidate, reps: number, phase: Phase, left: number): Promise<boolean> => {
    const b = best()
    o.onEvent?.({
      type: 'start',
      candidate: c,
      phase,
      reps,
      left,
      bestId: b.id,
      bestScore: b.score,
      timeLeftS: Math.max(0, o.budgetS - elapsed()),
    })
    const atS = elapsed()
    const corrected = correctedPrediction(c, observations())
    const r = await measurer.measure(c, reps)
    measureSeconds += r.seconds
    let m = measured.get(c.id)
    if (!m) {
      m = {id: c.id, decode: [], prefill: [], runs: 0, seconds: 0, errors: [], predicted: c.predicted, corrected}
      measured.set(c.id, m)
    }
    m.runs++
    m.seconds += r.seconds
    m.decode.push(...r.decode)
    m.prefill.push(...r.prefill)
    if (r.error) m.errors.push(r.error)
    const runSpeeds = {decodeTps: mean(r.decode), prefillTps: mean(r.prefill)}
    if (!r.error && !r.stopped && (r.decode.length > 0 || r.prefill.length > 0)) {
      const work = workSeconds(
        {decodeTps: runSpeeds.decodeTps ?? 1, prefillTps: runSpeeds.prefillTps ?? 1},
        r.decode.length || r.prefill.length,
        {nPrompt: r.prefill.length ? o.tests.nPrompt : 0, nGen: r.decode.length ? o.tests.nGen : 0},
      )
      overheads = [...overheads, Math.max(0, r.seconds - work)].slice(-8)
    }
    const after = best()
    const step: PathStep = {
      atS,
      seconds: r.seconds,
      id: c.id,
      phase,
      reps,
      ...runSpeeds,
      score: score(o.objective, runSpeeds.decodeTps, runSpeeds.prefillTps),
      bestId: after.id,
      bestScore: after.score,
      ...(r.error ? {error: r.error} : {}),
    }
    path.push(step)
    o.onEvent?.({type: 'done', step})
    if (r.stopped || o.stopRequested?.()) {
      stop = 'signal'
      return false
    }
    return true
  }
  /** May a measurement of `c` with `reps` start, given `limitS` of the budget? */
  const affordable = (c: Candidate, reps: number, limitS: number) =>
    path.length === 0 || elapsed() + estimate(c, reps) <= limitS

  main: {
    if (o.stopRequested?.()) {
      stop = 'signal'
      break main
    }
    // 1. seeds
    const seeds = candidates.filter((c) => c.tags.length > 0)
    for (const c of seeds) {
      if (measured.has(c.id)) continue
      if (!affordable(c, firstReps, o.budgetS)) {
        stop = 'budget'
        break main
      }
      if (!(await run(c, firstReps, 'seed', candidates.length - measured.size - 1))) break main
    }
    // 2. explore: alternately the best corrected prediction (exploit) and the best one-dimension
    // neighbour of the best measured configuration (the step a llama.cpp user takes by hand: it
    // measures the dimensions where the planner's ranking is wrong, which the feedback then learns)
    const exploreLimit = o.budgetS * EXPLORE_SHARE
    /** dimension index → local steps that varied it */
    const localTried = new Map<number, number>()
    for (let turn = 0; ; turn++) {
      if (o.stopRequested?.()) {
        stop = 'signal'
        break main
      }
      const obs = observations()
      const rest = candidates
        .filter((c) => !measured.has(c.id))
        .map((c, i) => ({c, i, s: score(o.objective, ...speedsOf(correctedPrediction(c, obs))) ?? 0}))
        .sort((a, b) => b.s - a.s || a.i - b.i)
      if (rest.length === 0) break
      const b = best()
      const bestCfg = b.id ? byId.get(b.id)!.config : null
      const width = bestCfg ? dims(bestCfg).length : 0
      const exploit = rest.find((x) => b.score === null || x.s >= HOPELESS * b.score)
      // no prediction floor here: a neighbour tests the planner's claim about one dimension (on an
      // oversubscribed machine one thread can decode 10× faster than two, which no model predicts);
      // a value never measured anywhere goes first, then the best corrected prediction
      const local = bestCfg
        ? pickNeighbour(
            rest,
            bestCfg,
            width,
            [...measured.keys()].map((id) => byId.get(id)!.config),
            localTried,
          )
        : undefined
      const pick = turn % 2 === 0 ? (local ?? exploit) : (exploit ?? local)
      if (!pick) break
      if (!affordable(pick.c, firstReps, exploreLimit)) break
      if (pick === local && bestCfg) {
        const i = diffIndex(pick.c.config, bestCfg)
        localTried.set(i, (localTried.get(i) ?? 0) + 1)
      }
      if (!(await run(pick.c, firstReps, 'explore', rest.length - 1))) break main
    }
    // 3. successive halving, then the full repetitions for the top
    const ranked = () =>
      [...measured.values()]
        .map((m) => ({m, s: measuredScore(o.objective, m)}))
        .filter((x): x is {m: Measured; s: number} => x.s !== null)
        .sort((a, b) => b.s - a.s)
        .map((x) => x.m)
    let pool = ranked()
    finalists = pool.map((m) => m.id)
    let reps = firstReps
    const bringTo = async (ms: Measured[], target: number, phase: Phase): Promise<boolean> => {
      const todo = ms.filter((m) => samplesOf(m) < target)
      for (const [i, m] of todo.entries()) {
        const add = target - samplesOf(m)
        const c = byId.get(m.id)!
        if (!affordable(c, add, o.budgetS)) {
          stop = 'budget'
          return false
        }
        if (!(await run(c, add, phase, todo.length - i - 1))) return false
      }
      return true
    }
    // each round halves the field and doubles the repetitions (below the full count, which is the
    // confirmation's); once there, later rounds cut on the means they have
    while (pool.length > confirmTop) {
      const keep = Math.max(confirmTop, Math.ceil(pool.length / 2))
      reps = Math.max(firstReps, Math.min(fullReps - 1, reps * 2))
      const survivors = pool.slice(0, keep)
      if (!(await bringTo(survivors, reps, 'halving'))) break main
      const ids = new Set(survivors.map((m) => m.id))
      pool = ranked().filter((m) => ids.has(m.id))
      finalists = pool.map((m) => m.id)
    }
    if (!(await bringTo(pool.slice(0, confirmTop), fullReps, 'confirm'))) break main
    finalists = pool.slice(0, confirmTop).map((m) => m.id)
  }
  const all = [...measured.values()]
  return {
    measured: all,
    path,
    winner: pickWinner(o.objective, finalists ? all.filter((m) => finalists!.includes(m.id)) : all),
    stop,
    measureSeconds,
    ratio: meanRatio(observations()),
  }
}

/** The index of the one dimension where `a` differs from `b` (-1 when none or several). */
function diffIndex(a: TuneConfig, b: TuneConfig): number {
  const x = dims(a)
  const y = dims(b)
  let at = -1
  for (let i = 0; i < x.length; i++)
    if (x[i] !== y[i]) {
      if (at >= 0) return -1
      at = i
    }
  return at
}

/** How far apart two values of one dimension are: |log ratio| of their leading numbers (threads, ubatch), else 0. */
function distance(a: string, b: string): number {
  const x = parseFloat(a)
  const y = parseFloat(b)
  return x > 0 && y > 0 ? Math.abs(Math.log(x / y)) : 0
}

/**
 * The local step: a one-dimension neighbour of the best measured configuration. The dimension
 * varied least so far that still has a value never measured, then within it the value farthest
 * from the best's (coarse to fine: 1 thread before 3 when the best runs 4), then the best
 * corrected prediction; when every value was seen somewhere, the best-predicted neighbour.
 */
export function pickNeighbour<T extends {c: {config: TuneConfig}; s: number}>(
  rest: T[],
  best: TuneConfig,
  width: number,
  measuredConfigs: TuneConfig[],
  tried: Map<number, number>,
): T | undefined {
  const seen = new Set(measuredConfigs.flatMap((c) => dims(c).map((v, i) => `${i}=${v}`)))
  const bd = dims(best)
  const fresh: Array<{x: T; i: number; d: number}> = []
  let any: T | undefined
  for (const x of rest) {
    if (similarity(x.c.config, best) !== width - 1) continue
    any ??= x
    const i = diffIndex(x.c.config, best)
    const v = dims(x.c.config)[i]
    if (!seen.has(`${i}=${v}`)) fresh.push({x, i, d: distance(v, bd[i])})
  }
  if (fresh.length === 0) return any
  fresh.sort((p, q) => (tried.get(p.i) ?? 0) - (tried.get(q.i) ?? 0) || p.i - q.i || q.d - p.d || q.x.s - p.x.s)
  return fresh[0].x
}

function speedsOf(s: Speeds): [number, number] {
  return [s.decodeTps, s.prefillTps]
}

/** Repetitions a configuration has (the larger of its tg and pp sample counts). */
export function samplesOf(m: Pick<Measured, 'decode' | 'prefill'>): number {
  return Math.max(m.decode.length, m.prefill.length)
}

/**
 * The winner among `finalists` (the configurations of the last round the search completed: the
 * confirmed top, or the survivors of the last halving round when the budget ran out during the
 * next): the best mean score, so a lucky short run eliminated earlier cannot come back, nor can a
 * half-confirmed round decide by who was measured first.
 */
export function pickWinner(o: Objective, finalists: Measured[]): string | null {
  const scored = finalists.map((m) => ({m, s: measuredScore(o, m)})).filter((x) => x.s !== null)
  if (scored.length === 0) return null
  return scored.sort((a, b) => b.s! - a.s!)[0].m.id
}
