/**
 * `moerig tune` as a function (issue 14): the space of llama.cpp configurations on this machine,
 * pruned and ranked by the planner (predict.ts), searched by successive halving with feedback
 * (search.ts) measured by bench's runner (measure.ts), and the result: every measured
 * configuration ranked, beside llama.cpp's defaults and the plan's pick, the winner as commands.
 */
import {loadavg} from 'node:os'
import {join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {USAGE_EXIT} from '../lib/command.js'
import {checkOutputFolder, freshPath, writeJsonFile} from '../lib/fs.js'
import {maxThreads} from '../lib/threads.js'
import {placementFlags} from '../planner/emit.js'
import {makePlan} from '../planner/plan.js'
import {resolveModel} from '../planner/resolve.js'
import {defaultContext} from '../planner/run.js'
import type {Inventory} from '../model/inventory.js'
import {endpointText, type RpcEndpoint} from '../engine/rpc.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import type {Plan, PlanCommands} from '../schemas/plan.js'
import {tuneResultSchema, type TuneMeasured, type TuneResult} from '../schemas/tune.js'
import {assertValid} from '../schemas/validate.js'
import {runFileName} from '../runner/bench.js'
import {listEngineDevices} from '../runner/checkplan.js'
import {checkModelFile} from '../runner/modelfile.js'
import {checkPlan, engineGpus, loadPlan} from '../runner/planrun.js'
import {moerigVersion, physicalCores} from '../runner/provenance.js'
import {stdev} from '../runner/stats.js'
import {benchMeasurer} from './measure.js'
import {makePredictor, planFor, type Prediction, type PredictorInput} from './predict.js'
import {
  candidateConfigs,
  configFlags,
  configKey,
  llamaDefaults,
  spaceValues,
  type SpaceInput,
  type SpaceValues,
  type TuneConfig,
} from './space.js'
import {
  measuredScore,
  samplesOf,
  search,
  type Candidate,
  type Measured,
  type Measurer,
  type Objective,
  type SearchEvent,
  type SearchResult,
} from './search.js'

/** llama-bench's pp test; a short tg (64 instead of 128) keeps each measurement short. */
export const TUNE_TESTS = {nPrompt: 512, nGen: 64}

export interface TuneOptions {
  model: string
  profiles: HardwareProfile[]
  ctx?: number
  objective: Objective
  budgetS: number
  /** --plan: the pick to compare with (default: the planner's pick for this model and hardware) */
  planPath?: string
  tests?: {nPrompt: number; nGen: number}
  firstReps?: number
  fullReps?: number
  /** folder for the saved result; null = do not save */
  outDir: string | null
  stopRequested?: () => boolean
  /** the signal that stopped the search (the command's handler), for the result's stoppedBy */
  stopSignal?: () => 'SIGINT' | 'SIGTERM' | 'SIGHUP' | null
  /** a smaller space (tests, bench) */
  space?: Pick<SpaceInput, 'threads' | 'ubatchValues' | 'kvTypes'> & {
    flashAttn?: SpaceValues['flashAttn']
    repack?: boolean[]
    variants?: number
  }
  childEnv?: NodeJS.ProcessEnv
  /** --rpc: llama.cpp RPC servers attached to every measurement; profiles[i + 1] is the host of rpc[i] */
  rpc?: RpcEndpoint[]
  /** tests: a fake measurer instead of the runner */
  measurer?: Measurer
}

export interface TuneEvents {
  onPhase?(label: string): void
  onSearch?(e: SearchEvent): void
  onRep?(index: number, reps: number, tps: number): void
  onInterrupt?(): void
  onNote?(line: string): void
}

/** Everything tune knows before measuring: the space, the predictions, the seeds. */
export interface TunePrep {
  inv: Inventory
  ctx: number
  values: SpaceValues
  candidates: Candidate[]
  predictions: Map<string, Prediction>
  pruned: Record<string, number>
  total: number
  defaults: Candidate | null
  planPick: Candidate | null
  predictorInput: PredictorInput
  plannerCalls: number
  hardware: TuneResult['hardware']
  cpuVariantPick: string
  notes: string[]
}

/** A plan's configuration as tune sees it (threads capped at this machine). */
export function planConfig(plan: Plan, logical: number): TuneConfig {
  const p = plan.placement
  const gpus = plan.gpusUsed ?? 0
  return {
    threads: Math.max(1, Math.min(plan.threads, logical)),
    nUbatch: plan.ubatch,
    nBatch: plan.batch,
    flashAttn: plan.flashAttention ? 'on' : 'off',
    kvType: plan.kvType,
    repack: true,
    cpuVariant: null,
    numa: plan.numa?.mode === 'interleave' ? 'distribute' : 'disabled',
    placement:
      gpus === 0
        ? {gpus: 0, mode: 'cpu', nCpuMoe: null}
        : p.nCpuMoe !== null && p.nCpuMoe !== undefined
          ? {gpus, mode: 'n-cpu-moe', nCpuMoe: p.nCpuMoe}
          : {gpus, mode: 'auto', nCpuMoe: null},
    ...(p.opOffload === false ? {opOffload: false} : {}),
  }
}

/** Candidates with their predictions: the space plus the seeds, pruned by fit (pure given a predictor). */
export function prepareCandidates(
  values: SpaceValues,
  seeds: Array<{config: TuneConfig; tag: string}>,
  predict: (c: TuneConfig) => Prediction,
): {candidates: Candidate[]; predictions: Map<string, Prediction>; pruned: Record<string, number>; total: number} {
  const configs = [...seeds.map((s) => s.config), ...candidateConfigs(values)]
  const seen = new Map<string, Candidate>()
  const predictions = new Map<string, Prediction>()
  const pruned: Record<string, number> = {}
  for (const config of configs) {
    const id = configKey(config)
    if (seen.has(id) || predictions.has(id)) continue
    const p = predict(config)
    predictions.set(id, p)
    if (!p.fits) {
      const why = p.reason ?? 'does not fit'
      pruned[why] = (pruned[why] ?? 0) + 1
      continue
    }
    seen.set(id, {id, config, predicted: {decodeTps: p.decodeTps, prefillTps: p.prefillTps}, tags: []})
  }
  for (const s of seeds) seen.get(configKey(s.config))?.tags.push(s.tag)
  return {candidates: [...seen.values()], predictions, pruned, total: predictions.size}
}

/**
 * Several --hardware profiles plan a split across hosts whose devices are "RPC<i>:…": each remote
 * host needs its server in --rpc, in the same order (one line otherwise, before anything runs).
 */
export function checkTuneRpc(profiles: Array<{name: string}>, rpc: RpcEndpoint[]): void {
  const remotes = profiles.slice(1).map((p) => p.name)
  if (remotes.length === 0 || remotes.length === rpc.length) return
  const given =
    rpc.length === 0 ? 'was not given' : `names ${rpc.length} server(s) (${rpc.map(endpointText).join(', ')})`
  throw new MoerigError(
    'E_USAGE',
    `--hardware names ${remotes.length} other machine(s) (${remotes.join(', ')}) but --rpc ${given}: give one server per other machine, in the same order`,
    USAGE_EXIT,
  )
}

/** Software GPUs (Mesa's llvmpipe/lavapipe, SwiftShader): not worth offloading to. */
const SOFTWARE_GPU = /llvmpipe|lavapipe|swiftshader/i

export async function prepareTune(opts: TuneOptions, ev: TuneEvents = {}): Promise<TunePrep> {
  const notes: string[] = []
  checkTuneRpc(opts.profiles, opts.rpc ?? [])
  if (opts.profiles.length === 1 && opts.rpc?.length)
    notes.push(
      `--rpc: the servers' devices were attached to every measurement, but one --hardware profile plans this machine alone; give one profile per machine (--hardware this.json,other.json) to search splits across them`,
    )
  ev.onPhase?.('reading the model')
  const mf = await checkModelFile(opts.model)
  const {inv} = await resolveModel(opts.model, {})
  const ctx = defaultContext(inv, opts.ctx)
  if (ctx > inv.shape.hp.contextLength)
    throw new MoerigError(
      'E_USAGE',
      `--ctx ${ctx}: ${mf.name} was trained for ${inv.shape.hp.contextLength} tokens`,
      USAGE_EXIT,
    )
  const main = opts.profiles[0]
  ev.onPhase?.('listing the engine')
  const engine = await listEngineDevices(opts.childEnv)
  const variants = [
    engine.cpuVariantBest,
    ...engine.cpuVariants
      .filter((v) => v.loadable && v.name !== engine.cpuVariantBest)
      .sort((a, b) => b.score - a.score)
      .map((v) => v.name),
  ].slice(0, Math.max(1, opts.space?.variants ?? 2))
  const hwGpus = engineGpus(engine.devices).filter((d) => !SOFTWARE_GPU.test(`${d.name} ${d.description}`))
  const gpus = Math.min(main.gpus.length, hwGpus.length)
  if (main.gpus.length > gpus)
    notes.push(
      `${main.name} lists ${main.gpus.length} GPU(s); the engine runs ${hwGpus.length} here: placements on ${gpus} searched`,
    )
  const logical = Math.min(main.cpu.threads, maxThreads())
  const cores = Math.min(main.cpu.cores, physicalCores(), logical)
  const numaNodes = main.numa.nodes.length
  const firstMoe = inv.moeLayers.length > 0 ? Math.min(...inv.moeLayers) : inv.shape.hp.nLayer
  const tests = opts.tests ?? TUNE_TESTS
  const values = spaceValues({
    logicalCpus: logical,
    physicalCores: cores,
    numaNodes,
    gpus,
    firstMoeLayer: firstMoe,
    nLayer: inv.shape.hp.nLayer,
    cpuVariants: variants,
    nPrompt: tests.nPrompt,
    ...opts.space,
  })
  if (opts.space?.flashAttn) values.flashAttn = opts.space.flashAttn
  if (opts.space?.repack) values.repack = opts.space.repack
  const profiles: HardwareProfile[] = [{...main, gpus: main.gpus.slice(0, gpus)}, ...opts.profiles.slice(1)]
  const predictorInput: PredictorInput = {inv, profiles, ctx, baseThreads: cores}
  const predictor = makePredictor(predictorInput)

  // the plan's pick: the --plan file, or the planner's own for this model, hardware and context
  let plan: Plan
  if (opts.planPath) {
    plan = loadPlan(opts.planPath)
    checkPlan(plan, opts.planPath, mf.gguf, true)
  } else plan = makePlan(inv, profiles, {ctx, engine: 'llama.cpp'})
  if (plan.engine !== 'llama.cpp')
    notes.push(`the plan is for ${plan.engine}; its placement is measured with llama.cpp's runner`)
  const defaultsConfig = llamaDefaults({logicalCpus: logical, physicalCores: cores, gpus})
  const planPickConfig = planConfig(plan, logical)
  ev.onPhase?.('predicting every configuration')
  const prep = prepareCandidates(
    values,
    [
      {config: defaultsConfig, tag: 'defaults'},
      {config: planPickConfig, tag: 'plan'},
    ],
    (c) => predictor.predict(c),
  )
  const defaults = prep.candidates.find((c) => c.tags.includes('defaults')) ?? null
  const planPick = prep.candidates.find((c) => c.tags.includes('plan')) ?? null
  if (!defaults)
    notes.push(
      `llama.cpp's defaults (${configFlags(defaultsConfig)}) do not fit at ${ctx} tokens: ${prep.predictions.get(configKey(defaultsConfig))?.reason}`,
    )
  if (!planPick) notes.push(`the plan's pick does not fit at ${ctx} tokens`)
  if (prep.candidates.length === 0)
    throw new MoerigError(
      'E_PLAN_DOES_NOT_FIT',
      `no configuration fits ${mf.name} at ${ctx} tokens on ${main.name}: ${Object.keys(prep.pruned).join('; ')}`,
    )
  return {
    inv,
    ctx,
    values,
    ...prep,
    defaults,
    planPick,
    predictorInput,
    plannerCalls: predictor.calls(),
    hardware: {
      id: main.id ?? 'probe',
      name: main.name,
      logicalCpus: logical,
      physicalCores: cores,
      numaNodes,
      gpus: main.gpus.slice(0, gpus).map((g) => g.name),
    },
    cpuVariantPick: engine.cpuVariantBest,
    notes,
  }
}

/** The winner as command lines: the planner's emitters, with what the planner does not say. */
export function winnerCommands(c: TuneConfig, cmds: PlanCommands): NonNullable<TuneResult['commands']> {
  const notes: string[] = []
  const numa = (s: string) => {
    const out = s.replace(/ --numa \w+/, '')
    return c.numa === 'disabled' ? out : out.replace(/ -t (\d+)/, ` -t $1 --numa ${c.numa}`)
  }
  let server = numa(cmds.llamaServer).replace(/ -fa (on|off|auto)\b/, ` -fa ${c.flashAttn}`)
  let bench = numa(cmds.llamaBench)
  if (c.flashAttn === 'auto')
    notes.push('llama-bench: -fa 1 stands for auto (auto turns flash attention on where the backend has it)')
  if (!c.repack) {
    server = server.replace(/ --host /, ' --no-repack --host ')
    bench = bench.replace(/ -p 512/, ' -nr 1 -p 512')
  }
  if (c.cpuVariant)
    notes.push(
      `CPU variant ${c.cpuVariant}: llama.cpp loads the best libggml-cpu-*.so it finds and has no flag for it; keep only libggml-cpu-${c.cpuVariant}.so beside the binaries to run this one`,
    )
  // FlashMoE and ktransformers need a GPU (planner/plan.ts refuses them without one)
  const gpu = c.placement.gpus > 0
  const kt =
    gpu && cmds.ktransformers
      ? {
          ...cmds.ktransformers,
          launch: cmds.ktransformers.launch.replace(/--cpu_infer \d+/, `--cpu_infer ${c.threads}`),
        }
      : null
  const flashMoe = gpu ? cmds.flashMoe : null
  if (flashMoe || kt)
    notes.push('FlashMoE and ktransformers: the same placement; they choose batch sizes and cache type themselves')
  else if (!gpu) notes.push('no FlashMoE or ktransformers equivalent: both need a GPU')
  return {llamaServer: server, llamaBench: bench, flashMoe, ktransformers: kt, notes}
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d
const stat = (v: number[]) =>
  v.length === 0
    ? null
    : {mean: round(v.reduce((s, x) => s + x, 0) / v.length), sd: round(stdev(v)), samples: v.map((x) => round(x))}

/** The measured configurations, best first, with ratios to the defaults and the plan's pick. */
export function rankMeasured(
  prep: Pick<TunePrep, 'candidates' | 'predictions'>,
  s: Pick<SearchResult, 'measured' | 'winner'>,
  objective: Objective,
  memory: (id: string) => Array<{device: string; totalBytes: number}>,
): TuneMeasured[] {
  const byId = new Map(prep.candidates.map((c) => [c.id, c]))
  const scoreOf = (m: Measured | undefined) => (m ? measuredScore(objective, m) : null)
  const find = (tag: string) => s.measured.find((m) => byId.get(m.id)?.tags.includes(tag))
  const dScore = scoreOf(find('defaults'))
  const pScore = scoreOf(find('plan'))
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? round(a / b) : null)
  const sorted = [...s.measured].sort((a, b) => (scoreOf(b) ?? -1) - (scoreOf(a) ?? -1))
  return sorted.map((m, i) => {
    const c = byId.get(m.id)!
    const p = prep.predictions.get(m.id)!
    const sc = scoreOf(m)
    const tags = [...c.tags, ...(m.id === s.winner ? ['winner'] : [])]
    return {
      id: m.id,
      rank: sc === null ? null : i + 1,
      config: c.config,
      flags: `${configFlags(c.config)} ${placementFlags(p.placement, {result: true})}`,
      tags,
      placement: p.placement,
      predicted: {decodeTps: round(m.predicted.decodeTps), prefillTps: round(m.predicted.prefillTps)},
      correctedPrediction: {decodeTps: round(m.corrected.decodeTps), prefillTps: round(m.corrected.prefillTps)},
      prefill: stat(m.prefill),
      decode: stat(m.decode),
      score: sc === null ? null : round(sc),
      reps: samplesOf(m),
      runs: m.runs,
      seconds: round(m.seconds, 2),
      memory: memory(m.id),
      vsDefaults: ratio(sc, dScore),
      vsPlan: ratio(sc, pScore),
      errors: m.errors,
    }
  })
}

export async function runTune(opts: TuneOptions, ev: TuneEvents = {}): Promise<TuneResult> {
  const time = new Date()
  const load0 = loadavg()
  if (opts.outDir) checkOutputFolder(opts.outDir, '--out-dir')
  const prep = await prepareTune(opts, ev)
  const tests = opts.tests ?? TUNE_TESTS
  const notes = [...prep.notes]
  const measurer =
    opts.measurer ??
    benchMeasurer({
      path: opts.model,
      tests,
      prediction: (id) => prep.predictions.get(id)!,
      childEnv: opts.childEnv,
      rpc: opts.rpc,
      onRep: ev.onRep,
      onInterrupt: ev.onInterrupt,
      onFallback: (line) => {
        notes.push(line)
        ev.onNote?.(line)
      },
    })
  const last = 'last' in measurer ? (measurer as ReturnType<typeof benchMeasurer>).last : null
  const s = await search(prep.candidates, measurer, {
    objective: opts.objective,
    budgetS: opts.budgetS,
    now: () => performance.now() / 1000,
    stopRequested: opts.stopRequested,
    tests,
    firstReps: opts.firstReps,
    fullReps: opts.fullReps,
    onEvent: ev.onSearch,
  })
  if (s.measured.length === 0)
    throw new MoerigError('E_INTERRUPTED', 'stopped before any configuration was measured; nothing saved', 130)
  const memory = (id: string) =>
    last?.get(id)?.memory.devices.map((d) => ({device: d.device, totalBytes: d.totalBytes})) ?? []
  const measured = rankMeasured(prep, s, opts.objective, memory)
  const winner = s.winner ? prep.candidates.find((c) => c.id === s.winner)! : null
  const commands = winner ? winnerCommands(winner.config, planFor(prep.predictorInput, winner.config).commands) : null
  if (s.stop === 'budget') notes.push(`budget of ${opts.budgetS} s reached: the search stopped there`)
  notes.push(
    `measured at llama-bench's test contexts (pp${tests.nPrompt}, tg${tests.nGen}); every configuration was checked to fit at ${prep.ctx} tokens by the planner`,
  )
  const first = last ? [...last.values()][0] : undefined
  const load1 = loadavg()
  const stoppedBy = s.stop === 'signal' ? (opts.stopSignal?.() ?? 'SIGINT') : undefined
  const result: TuneResult = {
    schemaVersion: 1,
    kind: 'tune',
    partial: s.stop === 'signal',
    ...(stoppedBy ? {stoppedBy} : {}),
    stop: s.stop,
    objective: opts.objective,
    budgetS: opts.budgetS,
    context: prep.ctx,
    tests,
    model: {path: opts.model, name: prep.inv.name, fileBytes: Math.round(prep.inv.fileBytes)},
    hardware: prep.hardware,
    space: {
      threads: prep.values.threads,
      ubatch: prep.values.ubatch,
      flashAttn: prep.values.flashAttn,
      kvTypes: prep.values.kvTypes,
      repack: prep.values.repack,
      cpuVariants: prep.values.cpuVariants,
      numa: prep.values.numa,
      opOffload: prep.values.opOffload,
      placements: prep.values.placements.map((p) =>
        p.mode === 'cpu' ? 'CPU only' : `${p.gpus} GPU ${p.mode}${p.nCpuMoe !== null ? `=${p.nCpuMoe}` : ''}`,
      ),
      candidates: prep.total,
      fitting: prep.candidates.length,
      pruned: prep.pruned,
      plannerCalls: prep.plannerCalls,
    },
    defaultsId: prep.defaults?.id ?? null,
    planId: prep.planPick?.id ?? null,
    winnerId: s.winner,
    measured,
    path: s.path.map((p) => ({
      ...p,
      atS: round(p.atS, 2),
      seconds: round(p.seconds, 2),
      decodeTps: p.decodeTps === null ? null : round(p.decodeTps),
      prefillTps: p.prefillTps === null ? null : round(p.prefillTps),
      score: p.score === null ? null : round(p.score),
      bestScore: p.bestScore === null ? null : round(p.bestScore),
    })),
    ratio: {decodeTps: round(s.ratio.decodeTps), prefillTps: round(s.ratio.prefillTps)},
    commands,
    seconds: round((Date.now() - time.getTime()) / 1000, 1),
    measureSeconds: round(s.measureSeconds, 1),
    notes,
    provenance: {
      moerigVersion: first?.provenance.moerigVersion ?? moerigVersion(),
      llamaRelease: first?.provenance.llamaRelease ?? 'unknown',
      cpu: first?.provenance.cpu ?? opts.profiles[0].cpu.model,
      cpuVariant: prep.cpuVariantPick,
      ...(first?.provenance.rpc ? {rpc: first.provenance.rpc} : {}),
      time: time.toISOString(),
      loadAverage: {start: load0.map((x) => round(x, 2)), end: load1.map((x) => round(x, 2))},
    },
  }
  if (opts.outDir) result.savedTo = freshPath(join(opts.outDir, runFileName('tune', opts.model, time)))
  assertValid<TuneResult>(tuneResultSchema, result, 'tune result')
  if (result.savedTo) writeJsonFile(result.savedTo, result)
  return result
}
