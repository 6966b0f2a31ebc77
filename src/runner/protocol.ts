/**
 * Messages between the CLI and the runner child process (worker.ts), over Node's IPC channel with
 * structured-clone serialization (typed arrays travel as such). One job per child.
 */
import type {
  KernelOptions,
  KernelResult,
  LlamaContextParams,
  LlamaDecodeCheck,
  LlamaGenerateResult,
  LlamaGenerateSpec,
  LlamaInitResult,
  LlamaModelInfo,
  LlamaModelParams,
} from '../engine/addon.js'
import type {EngineSetup} from '../engine/engine.js'

export interface BenchTestSpec {
  nPrompt: number
  nGen: number
  /** tokens already in the context when the timed run starts (llama-bench -d); absent = 0 */
  nDepth?: number
}

export interface BenchJob {
  kind: 'bench'
  setup: EngineSetup
  model: LlamaModelParams
  /** nCtx: fixed context (a plan's); absent = nPrompt + nGen of each test, as llama-bench */
  context: LlamaContextParams
  tests: BenchTestSpec[]
  reps: number
  warmup: boolean
  /** GPUs the placement needs ("GPU<i>" names resolve to the engine's i-th GPU in the child) */
  gpusRequired?: number
  /** load and create one context (memory figures), time nothing */
  memoryOnly?: boolean
}

export interface RunJob {
  kind: 'run'
  setup: EngineSetup
  model: LlamaModelParams
  context: LlamaContextParams
  generate: LlamaGenerateSpec
  gpusRequired?: number
}

/** Load a model with a placement and create one context per entry, no decoding (check-plan: src/runner/checkplan.ts). */
export interface CheckJob {
  kind: 'check'
  setup: EngineSetup
  model: LlamaModelParams
  contexts: LlamaContextParams[]
  gpusRequired?: number
}

/** Only initialise the engine and list its devices (probe's engineDevices). */
export interface DevicesJob {
  kind: 'devices'
  setup: EngineSetup
}

/** Time ggml's CPU matrix × vector kernels (calibrate's decode kernels: src/runner/kernels.ts). */
export interface KernelsJob {
  kind: 'kernels'
  setup: EngineSetup
  options: KernelOptions
}

/** One model per case: load, create a context, decode a prompt and a few single tokens (synth --check, variant tests). */
export interface DecodeCheckCase {
  model: LlamaModelParams
  context: LlamaContextParams
  prompt: string
  /** greedy single-token decode steps after the prompt */
  steps: number
}

export interface DecodeCheckJob {
  kind: 'decode-check'
  setup: EngineSetup
  cases: DecodeCheckCase[]
}

export interface DecodeCheckOutcome {
  info: LlamaModelInfo
  amxGuarded: string[]
  loadMs: number
  nCtx: number
  check: LlamaDecodeCheck
}

/**
 * Several models loaded at once and their tests run round after round, interleaved (calibrate and
 * bench/speed-fidelity on a shared machine: src/runner/rounds.ts). Each round runs every config
 * once, in order, until `rounds` are done; no test but the very first starts once `budgetMs` has
 * passed since the job began (loading counts).
 */
export interface RoundsJob {
  kind: 'rounds'
  setup: EngineSetup
  models: LlamaModelParams[]
  configs: RoundsConfig[]
  rounds: number
  budgetMs: number
  warmup: boolean
  /** each decode test's repetitions one per pass of the round (passes.ts) */
  spread: boolean
}

export interface RoundsConfig {
  /** index into RoundsJob.models */
  model: number
  /** threads, batch and ubatch; nCtx = the test's tokens when absent */
  context: LlamaContextParams
  test: BenchTestSpec
  reps: number
}

export interface RoundsOutcome {
  round: number
  config: number
  samplesNs: number[]
  tokenNs?: number[]
}

export type Job = BenchJob | RunJob | CheckJob | DevicesJob | DecodeCheckJob | KernelsJob | RoundsJob

/** Jobs that load a model (the extra-buffer-type fallback applies to them). */
export type ModelJob = BenchJob | RunJob | CheckJob

export interface BenchTestOutcome extends BenchTestSpec {
  samplesNs: number[]
  /** tg tests: each timed single-token decode step (ns) */
  tokenNs?: number[]
  /** context as created for this test */
  nCtx: number
  stopped: boolean
}

export type ChildEvent =
  | ({type: 'init'} & LlamaInitResult)
  | {type: 'loaded'; info: LlamaModelInfo; log: string[]; loadMs: number; amxGuarded: string[]; model?: number}
  | {type: 'context'; test: number; nCtx: number; nBatch: number; nUbatch: number; threads: number; log: string[]}
  | {type: 'rep'; test: number; index: number; ns: number}
  | {type: 'piece'; text: string}
  | {type: 'bench-done'; tests: BenchTestOutcome[]; stopped: boolean}
  | {type: 'run-done'; result: LlamaGenerateResult}
  | {type: 'check-done'; contexts: Array<{nCtx: number; nUbatch: number; log: string[]}>}
  | ({type: 'devices-done'} & LlamaInitResult)
  | {type: 'case-start'; index: number}
  | {type: 'decode-check-done'; cases: DecodeCheckOutcome[]}
  | {type: 'kernels-progress'; done: number; total: number}
  | {type: 'kernels-done'; results: KernelResult[]}
  | ({type: 'round-test'} & RoundsOutcome)
  | {type: 'rounds-done'; outcomes: RoundsOutcome[]; stopped: boolean; budgetSpent: boolean}
  | {type: 'error'; code: string; message: string}

export type ParentMessage = {type: 'job'; job: Job} | {type: 'stop'}
