/**
 * Interleaved rounds (issue 13): several models loaded in one runner child, their tests run
 * round after round — round 1 runs every test once, round 2 again, … — and each test keeps its
 * best round. On a shared machine another guest's burst slows whatever runs during it, for
 * seconds to minutes (tiny at 1 thread: 535 and 1225 t/s median token steps two minutes apart on a
 * Zen 4 guest); tests run one after another each meet their own bursts, so their ratios (what a
 * calibration fits: one model's time against another's) carry the noise. Interleaved, every test
 * is sampled across the same minutes, and the best of several rounds is near the machine's own
 * speed for all of them. Within a round a decode test's repetitions are spread too, one per pass
 * (passes.ts): a 2-vCPU guest's two-thread speed flips within a second.
 *
 * Used by calibrate (its four models at every thread count) and bench/speed-fidelity. One child
 * holds every model: the caller keeps their total within RAM (roundsFit).
 */
import {freemem} from 'node:os'
import {statSync} from 'node:fs'
import {MoerigError} from '../lib/errors.js'
import type {LlamaDevice} from '../engine/addon.js'
import {engineSetup} from '../engine/engine.js'
import {modelParams, placementDefaults} from './bench.js'
import {runInChild, signalExitCode, type StopSignal} from './child.js'
import type {PlacementRun} from '../schemas/bench.js'
import type {RoundsOutcome} from './protocol.js'
import {median} from './stats.js'

export interface RoundsModel {
  path: string
  placement?: Partial<PlacementRun>
}

export interface RoundsTest {
  /** index into RoundsOptions.models */
  model: number
  threads: number
  nPrompt: number
  nGen: number
  /** tokens in the context before each timed repetition (bench -d) */
  nDepth?: number
  /** repetitions per round */
  reps: number
  nUbatch?: number
  nBatch?: number
}

export interface RoundsOptions {
  models: RoundsModel[]
  tests: RoundsTest[]
  /** at most this many rounds */
  rounds: number
  /** no test but the very first starts after this many seconds (loading the models counts) */
  budgetS: number
  warmup?: boolean
  /**
   * Each decode test's repetitions one per pass of the round, the passes going round every test
   * (passes.ts: each test sampled across the whole round, not one moment of it). Default true.
   */
  spread?: boolean
  cpuVariant?: string
  childEnv?: NodeJS.ProcessEnv
}

export interface RoundsEvents {
  onLoaded?(model: number, loadMs: number): void
  /** a test finished a round: its decode (tg) or prefill (pp) t/s, best repetition */
  onTest?(round: number, test: number, tps: number): void
  onInterrupt?(): void
}

export interface RoundsTestResult extends RoundsTest {
  /** per round run: ns per repetition and, for tg, per single-token step */
  rounds: Array<{samplesNs: number[]; tokenNs: number[]}>
}

export interface RoundsResult {
  tests: RoundsTestResult[]
  roundsRun: number
  /** the budget ended the rounds (possibly before every test ran once) */
  budgetSpent: boolean
  stopped: boolean
  signal: StopSignal | null
  llamaRelease: string | null
  cpuVariant: string | null
  devices: LlamaDevice[]
}

/** RAM the models of one rounds child may take: this share of free memory (the rest: page cache, contexts). */
const ROUNDS_RAM_SHARE = 0.6

/** Whether these model files fit in one child at once (their size against free RAM). */
export function roundsFit(paths: string[], free = freemem()): boolean {
  const total = paths.reduce((s, p) => s + statSync(p).size, 0)
  return total <= ROUNDS_RAM_SHARE * free
}

