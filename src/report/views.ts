/**
 * What a report shows, as plain data: the input adapters (`inputs.ts`) map each input document
 * (profile, plan, bench result, reuse analysis, trace) onto one of these views, and `build.ts`
 * turns views into tables and charts. Byte counts are bytes; speeds are tokens per second.
 */

export interface HardwareView {
  kind: 'hardware'
  label: string
  cpu: string
  sockets: number
  cores: number
  threads: number
  memoryBytes: number
  channels: number | null
  theoreticalGBs: number | null
  /** Triad GB/s from `probe --measure`; null when not measured. */
  measuredGBs: number | null
  gpus: {name: string; vramBytes: number | null}[]
}

export interface PlanDeviceView {
  id: string
  /** "cpu", "numa", "gpu" …: GPUs and RAM get separate charts (their scales differ 30×). */
  kind: string
  capacityBytes: number | null
  weightsBytes: number
  kvBytes: number
  computeBytes: number
}

export interface QuantRowView {
  quant: string
  sizeBytes: number
  fits: boolean
  maxContext: number | null
  decodeTps: number | null
  prefillTps: number | null
}

export interface PlanView {
  kind: 'plan'
  /** "DeepSeek-R1 Q4_K_M · llama.cpp · dual-8592-2xa770". */
  label: string
  model: string
  quant: string | null
  engine: string
  hardware: string
  weightsBytes: number
  context: number
  fits: boolean
  verdict: string | null
  devices: PlanDeviceView[]
  kvBytesPerToken: number | null
  /** Largest context that fits with n GPUs (0 = CPU only), null where it does not fit at all. */
  maxContextByGpuCount: {gpus: number; context: number | null}[]
  decodeTps: number | null
  decodeTpsRange: [number, number] | null
  prefillTps: number | null
  assumptions: string[]
  rows: QuantRowView[]
}

export interface BenchResultRow {
  test: string
  nPrompt: number
  nGen: number
  threads: number
  mean: number
  sd: number
}

export interface BenchView {
  kind: 'bench'
  /** `moerig bench` (repetitions, mean ± sd) or `moerig run` (one generation). */
  tool: 'bench' | 'run'
  label: string
  model: string
  quant: string | null
  sizeBytes: number | null
  backend: string
  threads: number
  /** llama.cpp terms: "CPU only", "-ngl 99 -ot exps=CPU", "--n-cpu-moe 20" … */
  placement: string
  results: BenchResultRow[]
  /** From `bench --plan`: memory per device planned vs measured, bytes. */
  memory: {device: string; plannedBytes: number | null; measuredBytes: number | null}[]
  /** From `bench --plan`: predicted speeds of the plan it executed. */
  predicted: {decodeTps: number | null; prefillTps: number | null} | null
  provenance: string
}

export interface ReuseView {
  kind: 'reuse'
  label: string
  model: string
  layers: {layer: number; reuse: number; reuseRandom: number; top10Share: number | null; entropy: number | null}[]
  cache: {
    policy: string
    capacity: number
    layer: number | 'all'
    hitRate: number
    hitRateRandom: number | null
    bytesPerToken: number | null
    decodeTps: number | null
  }[]
  /** Means over layers, when the analysis gives them. */
  overall: {reuse: number; reuseRandom: number; top10Share: number; entropy: number; gini: number} | null
  /** Bandwidth-only decode estimate with no expert cache (all routed experts on the CPU). */
  noCacheDecodeTps: number | null
  notes: string[]
}

export interface TraceView {
  kind: 'trace'
  label: string
  model: string
  nExpert: number
  k: number
  nTokens: number
  /** Block indices of the MoE layers, and activation counts counts[i][expert] for moeLayers[i]. */
  moeLayers: number[]
  counts: number[][]
}

/** A `moerig tune` result: every measured configuration, ranked, and the search over time. */
export interface TuneView {
  kind: 'tune'
  label: string
  model: string
  objective: string
  /** pp<n> and tg<n> */
  tests: {pp: string; tg: string}
  summary: string
  rows: {
    rank: number | null
    flags: string
    tags: string[]
    prefill: {mean: number; sd: number} | null
    decode: {mean: number; sd: number} | null
    /** the prediction the search ranked it by: the planner's, corrected by the measurements before it */
    predicted: {decodeTps: number; prefillTps: number}
    reps: number
    memory: string
    vsDefaults: number | null
    vsPlan: number | null
  }[]
  /** one point per measurement: seconds since the search started, its score, the best so far */
  path: {atS: number; score: number | null; bestScore: number | null}[]
  winner: {flags: string; commands: string[]; notes: string[]} | null
  provenance: string
}

export type InputView = HardwareView | PlanView | BenchView | ReuseView | TraceView | TuneView
