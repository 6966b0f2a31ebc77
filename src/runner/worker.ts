/**
 * The runner child process: loads the addon, runs one job (bench or run) and reports over IPC.
 * llama.cpp aborts (GGML_ASSERT, out of memory) kill this process, not the CLI; the CLI
 * (child.ts) turns the death into one error line with llama.cpp's last words from our stderr.
 *
 * Stop (Ctrl-C): a {type: 'stop'} message or SIGINT sets the context's stop flag; the current
 * repetition or token finishes, finished repetitions are reported, and the job ends normally.
 */
import type {
  ChildEvent,
  Job,
  ParentMessage,
  BenchJob,
  RunJob,
  CheckJob,
  BenchTestOutcome,
  DecodeCheckJob,
  DecodeCheckOutcome,
  KernelsJob,
  RoundsJob,
  RoundsOutcome,
} from './protocol.js'
import {testContext} from './stats.js'
import {roundPasses} from './passes.js'
import {checkJob, devicesJob} from './checkplan-worker.js'
import {initEngine, LlamaModel, type LlamaContext} from '../engine/engine.js'
import {loadAddon} from '../engine/addon.js'
import {oneLine} from '../lib/errors.js'
import {resolveModelDevices} from './planrun.js'

let stopped = false
let current: LlamaContext | null = null

function send(e: ChildEvent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve()
    process.send(e, undefined, {}, () => resolve())
  })
}

let kernelsRunning = false

function requestStop(): void {
  stopped = true
  current?.stop()
  if (kernelsRunning) loadAddon().decodeKernelsStop()
}

/** Test hook (test/native/runner*.test.ts): die the way a native abort does, at a named point. */
function crashPoint(at: string): void {
  if (process.env.MOERIG_TEST_CRASH === at) {
    process.stderr.write(`moerig test hook: simulated native abort at ${at}\n`)
    process.kill(process.pid, 'SIGABRT') // like abort(3) in llama.cpp: no JS stack on stderr
  }
}

async function load(job: BenchJob | RunJob | CheckJob): Promise<LlamaModel> {
  const init = await initEngine(job.setup)
  await send({type: 'init', ...init})
  crashPoint('init')
  const params = resolveModelDevices(job.model, init.devices, job.gpusRequired ?? 0)
  const t0 = performance.now()
  const model = await LlamaModel.load(params)
  await send({
    type: 'loaded',
    info: model.info,
    log: model.log,
    loadMs: performance.now() - t0,
    amxGuarded: model.amxGuarded,
  })
  crashPoint('load')
  // the way this release aborts on AMX CPUs (GGML_ASSERT while the context is created), for the
  // extra-buffer-type fallback's test: only while extra buffer types are on
  if (job.model.useExtraBufts !== false) crashPoint('context-extra-bufts')
  return model
}

async function bench(job: BenchJob): Promise<void> {
  const model = await load(job)
  const outcomes: BenchTestOutcome[] = []
  try {
    if (job.memoryOnly) {
      const nCtx = job.context.nCtx ?? Math.max(...job.tests.map(testContext))
      const ctx = await model.createContext({...job.context, nCtx})
      await send({type: 'context', test: -1, ...ctx.config, log: ctx.log})
      ctx.dispose()
    }
    for (let i = 0; i < job.tests.length && !stopped && !job.memoryOnly; i++) {
      const t = job.tests[i]
      const nCtx = job.context.nCtx ?? testContext(t)
      const ctx = await model.createContext({...job.context, nCtx})
      current = ctx
      try {
        await send({type: 'context', test: i, ...ctx.config, log: ctx.log})
        crashPoint('bench')
        const r = await ctx.bench(
          {nPrompt: t.nPrompt, nGen: t.nGen, nDepth: t.nDepth ?? 0, reps: job.reps, warmup: job.warmup},
          (rep) => void send({type: 'rep', test: i, index: rep.index, ns: rep.ns}),
        )
        outcomes.push({...t, samplesNs: r.samplesNs, tokenNs: r.tokenNs, nCtx: ctx.config.nCtx, stopped: r.stopped})
      } finally {
        current = null
        ctx.dispose()
      }
    }
  } finally {
    model.dispose()
  }
  await send({type: 'bench-done', tests: outcomes, stopped})
}

async function run(job: RunJob): Promise<void> {
  const model = await load(job)
  try {
    const ctx = await model.createContext(job.context)
    current = ctx
    try {
      await send({type: 'context', test: 0, ...ctx.config, log: ctx.log})
      crashPoint('run')
      const result = await ctx.generate(job.generate, (text) => void send({type: 'piece', text}))
      await send({type: 'run-done', result})
    } finally {
      current = null
      ctx.dispose()
    }
  } finally {
    model.dispose()
  }
}

async function decodeCheck(job: DecodeCheckJob): Promise<void> {
  const init = await initEngine(job.setup)
  await send({type: 'init', ...init})
  const out: DecodeCheckOutcome[] = []
  for (let i = 0; i < job.cases.length && !stopped; i++) {
    const c = job.cases[i]
    await send({type: 'case-start', index: i})
    const t0 = performance.now()
    const model = await LlamaModel.load(resolveModelDevices(c.model, init.devices, 0))
    try {
      const loadMs = performance.now() - t0
      const ctx = await model.createContext(c.context)
      current = ctx
      try {
        const check = await ctx.checkDecode(c.prompt, c.steps)
        out.push({info: model.info, amxGuarded: model.amxGuarded, loadMs, nCtx: ctx.config.nCtx, check})
      } finally {
        current = null
        ctx.dispose()
      }
    } finally {
      model.dispose()
    }
  }
  await send({type: 'decode-check-done', cases: out})
}

