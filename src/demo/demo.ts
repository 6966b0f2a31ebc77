/**
 * `npm run demo`: the whole tool end to end on this machine, in a few minutes, with no download.
 *
 *   probe --measure → synth r1-mini → plan DeepSeek-R1 Q4_K_M here and on the reference
 *   dual-Xeon + 2 × A770 rig (quant comparison and three engines there) → bench the synthetic model →
 *   run it with a routing trace → reuse analysis → report.
 *
 * Each step runs the real CLI in a child process with --json (so a native crash in one step is a
 * failed step, not a dead demo) and writes its output under the cache folder; a second run reuses
 * what the first built (the profile, the GGUF, bench result, trace). Steps whose command is not
 * part of this build are skipped with a line saying so; the report is written from what there is.
 * The step runner is steps.ts, the child process child.ts, the cache rules cache.ts.
 */
import {existsSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {oneLine} from '../lib/errors.js'
import {runReport} from '../report/report.js'
import {claimCacheDir} from './cache.js'
import {findReferenceRig} from './rig.js'
import {DemoSteps, type StepContext, type StepRecord} from './steps.js'

/** Bench sizes for a 2-core machine: llama-bench naming, fewer tokens and repetitions than its defaults. */
const DEMO_BENCH = {prompt: 128, gen: 32, reps: 3}
/** Tokens generated for the routing trace: enough for reuse statistics, a few seconds on 2 cores. */
const DEMO_TRACE_TOKENS = 96
const DEMO_PROMPT =
  'Explain why a mixture-of-experts model with 256 experts per layer can run on a desktop CPU with a small GPU.'
const QUANTS = 'Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q8_0'
/** Steps, the report included. */
const TOTAL_STEPS = 10

export interface DemoOptions extends StepContext {
  preset: string
  /** Where cached inputs go (profile, GGUF, bench, trace). */
  cacheDir: string
  /** The report folder. */
  reportDir: string
}

export interface DemoResult {
  report: string | null
  steps: StepRecord[]
  seconds: number
}

/** What the steps share: the runner, the cache folder, and the report's inputs so far. */
interface Run {
  steps: DemoSteps
  cache: string
  preset: string
  gguf: string
  rig: string | null
  inputs: string[]
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now()
  const root = resolve(opts.root)
  const cache = resolve(root, opts.cacheDir)
  claimCacheDir(cache, opts.cacheDir)
  const run: Run = {
    steps: new DemoSteps({...opts, root}, TOTAL_STEPS),
    cache,
    preset: opts.preset,
    gguf: join(cache, `${opts.preset}-Q4_K_M.gguf`),
    rig: findReferenceRig(root),
    inputs: [],
  }
  const profile = await probeStep(run)
  const model = await synthStep(run)
  await planSteps(run, profile)
  await benchStep(run, model)
  const trace = await traceStep(run, model)
  await reuseStep(run, trace, model, profile)
  const report = await reportStep(run, opts)
  return {report, steps: run.steps.records, seconds: (Date.now() - t0) / 1000}
}

const keep = (run: Run, p: string | null) => {
  if (p) run.inputs.push(p)
  return p
}

/** 1. This machine, with measured bandwidth (what the speed model prefers over the spec sheet). */
async function probeStep(run: Run): Promise<string | null> {
  const out = join(run.cache, 'this-machine.json')
  return keep(
    run,
    await run.steps.run({
      name: 'probe this machine (--measure)',
      command: 'probe',
      output: out,
      args: () => ['probe', '--measure', '--save', out, '--json'],
      save: 'file',
    }),
  )
}

/** 2. The synthetic model: R1's structure scaled down, random weights, real tokenizer. */
function synthStep(run: Run): Promise<string | null> {
  return run.steps.run({
    name: `synth the ${run.preset} model`,
    command: 'synth',
    output: run.gguf,
    args: () => ['synth', '--preset', run.preset, '--quant', 'Q4_K_M', '-o', run.gguf, '--json'],
    save: 'file',
  })
}

/**
 * 3–6. DeepSeek-R1 Q4_K_M planned here and on the reference rig (with the quant comparison
 * there), then on the rig under the other engines' memory layouts (FlashMoE's per-head KV cache,
 * ktransformers' layout): the max-context-per-GPU-count chart compares them. Plans take
 * milliseconds: always recomputed, so they follow planner changes.
 */
async function planSteps(run: Run, profile: string | null): Promise<void> {
  const plans = [
    {
      name: 'plan DeepSeek-R1 Q4_K_M on this machine',
      file: 'plan-this-machine',
      hardware: profile ?? 'probe',
      extra: [],
    },
    {
      name: 'plan DeepSeek-R1 on the dual-Xeon + 2 × A770 rig (Q2_K … Q8_0)',
      file: 'plan-reference-rig',
      hardware: run.rig,
      extra: ['--quants', QUANTS],
    },
    ...['flashmoe', 'ktransformers'].map((engine) => ({
      name: `plan DeepSeek-R1 Q4_K_M on the rig with ${engine}`,
      file: `plan-reference-rig-${engine}`,
      hardware: run.rig,
      extra: ['--engine', engine],
    })),
  ]
  for (const p of plans) {
    const out = join(run.cache, `${p.file}.json`)
    const {hardware} = p
    keep(
      run,
      await run.steps.run({
        name: p.name,
        command: 'plan',
        output: out,
        cache: false,
        args: () =>
          hardware
            ? ['plan', 'deepseek-r1', '--quant', 'Q4_K_M', ...p.extra, '--hardware', hardware, '-o', out, '--json']
            : null,
        save: 'file',
      }),
    )
  }
}

/** 7. Measured speed of the synthetic model (llama-bench semantics). */
async function benchStep(run: Run, model: string | null): Promise<void> {
  const {prompt, gen, reps} = DEMO_BENCH
  keep(
    run,
    await run.steps.run({
      name: `bench ${run.preset} (pp${prompt}, tg${gen}, ${reps} repetitions)`,
      command: 'bench',
      output: join(run.cache, 'bench.json'),
      args: () => ['bench', run.gguf, '-p', String(prompt), '-n', String(gen), '-r', String(reps), '--json'],
      save: 'stdout',
      needs: [model],
    }),
  )
}

/** 8. Generate with a routing trace: which experts each token used, per MoE layer. */
async function traceStep(run: Run, model: string | null): Promise<string | null> {
  const tracePath = join(run.cache, 'routing.trace')
  const runPath = join(run.cache, 'run.json')
  const trace = keep(
    run,
    await run.steps.run({
      name: `run ${run.preset} with a routing trace (${DEMO_TRACE_TOKENS} tokens)`,
      command: 'run',
      output: tracePath,
      args: () => [
        'run',
        run.gguf,
        '--prompt',
        DEMO_PROMPT,
        '-n',
        String(DEMO_TRACE_TOKENS),
        '--trace',
        tracePath,
        '--json',
      ],
      save: 'file',
      // The run's own prefill/decode speed goes into the report beside the bench result.
      stdoutTo: runPath,
      needs: [model],
    }),
  )
  if (trace && existsSync(runPath)) run.inputs.push(runPath)
  return trace
}

/** 9. Expert reuse and cache simulation from the trace. */
async function reuseStep(run: Run, trace: string | null, model: string | null, profile: string | null): Promise<void> {
  // Bytes per expert from the synthetic GGUF; PCIe / GPU / CPU bandwidth from the reference rig
  // when there is one (this machine may have no GPU): "what an expert cache would do there".
  const hardware = run.rig ?? profile
  keep(
    run,
    await run.steps.run({
      name: 'analyse expert reuse',
      command: 'reuse',
      output: join(run.cache, 'reuse.json'),
      args: () => [
        'reuse',
        join(run.cache, 'routing.trace'),
        '--from',
        'prompt',
        '--gguf',
        run.gguf,
        ...(hardware ? ['--hardware', hardware] : []),
        '--json',
      ],
      save: 'stdout',
      needs: [trace, model],
    }),
  )
}

/** 10. The report, from whatever the steps produced; its index.html, or null. */
async function reportStep(run: Run, opts: DemoOptions): Promise<string | null> {
  const head = run.steps.next('write the report')
  if (run.inputs.length === 0) {
    opts.log(`${head}: skipped (no step produced an input)`)
    return null
  }
  const s0 = Date.now()
  try {
    const written = await runReport(run.inputs, {
      output: opts.reportDir,
      title: 'moerig demo: DeepSeek-R1 on this machine and on a dual-Xeon + 2 × A770 rig',
      notes: run.steps.notes,
      progress: opts.progress,
    })
    opts.progress.done()
    const seconds = (Date.now() - s0) / 1000
    const detail = `${written.charts.length} charts`
    run.steps.records.push({step: 'report', status: 'done', seconds, detail})
    opts.log(`${head}: done in ${seconds.toFixed(1)} s (${detail})`)
    return join(written.dir, 'index.html')
  } catch (e) {
    opts.progress.done()
    run.steps.records.push({step: 'report', status: 'failed', seconds: (Date.now() - s0) / 1000, detail: oneLine(e)})
    opts.log(`${head}: failed (${oneLine(e)})`)
    return null
  }
}