export async function runRounds(o: RoundsOptions, ev: RoundsEvents = {}): Promise<RoundsResult> {
  if (!o.models.length || !o.tests.length) throw new MoerigError('E_USAGE', 'rounds: no models or no tests')
  for (const t of o.tests)
    if (!(t.model >= 0 && t.model < o.models.length))
      throw new MoerigError('E_USAGE', `rounds: test model index ${t.model} outside 0..${o.models.length - 1}`)
  const setup = engineSetup(o.cpuVariant)
  let variant: string | null = null
  let devices: LlamaDevice[] = []
  const outcome = await runInChild(
    {
      kind: 'rounds',
      setup,
      models: o.models.map((m) => modelParams(m.path, placementDefaults(m.placement))),
      configs: o.tests.map((t) => ({
        model: t.model,
        test: {nPrompt: t.nPrompt, nGen: t.nGen, ...(t.nDepth ? {nDepth: t.nDepth} : {})},
        reps: t.reps,
        context: {
          threads: t.threads,
          ...(t.nUbatch ? {nUbatch: t.nUbatch} : {}),
          ...(t.nBatch ? {nBatch: t.nBatch} : {}),
        },
      })),
      rounds: Math.max(1, o.rounds),
      budgetMs: o.budgetS * 1000,
      warmup: o.warmup ?? true,
      spread: o.spread ?? true,
    },
    {
      env: o.childEnv,
      onInterrupt: ev.onInterrupt,
      onEvent: (e) => {
        if (e.type === 'init') {
          variant = e.cpuVariant || null
          devices = e.devices
        } else if (e.type === 'loaded' && e.model !== undefined) ev.onLoaded?.(e.model, e.loadMs)
        else if (e.type === 'round-test') {
          const t = o.tests[e.config]
          const ns = Math.min(...e.samplesNs)
          ev.onTest?.(e.round, e.config, (1e9 * (t.nPrompt + t.nGen)) / ns)
        }
      },
    },
  )
  if (outcome.final.type !== 'rounds-done') throw new MoerigError('E_ENGINE', 'the runner ended without rounds')
  const tests: RoundsTestResult[] = o.tests.map((t) => ({...t, rounds: []}))
  for (const r of outcome.final.outcomes as RoundsOutcome[])
    tests[r.config]?.rounds.push({samplesNs: r.samplesNs, tokenNs: r.tokenNs ?? []})
  if (tests.every((t) => t.rounds.length === 0))
    throw new MoerigError(
      'E_INTERRUPTED',
      `stopped${outcome.signal ? ` (${outcome.signal})` : ''} before any test finished a round`,
      signalExitCode(outcome.signal),
    )
  return {
    tests,
    roundsRun: Math.max(...tests.map((t) => t.rounds.length)),
    budgetSpent: outcome.final.budgetSpent,
    stopped: outcome.final.stopped || outcome.interrupted,
    signal: outcome.signal,
    llamaRelease: setup.release,
    cpuVariant: variant,
    devices,
  }
}

/**
 * A test's speeds over its rounds (pure). decode (tg): 1 ÷ the fastest single-token step of any
 * round (what calibrate fits: another process only ever slows a step down); decodeMedian: the best
 * round's median step; decodeRep: the best repetition. prefill (pp): the best repetition. t/s.
 */
export function roundsTps(t: Pick<RoundsTestResult, 'nPrompt' | 'nGen' | 'rounds'>): {
  decode: number | null
  decodeMedian: number | null
  decodeRep: number | null
  prefill: number | null
  rounds: number
} {
  const tokens = t.nPrompt + t.nGen
  const bestRep = () => {
    const ns = t.rounds.flatMap((r) => r.samplesNs)
    return ns.length ? (1e9 * tokens) / Math.min(...ns) : null
  }
  if (t.nGen > 0 && t.nPrompt === 0) {
    const steps = t.rounds.flatMap((r) => r.tokenNs)
    const medians = t.rounds.map((r) => median(r.tokenNs)).filter((x): x is number => x !== null && x > 0)
    return {
      decode: steps.length ? 1e9 / Math.min(...steps) : null,
      decodeMedian: medians.length ? 1e9 / Math.min(...medians) : null,
      decodeRep: bestRep(),
      prefill: null,
      rounds: t.rounds.length,
    }
  }
  return {decode: null, decodeMedian: null, decodeRep: null, prefill: bestRep(), rounds: t.rounds.length}
}
