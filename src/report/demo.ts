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
 */
import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {join, resolve, sep} from 'node:path'
import {MoerigError, oneLine} from '../lib/errors.js'
import {ensureDir, writeFileAtomic} from '../lib/fs.js'
import type {Progress} from '../lib/progress.js'
import {runReport} from './report.js'

/** Bench sizes for a 2-core machine: llama-bench naming, fewer tokens and repetitions than its defaults. */
const DEMO_BENCH = {prompt: 128, gen: 32, reps: 3}
/** Tokens generated for the routing trace: enough for reuse statistics, a few seconds on 2 cores. */
const DEMO_TRACE_TOKENS = 96
const DEMO_PROMPT =
  'Explain why a mixture-of-experts model with 256 experts per layer can run on a desktop CPU with a small GPU.'
/** The reference rig of the issue: dual Xeon 8592+ with 2 × Arc A770 (profiles/hardware/). */
const REFERENCE_RIG = /8592.*a770|a770.*8592/i
const QUANTS = 'Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q8_0'

export interface DemoOptions {
  /** Repository root (where bin/run.js lives). */
  root: string
  preset: string
  /** Where cached inputs go (profile, GGUF, bench, trace). */
  cacheDir: string
  /** The report folder. */
  reportDir: string
  fresh: boolean
  /** Whether `moerig <id>` exists in this build. */
  hasCommand: (id: string) => boolean
  log: (line: string) => void
  progress: Progress
  /** Also log a line when a step starts (no live progress line when output is piped). */
  announce?: boolean
}

export interface DemoResult {
  report: string | null
  steps: {step: string; status: 'done' | 'cached' | 'skipped' | 'failed'; seconds: number; detail: string}[]
  seconds: number
}

interface ChildResult {
  code: number
  stdout: string
  stderr: string
}

/** Run `node bin/run.js …args`; resolves with exit code and output (never rejects on exit codes). */
function cli(root: string, args: string[], onTick: (s: number) => void): Promise<ChildResult> {
  return new Promise((resolveP) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, [join(root, 'bin', 'run.js'), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const tick = setInterval(() => onTick((Date.now() - t0) / 1000), 250)
    child.on('error', (e) => {
      clearInterval(tick)
      resolveP({code: 127, stdout, stderr: stderr + e.message})
    })
    child.on('close', (code, signal) => {
      clearInterval(tick)
      resolveP({code: code ?? (signal ? 128 : 1), stdout, stderr: signal ? `${stderr}\nkilled by ${signal}` : stderr})
    })
  })
}

/** The one-line reason a child failed: its --json error, else its last stderr line. */
function failure(r: ChildResult): string {
  try {
    const j = JSON.parse(r.stdout) as {error?: {message?: string}}
    if (j.error?.message) return j.error.message
  } catch {
    // not JSON: fall through to stderr
  }
  const lines = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
  return lines.length > 0 ? oneLine(lines[lines.length - 1]) : `exit code ${r.code}`
}

/** Write a child's --json stdout to `path` atomically, after checking it parses. */
function saveJson(path: string, stdout: string): void {
  JSON.parse(stdout)
  writeFileAtomic(path, stdout)
}

const isCached = (path: string, opts: DemoOptions) => !opts.fresh && existsSync(path) && statSync(path).size > 0

/** Marks a folder as the demo's cache: only then does the demo remove (rebuild) files in it. */
const CACHE_MARKER = '.moerig-cache'

/**
 * The demo removes its outputs (bench.json, run.json, …) before rebuilding them, so the cache
 * folder must be moerig's: new or empty, marked by an earlier demo, or inside a `.moerig-cache`
 * folder (the default; older demos wrote no marker). A user's folder given as --cache is refused.
 */