async function kernels(job: KernelsJob): Promise<void> {
  const init = await initEngine(job.setup)
  await send({type: 'init', ...init})
  kernelsRunning = true
  try {
    const results = await loadAddon().decodeKernels(
      job.options,
      (p) => void send({type: 'kernels-progress', done: p.done, total: p.total}),
    )
    await send({type: 'kernels-done', results})
  } finally {
    kernelsRunning = false
  }
}

/** Load every model, then run the configs round after round (protocol.ts RoundsJob). */
async function rounds(job: RoundsJob): Promise<void> {
  const start = performance.now()
  const init = await initEngine(job.setup)
  await send({type: 'init', ...init})
  const models: LlamaModel[] = []
  const outcomes: RoundsOutcome[] = []
  let budgetSpent = false
  try {
    for (const [i, params] of job.models.entries()) {
      if (stopped) break
      const t0 = performance.now()
      const model = await LlamaModel.load(resolveModelDevices(params, init.devices, 0))
      models.push(model)
      await send({
        type: 'loaded',
        model: i,
        info: model.info,
        log: model.log,
        loadMs: performance.now() - t0,
        amxGuarded: model.amxGuarded,
      })
    }
    // each round in passes (passes.ts): spread, a decode test's repetitions are one per pass
    const passes = roundPasses(job.configs, job.spread)
    const last = new Map<number, number>()
    for (const [p, pass] of passes.entries()) for (const x of pass) last.set(x.config, p)
    const described = new Set<number>()
    let first = true
    rounds: for (let round = 0; round < job.rounds && !stopped && models.length === job.models.length; round++) {
      const got = new Map<number, {samplesNs: number[]; tokenNs: number[]}>()
      // a config's round, reported once its last pass has run (or the round was cut short)
      const report = async (config: number) => {
        const g = got.get(config)
        if (!g?.samplesNs.length) return
        got.delete(config)
        const o: RoundsOutcome = {round, config, samplesNs: g.samplesNs, tokenNs: g.tokenNs}
        outcomes.push(o)
        await send({type: 'round-test', ...o})
      }
      try {
        for (const [p, pass] of passes.entries())
          for (const {config: i, reps} of pass) {
            if (stopped) break rounds
            // every test after the very first waits for the budget (loading counts)
            if (!first && performance.now() - start > job.budgetMs) {
              budgetSpent = true
              break rounds
            }
            const c = job.configs[i]
            const t = c.test
            const ctx = await models[c.model].createContext({...c.context, nCtx: c.context.nCtx ?? testContext(t)})
            current = ctx
            try {
              first = false
              if (!described.has(i)) await send({type: 'context', test: i, ...ctx.config, log: ctx.log})
              described.add(i)
              const r = await ctx.bench(
                {nPrompt: t.nPrompt, nGen: t.nGen, nDepth: t.nDepth ?? 0, reps, warmup: job.warmup},
                () => {},
              )
              if (r.samplesNs.length === 0) break rounds
              const g = got.get(i) ?? {samplesNs: [], tokenNs: []}
              g.samplesNs.push(...r.samplesNs)
              g.tokenNs.push(...(r.tokenNs ?? []))
              got.set(i, g)
            } finally {
              current = null
              ctx.dispose()
            }
            if (last.get(i) === p) await report(i)
          }
      } finally {
        // a round cut short (budget, stop) keeps the repetitions it ran
        for (const i of [...got.keys()]) await report(i)
      }
    }
  } finally {
    for (const m of models) m.dispose()
  }
  await send({type: 'rounds-done', outcomes, stopped, budgetSpent})
}

async function main(job: Job): Promise<void> {
  try {
    if (job.kind === 'bench') await bench(job)
    else if (job.kind === 'decode-check') await decodeCheck(job)
    else if (job.kind === 'check') await checkJob(job, load, send)
    else if (job.kind === 'devices') await devicesJob(job, send)
    else if (job.kind === 'kernels') await kernels(job)
    else if (job.kind === 'rounds') await rounds(job)
    else await run(job)
  } catch (e) {
    const err = e as Error & {code?: string}
    await send({type: 'error', code: err.code && /^E_/.test(err.code) ? err.code : 'E_ENGINE', message: oneLine(err)})
  }
  process.disconnect?.()
}

// The terminal sends SIGINT to the whole process group (and a service manager SIGTERM, a closed
// terminal SIGHUP): treat each as "stop", like the parent does, so finished work is reported.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, requestStop)
process.on('message', (m: ParentMessage) => {
  if (m.type === 'stop') requestStop()
  else if (m.type === 'job') void main(m.job)
})
process.on('disconnect', () => {
  // the CLI went away: stop, and leave (the native work ends at its next step)
  requestStop()
  setTimeout(() => process.exit(0), 2000).unref()
})
