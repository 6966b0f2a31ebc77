/**
 * `moerig bench`: llama-bench's method on our engine. The model runs in the runner child process
 * (child.ts); this module builds the job, turns raw nanoseconds into t/s rows, reads the memory
 * figures, puts a plan's predictions beside the measurement and saves the result.
 */
import {basename, join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {alignRight, renderTable} from '../lib/table.js'
import {fmtBinary, fmtMiB} from '../lib/units.js'
import {USAGE_EXIT} from '../lib/command.js'
import {assertUbatchWithinBatch} from '../lib/flagcheck.js'
import {checkOutputFolder, freshPath, writeJsonFile} from '../lib/fs.js'
import {checkThreads, maxThreads} from '../lib/threads.js'
import {LLAMA_DEFAULTS} from '../lib/llama-defaults.js'
import {assertValid} from '../schemas/validate.js'
import {
  benchResultSchema,
  type BenchResult,
  type BenchRow,
  type MemoryReport,
  type PlacementRun,
} from '../schemas/bench.js'
import type {LlamaContextParams, LlamaDevice, LlamaModelInfo, LlamaModelParams} from '../engine/addon.js'
import type {RpcEndpoint} from '../engine/rpc.js'
import {checkPlanRpc, nameRpcBuffers} from './rpc-engine.js'
import {newLoadRecord, recordingOptions, runModelJob, signalExitCode} from './child.js'
import {engineSetup, type EngineSetup} from '../engine/engine.js'
import {mappedModel, memoryByDevice, parseBufferLines, residentBuffers, type MappedModel} from './memory.js'
import {checkModelFile, type ModelFile} from './modelfile.js'
import {checkPlan, comparePlan, gpusNeeded, loadPlan, planParams} from './planrun.js'
import {comparePlanMemory, parseContextBuffers} from './checkplan.js'
import type {CheckPlanResult} from '../schemas/checkplan.js'
import {runResultSchema, type RunResult} from '../schemas/run.js'
import {physicalCores, runProvenance} from './provenance.js'
import type {BenchTestSpec, BenchTestOutcome} from './protocol.js'
import {mean, median, stdev, testContext, testName, tokensPerSecond} from './stats.js'
import {KV_DEPTH} from '../planner/speed.js'

/**
 * llama-bench's defaults (tools/llama-bench/llama-bench.cpp cmd_params_defaults): its test sizes
 * and repetitions, and llama.cpp's context defaults (lib/llama-defaults.ts).
 */
export const BENCH_DEFAULTS = {
  nPrompt: 512,
  nGen: 128,
  reps: 5,
  ...LLAMA_DEFAULTS,
} as const

export interface BenchOptions {
  path?: string
  nPrompt: number[]
  nGen: number[]
  /** -d: tokens in the context before each timed repetition, every test at each (default [0]) */
  nDepth?: number[]
  reps: number
  threads?: number
  warmup?: boolean
  nBatch?: number
  nUbatch?: number
  typeK?: string
  typeV?: string
  flashAttn?: 'auto' | 'on' | 'off'
  /** false: --no-op-offload (default: the plan's, else llama.cpp's on) */
  opOffload?: boolean
  placement?: Partial<PlacementRun>
  plan?: {path: string; force: boolean}
  /** folder for the saved result; null = do not save */
  runsDir: string | null
  /** load with the placement and create the context, report memory, time nothing */
  memoryOnly?: boolean
  /** --cpu-variant: load libggml-cpu-<name>.so instead of ggml's pick */
  cpuVariant?: string
  /** --rpc: llama.cpp RPC servers whose devices join this machine's */
  rpc?: RpcEndpoint[]
  /** run tests whose context is past the model's trained context (--force) */
  pastTrainedContext?: boolean
  /** extra environment for the runner child (tests) */
  childEnv?: NodeJS.ProcessEnv
}

export interface BenchEvents {
  /** the engine aborted with extra buffer types on and the run starts again without them */
  onFallback?(line: string): void
  onPhase?(label: string, total?: number): void
  onRep?(test: string, index: number, reps: number, tps: number): void
  onInterrupt?(): void
  /** --plan: planned vs allocated memory (check-plan's table), once the plan's context exists, before measuring */
  onPlanCheck?(r: CheckPlanResult): void
}

export function placementDefaults(p: Partial<PlacementRun> = {}): PlacementRun {
  return {
    nGpuLayers: p.nGpuLayers ?? 0,
    splitMode: p.splitMode ?? 'layer',
    mainGpu: p.mainGpu ?? 0,
    tensorSplit: p.tensorSplit ?? [],
    tensorOverrides: p.tensorOverrides ?? [],
    nCpuMoe: p.nCpuMoe ?? 0,
    mmap: p.mmap ?? true,
    mlock: p.mlock ?? false,
    numa: p.numa ?? 'disabled',
    repack: p.repack ?? true,
    ...(p.devices ? {devices: p.devices} : {}),
  }
}

export function modelParams(path: string, p: PlacementRun): LlamaModelParams {
  return {
    path,
    nGpuLayers: p.nGpuLayers,
    splitMode: p.splitMode,
    mainGpu: p.mainGpu,
    tensorSplit: p.tensorSplit,
    tensorOverrides: p.tensorOverrides,
    nCpuMoe: p.nCpuMoe,
    mmap: p.mmap,
    mlock: p.mlock,
    numa: p.numa,
    useExtraBufts: p.repack !== false,
    ...(p.devices ? {devices: p.devices} : {}),
  }
}

/**
 * The tests of a run: pp<p> for each p > 0, then tg<n> for each n > 0, each at every depth
 * (llama-bench's order: its pp tests, then its tg tests, each over -d).
 */
export function benchTests(nPrompt: number[], nGen: number[], nDepth: number[] = [0]): BenchTestSpec[] {
  const depths = nDepth.length ? nDepth : [0]
  const bad = depths.find((d) => !Number.isInteger(d) || d < 0)
  if (bad !== undefined) throw new MoerigError('E_USAGE', `-d takes whole numbers ≥ 0, got ${bad}`, USAGE_EXIT)
  const at = (t: {nPrompt: number; nGen: number}) => depths.map((d) => (d > 0 ? {...t, nDepth: d} : t))
  const tests = [
    ...nPrompt.filter((p) => p > 0).flatMap((p) => at({nPrompt: p, nGen: 0})),
    ...nGen.filter((n) => n > 0).flatMap((n) => at({nPrompt: 0, nGen: n})),
  ]
  if (tests.length === 0) throw new MoerigError('E_USAGE', 'nothing to measure: -p and -n are both 0')
  return tests
}

export function benchRow(t: BenchTestOutcome, threads: number): BenchRow {
  const samples = tokensPerSecond(t.samplesNs, t.nPrompt + t.nGen)
  return {
    test: testName(t.nPrompt, t.nGen, t.nDepth),
    nPrompt: t.nPrompt,
    nGen: t.nGen,
    nDepth: t.nDepth ?? 0,
    threads,
    nCtx: t.nCtx,
    reps: samples.length,
    tps: {mean: mean(samples), sd: stdev(samples)},
    samples,
    samplesNs: t.samplesNs.map((x) => Math.round(x)),
    ...(t.nGen > 0 && t.tokenNs?.length ? {tokenMs: tokenStats(t.tokenNs)} : {}),
  }
}

/** A tg test's single-token decode steps: how many, the fastest and the median (ms). */
export function tokenStats(tokenNs: number[]): NonNullable<BenchRow['tokenMs']> {
  const ms = [...tokenNs].sort((a, b) => a - b).map((x) => x / 1e6)
  const r = (x: number) => Math.round(x * 1e4) / 1e4
  return {n: ms.length, fastest: r(ms[0]), median: r(median(ms)!)}
}

/**
 * Model weights from the load log; KV and compute buffers of the largest context created.
 * `buffers` are as logged; `devices` are the resident need: with `mapped` (an mmap load) the
 * CPU_Mapped span is replaced by the bytes that stay mapped (memory.ts residentBuffers).
 */
export function memoryReport(
  loadLog: string[],
  contextLogs: string[][],
  mapped?: MappedModel,
  devices: LlamaDevice[] = [],
): MemoryReport {
  const model = parseBufferLines(loadLog)
  let best: ReturnType<typeof parseBufferLines> = []
  let bestTotal = -1
  for (const log of contextLogs) {
    const b = parseBufferLines(log)
    const total = b.reduce((s, x) => s + x.bytes, 0)
    if (total > bestTotal) {
      best = b
      bestTotal = total
    }
  }
  // RPC buffers ("RPC0[host:port]") under the engine's device names (RPC0, RPC1 …)
  const buffers = nameRpcBuffers([...model, ...best], devices)
  return {
    source: 'llama.cpp log',
    devices: memoryByDevice(mapped ? residentBuffers(buffers, mapped) : buffers),
    buffers,
  }
}

export function runModelSection(mf: ModelFile, info: LlamaModelInfo) {
  return {
    path: mf.path,
    name: info.name || mf.name,
    arch: info.arch,
    desc: info.desc,
    fileBytes: mf.gguf.fileBytes,
    sizeBytes: info.sizeBytes,
    nParams: info.nParams,
    nLayer: info.nLayer,
    nExpert: info.nExpert,
    nExpertUsed: info.nExpertUsed,
  }
}

/**
 * Validate a bench or run result against its schema and, given a runs folder, save it there under
 * a fresh reports/runs/<time>-<kind>-<model>.json (its path in savedTo).
 */
export function checkAndSave<T extends BenchResult | RunResult>(
  result: T,
  schema: typeof benchResultSchema | typeof runResultSchema,
  modelPath: string,
  time: Date,
  runsDir: string | null | undefined,
): T {
  if (runsDir) result.savedTo = freshPath(join(runsDir, runFileName(result.kind, modelPath, time)))
  assertValid<T>(schema, result, `${result.kind} result`)
  if (result.savedTo) writeJsonFile(result.savedTo, result)
  return result
}

/** reports/runs/<time>-<kind>-<model>.json */
export function runFileName(kind: string, modelPath: string, time: Date): string {
  const stamp = time
    .toISOString()
    .replace(/[:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  const stem = basename(modelPath)
    .replace(/\.gguf$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
  return `${stamp}-${kind}-${stem}.json`
}

/** The model's trained context (<arch>.context_length), or null when the file does not say. */
export function trainedContext(mf: ModelFile): number | null {
  const v = mf.gguf.metadata[`${mf.gguf.arch}.context_length`]
  return typeof v === 'number' && v > 0 ? v : null
}

/**
 * Refuse tests whose context is past the trained one: llama.cpp runs them anyway, slowly and with
 * degraded attention, and a -p 100000 on a small machine looks like a hang.
 */
function checkTrainedContext(mf: ModelFile, tests: BenchTestSpec[], nCtx: number | undefined, force: boolean): void {
  const train = trainedContext(mf)
  if (train === null || force) return
  for (const t of tests) {
    const need = nCtx ?? testContext(t)
    if (need > train) {
      throw new MoerigError(
        'E_USAGE',
        `${testName(t.nPrompt, t.nGen, t.nDepth)} needs a context of ${need} tokens; ${mf.name} was trained for ${train}: use -d/-p/-n up to ${train} together (or --force to run past it)`,
        USAGE_EXIT,
      )
    }
  }
}

export async function runBench(opts: BenchOptions, ev: BenchEvents = {}): Promise<BenchResult> {
  const time = new Date()
  if (opts.threads !== undefined) checkThreads('-t', opts.threads)
  if (opts.runsDir) checkOutputFolder(opts.runsDir, '--runs-dir')
  const plan = opts.plan ? loadPlan(opts.plan.path) : null
  const path = opts.path ?? plan?.model.path ?? undefined
  if (!path) throw new MoerigError('E_USAGE', 'no model: give a GGUF path (or a plan whose model.path is set)')
  ev.onPhase?.(`reading ${basename(path)}`)
  const mf = await checkModelFile(path)
  if (plan) checkPlan(plan, opts.plan!.path, mf.gguf, opts.plan!.force)
  if (plan) checkPlanRpc(plan, opts.plan!.path, opts.rpc ?? [])

  const pp = plan ? planParams(plan, path) : null
  const placement = pp
    ? placementDefaults({
        ...opts.placement,
        nGpuLayers: pp.model.nGpuLayers,
        splitMode: pp.model.splitMode,
        mainGpu: pp.model.mainGpu,
        tensorSplit: pp.model.tensorSplit,
        tensorOverrides: pp.model.tensorOverrides,
        nCpuMoe: pp.model.nCpuMoe,
        numa: pp.model.numa,
        // the plan's --no-mmap, or the command's
        mmap: (opts.placement?.mmap ?? true) && pp.model.mmap !== false,
      })
    : placementDefaults(opts.placement)
  // a plan made for a bigger machine asks for more threads than this one has: capped, and the row says how many ran
  const threads = opts.threads ?? Math.min(pp?.context.threads ?? physicalCores(), maxThreads())
  const context: LlamaContextParams = {
    nCtx: pp?.context.nCtx,
    nBatch: opts.nBatch ?? pp?.context.nBatch ?? BENCH_DEFAULTS.nBatch,
    nUbatch: opts.nUbatch ?? pp?.context.nUbatch ?? BENCH_DEFAULTS.nUbatch,
    typeK: opts.typeK ?? pp?.context.typeK ?? BENCH_DEFAULTS.typeK,
    typeV: opts.typeV ?? pp?.context.typeV ?? BENCH_DEFAULTS.typeV,
    flashAttn: opts.flashAttn ?? pp?.context.flashAttn ?? BENCH_DEFAULTS.flashAttn,
    opOffload: opts.opOffload ?? pp?.context.opOffload ?? true,
    threads,
  }
  assertUbatchWithinBatch(context.nUbatch, context.nBatch, {ubatch: '--ubatch-size', batch: '--batch-size'})
  const tests = benchTests(opts.nPrompt, opts.nGen, opts.nDepth)
  // a plan's fixed context must hold the deepest test (llama.cpp would fail on the first token past it)
  const deepest = tests.reduce((x, t) => (testContext(t) > testContext(x) ? t : x))
  if (context.nCtx !== undefined && testContext(deepest) > context.nCtx)
    throw new MoerigError(
      'E_USAGE',
      `${testName(deepest.nPrompt, deepest.nGen, deepest.nDepth)} needs a context of ${testContext(deepest)} tokens; the plan's context is ${context.nCtx}: use smaller -d/-p/-n (or plan a larger --ctx)`,
      USAGE_EXIT,
    )
  checkTrainedContext(mf, tests, context.nCtx, Boolean(opts.pastTrainedContext))
  const setup: EngineSetup = engineSetup(opts.cpuVariant, opts.rpc)

  const rec = newLoadRecord()
  ev.onPhase?.(`loading ${basename(path)}`)
  const outcome = await runModelJob(
    {
      kind: 'bench',
      setup,
      model: modelParams(path, placement),
      context,
      tests,
      reps: opts.reps,
      warmup: opts.warmup ?? true,
      gpusRequired: plan ? gpusNeeded(plan) : 0,
      memoryOnly: opts.memoryOnly,
    },
    recordingOptions(rec, opts.childEnv, ev, (e) => {
      if (e.type === 'context') {
        if (plan && e.test === 0 && ev.onPlanCheck) {
          ev.onPlanCheck(
            comparePlanMemory(
              {plan, planPath: opts.plan!.path},
              path,
              rec.devices,
              [...parseBufferLines(rec.loadLog), ...parseContextBuffers(e.log)],
              {mmap: placement.mmap, mapped: mappedModel(mf, rec.loadLog)},
            ),
          )
        }
        const t = tests[e.test]
        if (t) ev.onPhase?.(`${testName(t.nPrompt, t.nGen, t.nDepth)}`, opts.reps)
      } else if (e.type === 'rep') {
        const t = tests[e.test]
        ev.onRep?.(testName(t.nPrompt, t.nGen, t.nDepth), e.index, opts.reps, (1e9 * (t.nPrompt + t.nGen)) / e.ns)
      }
    }),
  )
  const {devices, info, loadLog, contextLogs} = rec
  if (outcome.final.type !== 'bench-done' || !info)
    throw new MoerigError('E_ENGINE', 'the runner ended without a bench result')
  const done = outcome.final
  const rows = done.tests.filter((t) => t.samplesNs.length > 0).map((t) => benchRow(t, threads))
  const partial =
    !opts.memoryOnly &&
    (done.stopped ||
      outcome.interrupted ||
      rows.length < tests.length ||
      rows.some((r) => r.samples.length < opts.reps))
  if (partial && rows.length === 0) {
    throw new MoerigError(
      'E_INTERRUPTED',
      `stopped${outcome.signal ? ` (${outcome.signal})` : ''} before any repetition finished; nothing saved`,
      signalExitCode(outcome.signal),
    )
  }
  const memory = memoryReport(loadLog, contextLogs, placement.mmap ? mappedModel(mf, rec.loadLog) : undefined, devices)
  const result: BenchResult = {
    schemaVersion: 1,
    kind: 'bench',
    partial,
    ...(partial && outcome.signal ? {stoppedBy: outcome.signal} : {}),
    ...(opts.memoryOnly ? {memoryOnly: true} : {}),
    model: runModelSection(mf, info),
    config: {
      threads,
      nBatch: context.nBatch!,
      nUbatch: context.nUbatch!,
      nCtx: context.nCtx ?? null,
      typeK: context.typeK!,
      typeV: context.typeV!,
      flashAttn: context.flashAttn!,
      opOffload: context.opOffload!,
      reps: opts.reps,
      warmup: opts.warmup ?? true,
      placement,
    },
    results: rows,
    memory,
    ...(plan
      ? {
          plan: comparePlan(
            plan,
            opts.plan!.path,
            opts.plan!.force,
            devices,
            memory.devices,
            planRows(rows, plan.context),
          ),
        }
      : {}),
    provenance: runProvenance(setup, rec, threads, time, placement.repack !== false, outcome.fallback),
  }
  return checkAndSave(result, benchResultSchema, path, time, opts.runsDir)
}

/**
 * The rows a plan's prediction is compared with. Decode: the tg test whose mean depth (d + n/2) is
 * nearest the plan's mid depth (KV_DEPTH.mid of its context: the depth its decodeTps is predicted
 * at); the first of equals. Prefill: the first pp test at the shallowest depth (the plan's prefill is
 * one ubatch from an empty cache up).
 */
export function planRows(
  rows: BenchRow[],
  context: number,
): {decode: number | null; prefill: number | null; decodeTest: string | null; prefillTest: string | null} {
  const mid = context * KV_DEPTH.mid
  const dist = (r: BenchRow) => Math.abs((r.nDepth ?? 0) + r.nGen / 2 - mid)
  const tg = rows
    .filter((r) => r.nGen > 0 && r.nPrompt === 0)
    .reduce<BenchRow | null>((x, r) => (x === null || dist(r) < dist(x) ? r : x), null)
  const pp = rows
    .filter((r) => r.nPrompt > 0 && r.nGen === 0)
    .reduce<BenchRow | null>((x, r) => (x === null || (r.nDepth ?? 0) < (x.nDepth ?? 0) ? r : x), null)
  return {
    decode: tg?.tps.mean ?? null,
    prefill: pp?.tps.mean ?? null,
    decodeTest: tg?.test ?? null,
    prefillTest: pp?.test ?? null,
  }
}

// ---------------------------------------------------------------- printing

function fmtSize(bytes: number): string {
  return fmtBinary(bytes, {units: ['MiB', 'GiB'], digits: 2})
}

function fmtParams(n: number): string {
  return n < 1e9 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e9).toFixed(2)} B`
}

/**
 * The context settings llama-bench's markdown printer adds a column for when they differ from its
 * defaults (print_non_default): its names and how it prints them.
 */
function nonDefaultColumns(c: BenchResult['config'] | undefined): Array<[string, string]> {
  if (!c) return []
  const cols: Array<[string, string | false]> = [
    ['n_batch', c.nBatch !== BENCH_DEFAULTS.nBatch && String(c.nBatch)],
    ['n_ubatch', c.nUbatch !== BENCH_DEFAULTS.nUbatch && String(c.nUbatch)],
    ['type_k', c.typeK !== BENCH_DEFAULTS.typeK && c.typeK],
    ['type_v', c.typeV !== BENCH_DEFAULTS.typeV && c.typeV],
    ['nopo', c.opOffload === false && '1'],
  ]
  return cols.filter((x): x is [string, string] => x[1] !== false)
}

/** llama-bench's markdown table: model | size | params | backend | threads | [non-default settings] | test | t/s. */
export function benchTable(r: BenchResult): string {
  const extra = nonDefaultColumns(r.config)
  const head = ['model', 'size', 'params', 'backend', 'threads', ...extra.map((x) => x[0]), 'test', 't/s']
  const right = [false, true, true, false, true, ...extra.map(() => true), true, true]
  const rows = r.results.map((x) => [
    r.model.desc,
    fmtSize(r.model.sizeBytes),
    fmtParams(r.model.nParams),
    r.provenance.backend,
    String(x.threads),
    ...extra.map((e) => e[1]),
    x.test,
    `${x.tps.mean.toFixed(2)} ± ${x.tps.sd.toFixed(2)}`,
  ])
  return renderTable(head, rows, alignRight(right), {markdown: true}).join('\n')
}

const mib = (b: number) => fmtMiB(b)

/** Memory per device (measured), one line each. */
export function memoryLines(m: MemoryReport): string[] {
  return m.devices.map(
    (d) =>
      `${d.device}: weights ${mib(d.weightsBytes)}, KV ${mib(d.kvBytes)}, compute ${mib(d.computeBytes)} = ${mib(d.totalBytes)} (measured, llama.cpp log)`,
  )
}

/** Plan vs measurement, side by side. */
export function planLines(p: NonNullable<BenchResult['plan']>): string[] {
  const out = [`plan ${p.path}${p.forced ? ' (does not fit; run with --force)' : ''}, context ${p.context}:`]
  for (const d of p.devices) {
    const pl = d.planned
    const ms = d.measured
    const name = d.engineDevice === d.id ? d.id : `${d.id} (${d.engineDevice})`
    out.push(
      `  ${name}: planned ${mib(pl.totalBytes)} (weights ${mib(pl.weightsBytes)}, KV ${mib(pl.kvBytes)}, compute ${mib(pl.computeBytes)})` +
        ` · measured ${ms ? `${mib(ms.totalBytes)} (weights ${mib(ms.weightsBytes)}, KV ${mib(ms.kvBytes)}, compute ${mib(ms.computeBytes)})` : 'nothing allocated'}`,
    )
  }
  const f = (x: number | null) => (x === null ? 'not run' : `${x.toFixed(2)} t/s`)
  for (const phase of ['decode', 'prefill'] as const) {
    const c = p.comparison?.[phase]
    const pred = phase === 'decode' ? p.predicted.decodeTps : p.predicted.prefillTps
    const meas = phase === 'decode' ? p.measured.decodeTps : p.measured.prefillTps
    const range = c && c.low !== c.high ? ` (range ${c.low.toFixed(2)}–${c.high.toFixed(2)})` : ''
    const err =
      c && c.errorPct !== null
        ? `, prediction ${c.errorPct >= 0 ? '+' : ''}${c.errorPct.toFixed(1)} %${c.inRange ? ', inside the range' : c.inRange === false ? ', OUTSIDE the range' : ''}`
        : ''
    out.push(
      `  ${phase}: predicted ${pred.toFixed(2)} t/s${range} · measured ${f(meas)}${c?.test ? ` (${c.test})` : ''}${err}`,
    )
  }
  const hint = depthHint(p.context, p.comparison?.decode.test)
  if (hint) out.push(`  ${hint}`)
  return out
}

/**
 * A decode test far from the depth the plan predicts at (half its context) compares two different
 * things: say so, and which -d measures there.
 */
export function depthHint(context: number, test: string | undefined): string | null {
  const m = test ? /^tg(\d+)(?: @ d(\d+))?$/.exec(test) : null
  if (!m) return null
  const n = Number(m[1]),
    d = Number(m[2] ?? 0)
  const mid = Math.round(context * KV_DEPTH.mid)
  const at = Math.max(0, mid - Math.round(n / 2))
  // within a tenth of the context: the same depth for the prediction's purposes
  if (Math.abs(d + n / 2 - mid) <= context / 10) return null
  return `note: the plan's decode is predicted at depth ${mid} (half its context of ${context}); ${test} averages depth ${Math.round(d + n / 2)}: -d ${at} measures at the plan's depth`
}