function claimCacheDir(cache: string, given: string): void {
  const marker = join(cache, CACHE_MARKER)
  if (existsSync(cache) && !statSync(cache).isDirectory())
    throw new MoerigError('E_CACHE_FOLDER', `cache folder ${given} is a file; give a new or empty folder (--cache)`)
  const ours =
    !existsSync(cache) ||
    existsSync(marker) ||
    cache.split(sep).includes(CACHE_MARKER) ||
    readdirSync(cache).length === 0
  if (!ours) {
    throw new MoerigError(
      'E_CACHE_FOLDER',
      `cache folder ${given} is not empty and is not a moerig cache; the demo rebuilds files there, so give a new or empty folder (--cache)`,
    )
  }
  ensureDir(cache)
  if (!existsSync(marker)) writeFileAtomic(marker, 'moerig demo cache: files here are rebuilt by `moerig demo`\n')
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now()
  const root = resolve(opts.root)
  const cache = resolve(root, opts.cacheDir)
  claimCacheDir(cache, opts.cacheDir)
  const result: DemoResult = {report: null, steps: [], seconds: 0}
  const inputs: string[] = []
  const notes: string[] = []
  const total = 10
  let n = 0

  /** One step: skip when its command or a prerequisite is missing; reuse a cached output. */
  const step = async (st: {
    name: string
    command: string
    output: string
    args: () => string[] | null
    save: 'stdout' | 'file'
    /** With save 'file': also keep the --json stdout here. */
    stdoutTo?: string
    needs?: (string | null)[]
    cache?: boolean
  }): Promise<string | null> => {
    n++
    const head = `[${n}/${total}] ${st.name}`
    const s0 = Date.now()
    const record = (status: DemoResult['steps'][number]['status'], detail: string) => {
      const seconds = (Date.now() - s0) / 1000
      result.steps.push({step: st.name, status, seconds, detail})
      opts.progress.done()
      opts.log(
        `${head}: ${status === 'done' ? `done in ${seconds.toFixed(1)} s` : status}${detail ? ` (${detail})` : ''}`,
      )
      if (status === 'skipped' || status === 'failed') notes.push(`${status}: ${st.name}${detail ? `: ${detail}` : ''}`)
    }
    if (!opts.hasCommand(st.command)) {
      record('skipped', `moerig ${st.command} not available in this build`)
      return null
    }
    if ((st.needs ?? []).some((x) => x === null)) {
      record('skipped', 'an earlier step it needs did not produce its output')
      return null
    }
    // A cached output counts only if it is newer than what it was made from (a re-synthesised model
    // invalidates its bench result and trace).
    const outTime = statSync(st.output, {throwIfNoEntry: false})?.mtimeMs ?? -Infinity
    const newer = (st.needs ?? []).every((x) => x !== null && statSync(x).mtimeMs <= outTime)
    if (st.cache !== false && isCached(st.output, opts) && (!st.stdoutTo || isCached(st.stdoutTo, opts)) && newer) {
      record('cached', `reusing ${relative(root, st.output)}`)
      return st.output
    }
    const a = st.args()
    if (a === null) {
      record('skipped', 'no dual-Xeon + 2 × A770 profile in profiles/hardware')
      return null
    }
    rmSync(st.output, {force: true})
    if (st.stdoutTo) rmSync(st.stdoutTo, {force: true})
    if (opts.announce) opts.log(`${head} …`)
    opts.progress.phase(head)
    const r = await cli(root, a, (sec) => opts.progress.update(0, `${sec.toFixed(0)} s`))
    if (r.code !== 0) {
      rmSync(st.output, {force: true})
      record('failed', failure(r))
      return null
    }
    try {
      if (st.save === 'stdout') saveJson(st.output, r.stdout)
      else if (!existsSync(st.output))
        throw new Error(`moerig ${st.command} did not write ${relative(root, st.output)}`)
      if (st.stdoutTo) saveJson(st.stdoutTo, r.stdout)
    } catch (e) {
      record('failed', oneLine(e))
      return null
    }
    record('done', '')
    return st.output
  }
  const add = (p: string | null) => {
    if (p) inputs.push(p)
    return p
  }

  // 1. This machine, with measured bandwidth (what the speed model prefers over the spec sheet).
  const profilePath = join(cache, 'this-machine.json')
  const profile = add(
    await step({
      name: 'probe this machine (--measure)',
      command: 'probe',
      output: profilePath,
      args: () => ['probe', '--measure', '--save', profilePath, '--json'],
      save: 'file',
    }),
  )

  // 2. The synthetic model: R1's structure scaled down, random weights, real tokenizer.
  const gguf = join(cache, `${opts.preset}-Q4_K_M.gguf`)
  const model = await step({
    name: `synth the ${opts.preset} model`,
    command: 'synth',
    output: gguf,
    args: () => ['synth', '--preset', opts.preset, '--quant', 'Q4_K_M', '-o', gguf, '--json'],
    save: 'file',
  })

  // 3–4. DeepSeek-R1 Q4_K_M planned here and on the reference rig (with the quant comparison
  // there). Plans take milliseconds: always recomputed, so they follow planner changes.
  const rig = findReferenceRig(root)
  const planHere = join(cache, 'plan-this-machine.json')
  add(
    await step({
      name: 'plan DeepSeek-R1 Q4_K_M on this machine',
      command: 'plan',
      output: planHere,
      cache: false,
      args: () => [
        'plan',
        'deepseek-r1',
        '--quant',
        'Q4_K_M',
        '--hardware',
        profile ?? 'probe',
        '-o',
        planHere,
        '--json',
      ],
      save: 'file',
    }),
  )
  const planRig = join(cache, 'plan-reference-rig.json')
  add(
    await step({
      name: 'plan DeepSeek-R1 on the dual-Xeon + 2 × A770 rig (Q2_K … Q8_0)',
      command: 'plan',
      output: planRig,
      cache: false,
      args: () =>
        rig
          ? ['plan', 'deepseek-r1', '--quant', 'Q4_K_M', '--quants', QUANTS, '--hardware', rig, '-o', planRig, '--json']
          : null,
      save: 'file',
    }),
  )

  // 5–6. The same rig under the other engines' memory layouts (FlashMoE's per-head KV cache,
  // ktransformers' layout): the max-context-per-GPU-count chart compares them.
  for (const engine of ['flashmoe', 'ktransformers']) {
    const out = join(cache, `plan-reference-rig-${engine}.json`)
    add(
      await step({
        name: `plan DeepSeek-R1 Q4_K_M on the rig with ${engine}`,
        command: 'plan',
        output: out,
        cache: false,
        args: () =>
          rig
            ? ['plan', 'deepseek-r1', '--quant', 'Q4_K_M', '--engine', engine, '--hardware', rig, '-o', out, '--json']
            : null,
        save: 'file',
      }),
    )
  }

  // 7. Measured speed of the synthetic model (llama-bench semantics).
  add(
    await step({
      name: `bench ${opts.preset} (pp${DEMO_BENCH.prompt}, tg${DEMO_BENCH.gen}, ${DEMO_BENCH.reps} repetitions)`,
      command: 'bench',
      output: join(cache, 'bench.json'),
      args: () => [
        'bench',
        gguf,
        '-p',
        String(DEMO_BENCH.prompt),
        '-n',
        String(DEMO_BENCH.gen),
        '-r',
        String(DEMO_BENCH.reps),
        '--json',
      ],
      save: 'stdout',
      needs: [model],
    }),
  )

  // 8. Generate with a routing trace: which experts each token used, per MoE layer.
  const tracePath = join(cache, 'routing.trace')
  const runPath = join(cache, 'run.json')
  const trace = add(
    await step({
      name: `run ${opts.preset} with a routing trace (${DEMO_TRACE_TOKENS} tokens)`,
      command: 'run',
      output: tracePath,
      args: () => [
        'run',
        gguf,
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
  if (trace && existsSync(runPath)) inputs.push(runPath)

  // 9. Expert reuse and cache simulation from the trace.
  add(
    await step({
      name: 'analyse expert reuse',
      command: 'reuse',
      output: join(cache, 'reuse.json'),
      // Bytes per expert from the synthetic GGUF; PCIe / GPU / CPU bandwidth from the reference rig
      // when there is one (this machine may have no GPU): "what an expert cache would do there".
      args: () => [
        'reuse',
        tracePath,
        '--from',
        'prompt',
        '--gguf',
        gguf,
        ...(rig ? ['--hardware', rig] : profile ? ['--hardware', profile] : []),
        '--json',
      ],
      save: 'stdout',
      needs: [trace, model],
    }),
  )

  // 10. The report.
  n++
  const head = `[${n}/${total}] write the report`
  if (inputs.length === 0) {
    opts.log(`${head}: skipped (no step produced an input)`)
  } else {
    const s0 = Date.now()
    try {
      const written = await runReport(inputs, {
        output: opts.reportDir,
        title: 'moerig demo: DeepSeek-R1 on this machine and on a dual-Xeon + 2 × A770 rig',
        notes,
        progress: opts.progress,
      })
      opts.progress.done()
      result.report = join(written.dir, 'index.html')
      const seconds = (Date.now() - s0) / 1000
      result.steps.push({step: 'report', status: 'done', seconds, detail: `${written.charts.length} charts`})
      opts.log(`${head}: done in ${seconds.toFixed(1)} s (${written.charts.length} charts)`)
    } catch (e) {
      opts.progress.done()
      result.steps.push({step: 'report', status: 'failed', seconds: (Date.now() - s0) / 1000, detail: oneLine(e)})
      opts.log(`${head}: failed (${oneLine(e)})`)
    }
  }
  result.seconds = (Date.now() - t0) / 1000
  return result
}

function relative(root: string, p: string): string {
  return p.startsWith(root + '/') ? p.slice(root.length + 1) : p
}

/** profiles/hardware/*.json whose file name or id names the dual 8592+ / 2 × A770 rig. */
export function findReferenceRig(root: string): string | null {
  const dir = join(root, 'profiles', 'hardware')
  let files: string[]
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
  } catch {
    return null
  }
  for (const f of files) {
    if (REFERENCE_RIG.test(f)) return join(dir, f)
    try {
      const doc = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {id?: string; name?: string}
      if (REFERENCE_RIG.test(`${doc.id ?? ''} ${doc.name ?? ''}`)) return join(dir, f)
    } catch {
      // not our business here: `moerig profiles` validates them
    }
  }
  return null
}
