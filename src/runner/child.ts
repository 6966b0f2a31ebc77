/**
 * The CLI side of the runner child process: fork worker.ts/js, send one job, route its events,
 * forward Ctrl-C as "stop", and turn a child that dies without answering (a native abort inside
 * llama.cpp, the OOM killer) into one MoerigError line with the last words from its stderr.
 */
import {fork} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {MoerigError} from '../lib/errors.js'
import type {LlamaDevice, LlamaInitResult, LlamaModelInfo} from '../engine/addon.js'
import type {ChildEvent, Job, ModelJob, ParentMessage} from './protocol.js'
import {preflightRpc} from './rpc-engine.js'

/** Bytes of the child's stdout/stderr kept for the crash message. */
const TAIL_BYTES = 16 * 1024

export interface ChildOptions {
  onEvent?: (e: ChildEvent) => void
  /** Called on the first Ctrl-C (after "stop" has been sent to the child). */
  onInterrupt?: () => void
  /** Extra environment for the child (tests: MOERIG_TEST_CRASH). */
  env?: NodeJS.ProcessEnv
}

export interface ChildOutcome {
  /** the final event: bench-done or run-done */
  final: ChildEvent
  interrupted: boolean
  /** the signal that interrupted the job (SIGINT = Ctrl-C, SIGTERM, SIGHUP); null when none */
  signal: StopSignal | null
  /** set when the job ran a second time with extra buffer types off (runModelJob) */
  fallback?: string
}

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP'

/** Shell convention: 128 + the signal's number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP). */
export function signalExitCode(s: StopSignal | null): number {
  return s === 'SIGTERM' ? 143 : s === 'SIGHUP' ? 129 : 130
}

/** A runner child that died without answering: how, and whether any measured work was lost. */
export class EngineCrash extends MoerigError {
  constructor(
    message: string,
    readonly signal: NodeJS.Signals | null,
    readonly phase: string,
    readonly worked: boolean,
  ) {
    super('E_ENGINE_CRASH', message)
  }
}

/** What a model job's child reports while it starts: its devices, the model, and every log line. */
export interface LoadRecord {
  devices: LlamaDevice[]
  /** backend libraries loaded, and "path: reason" for those that failed */
  loaded: string[]
  failed: string[]
  /** the CPU variant loaded, ggml's own pick, and the CPU's extra buffer types (empty before init) */
  cpu: Pick<LlamaInitResult, 'cpuVariant' | 'cpuVariantBest' | 'cpuExtraBufferTypes'>
  info: LlamaModelInfo | null
  loadLog: string[]
  loadMs: number
  /** 3-D weights the engine kept out of the AMX buffer type */
  amxGuarded: string[]
  /** one log per context created, in order */
  contextLogs: string[][]
}

export function newLoadRecord(): LoadRecord {
  return {
    devices: [],
    loaded: [],
    failed: [],
    cpu: {cpuVariant: '', cpuVariantBest: '', cpuExtraBufferTypes: []},
    info: null,
    loadLog: [],
    loadMs: 0,
    amxGuarded: [],
    contextLogs: [],
  }
}

/**
 * runModelJob's options for a job that keeps a LoadRecord (bench, run): the child's environment,
 * the caller's interrupt and fallback hooks, and every event recorded in `rec` before `onEvent`.
 */
export function recordingOptions(
  rec: LoadRecord,
  env: NodeJS.ProcessEnv | undefined,
  hooks: {onInterrupt?: () => void; onFallback?: (line: string) => void},
  onEvent: (e: ChildEvent) => void,
): ChildOptions & {onFallback?: (line: string) => void} {
  return {
    env,
    onInterrupt: hooks.onInterrupt,
    onFallback: hooks.onFallback,
    onEvent: (e) => {
      recordLoad(rec, e)
      onEvent(e)
    },
  }
}

/** Keep what an init, loaded or context event says in `r`; other events are left to the caller. */
export function recordLoad(r: LoadRecord, e: ChildEvent): void {
  if (e.type === 'init') {
    r.devices = e.devices
    r.loaded = e.loaded
    r.failed = e.failed
    r.cpu = {cpuVariant: e.cpuVariant, cpuVariantBest: e.cpuVariantBest, cpuExtraBufferTypes: e.cpuExtraBufferTypes}
  } else if (e.type === 'loaded') {
    r.info = e.info
    r.loadLog = e.log
    r.loadMs = e.loadMs
    r.amxGuarded = e.amxGuarded
  } else if (e.type === 'context') {
    r.contextLogs.push(e.log)
  }
}

/** worker.ts under tsx (tests, development), dist/runner/worker.js when built. */
function workerEntry(): {path: string; execArgv: string[]} {
  const self = fileURLToPath(import.meta.url)
  if (self.endsWith('.ts')) return {path: self.replace(/child\.ts$/, 'worker.ts'), execArgv: ['--import', 'tsx']}
  return {path: self.replace(/child\.js$/, 'worker.js'), execArgv: []}
}

/** The most telling line of a dead child's output: llama.cpp's assert/abort/error, else the last. */
export function lastWords(tail: string): string | null {
  const lines = tail
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  const telling = [
    /GGML_ASSERT|GGML_ABORT|\babort\b/,
    /terminate called|what\(\):/,
    /\berror\b|failed|out of memory|cannot allocate/i,
  ]
  for (const re of telling) {
    for (let i = lines.length - 1; i >= 0; i--) if (re.test(lines[i])) return lines[i].slice(0, 300)
  }
  return lines.length ? lines[lines.length - 1].slice(0, 300) : null
}

export async function runInChild(job: Job, opts: ChildOptions = {}): Promise<ChildOutcome> {
  // llama.cpp aborts on an RPC server it cannot reach: check each with a handshake first (one line)
  if (job.setup.rpc?.servers.length) await preflightRpc(job.setup.rpc.servers)
  const entry = workerEntry()
  const child = fork(entry.path, [], {
    execArgv: entry.execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {...process.env, ...opts.env},
  })
  let tail = ''
  const keep = (b: Buffer) => {
    if (process.env.MOERIG_DEBUG) process.stderr.write(b)
    tail = (tail + b.toString('utf8')).slice(-TAIL_BYTES)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)

  // Ctrl-C, SIGTERM and SIGHUP all mean "stop after the current step and keep what is done";
  // a second one means "now". The child gets the same as a stop message (a terminal's Ctrl-C
  // also reaches it directly: worker.ts treats that as stop too).
  let interrupted = false
  let stopSignal: StopSignal | null = null
  const onSignal = (sig: StopSignal) => {
    if (!interrupted) {
      interrupted = true
      stopSignal = sig
      if (child.connected) child.send({type: 'stop'} satisfies ParentMessage)
      opts.onInterrupt?.()
    } else {
      child.kill('SIGKILL') // second signal: no more waiting
    }
  }
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, () => onSignal(sig)] as const)
  for (const [sig, h] of handlers) process.on(sig, h)

  return new Promise<ChildOutcome>((resolve, reject) => {
    let final: ChildEvent | null = null
    let failure: MoerigError | null = null
    let phase = 'starting the engine'
    // a finished repetition or a streamed piece: a crash after it loses measured work
    let worked = false
    child.on('message', (e: ChildEvent) => {
      if (e.type === 'init')
        phase =
          'model' in job
            ? `loading ${job.model.path}`
            : job.kind === 'decode-check'
              ? 'checking'
              : job.kind === 'kernels'
                ? 'timing decode kernels'
                : job.kind === 'rounds'
                  ? `loading ${job.models[0]?.path ?? 'the models'}`
                  : 'listing devices'
      else if (e.type === 'loaded' && job.kind === 'rounds')
        phase =
          e.model !== undefined && e.model + 1 < job.models.length
            ? `loading ${job.models[e.model + 1].path}`
            : 'benchmarking (rounds)'
      else if (e.type === 'loaded')
        phase =
          job.kind === 'bench'
            ? 'creating the context'
            : job.kind === 'check'
              ? 'creating contexts'
              : 'creating the context'
      else if (e.type === 'context' && job.kind === 'rounds') phase = 'benchmarking (rounds)'
      else if (e.type === 'context')
        phase = job.kind === 'bench' ? 'benchmarking' : job.kind === 'check' ? 'creating contexts' : 'generating'
      else if (e.type === 'case-start' && job.kind === 'decode-check')
        phase = `checking ${job.cases[e.index]?.model.path ?? 'a model'}`
      if (e.type === 'rep' || e.type === 'piece' || e.type === 'round-test') worked = true
      if (
        e.type === 'bench-done' ||
        e.type === 'run-done' ||
        e.type === 'check-done' ||
        e.type === 'devices-done' ||
        e.type === 'decode-check-done' ||
        e.type === 'kernels-done' ||
        e.type === 'rounds-done'
      )
        final = e
      else if (e.type === 'error') failure = new MoerigError(e.code, e.message)
      else opts.onEvent?.(e)
    })
    child.on('error', (err) => {
      failure ??= new MoerigError('E_ENGINE_START', `could not start the runner process: ${err.message}`)
    })
    child.on('exit', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h)
      if (final) return resolve({final, interrupted, signal: stopSignal})
      // stopped before the job could answer (e.g. Ctrl-C while the engine starts): an interruption, not a crash
      if (interrupted)
        return reject(
          new MoerigError(
            'E_INTERRUPTED',
            `stopped (${stopSignal}) while ${phase}; nothing was measured`,
            signalExitCode(stopSignal),
          ),
        )
      if (failure) return reject(failure)
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
      const words = lastWords(tail)
      const hint = signal === 'SIGKILL' && !interrupted ? ' (out of memory? the kernel OOM killer sends SIGKILL)' : ''
      // llama.cpp's RPC client aborts when a server goes away mid-run ("recv failed …")
      const servers = job.setup.rpc?.servers ?? []
      const rpcLost =
        servers.length > 0 && /recv failed|send failed|RPC/.test(words ?? '')
          ? ` (lost the connection to an RPC server: ${servers.join(', ')})`
          : ''
      reject(
        new EngineCrash(
          `llama.cpp engine ${how} while ${phase}${hint}${words ? `: ${words}` : ''}${rpcLost}`,
          signal,
          phase,
          worked,
        ),
      )
    })
    child.send({type: 'job', job} satisfies ParentMessage)
  })
}

/**
 * A model job with llama.cpp's own safety net for extra buffer types: when the child aborts
 * (SIGABRT: a GGML_ASSERT) before any measured work while extra buffer types (AMX, CPU_REPACK)
 * were on, run the job once more with them off (--no-repack) and say so in `fallback`. The
 * engine keeps the known offenders out of AMX itself (native/src/engine/engine.cpp, AMX guard); this
 * covers the layouts nobody has met yet.
 */
export async function runModelJob(
  job: ModelJob,
  opts: ChildOptions & {onFallback?: (line: string) => void} = {},
): Promise<ChildOutcome> {
  let extra: string[] = []
  const first: ChildOptions = {
    ...opts,
    onEvent: (e) => {
      if (e.type === 'init') extra = e.cpuExtraBufferTypes
      opts.onEvent?.(e)
    },
  }
  try {
    return await runInChild(job, first)
  } catch (e) {
    if (
      !(e instanceof EngineCrash) ||
      e.signal !== 'SIGABRT' ||
      e.worked ||
      job.model.useExtraBufts === false ||
      extra.length === 0 ||
      /\bRPC\b/.test(e.message) // a remote server that went away: running again cannot help
    )
      throw e
    const fallback = `llama.cpp aborted with extra buffer types on (${extra.join(', ')}) while ${e.phase}; ran again with them off (--no-repack)`
    opts.onFallback?.(fallback)
    const outcome = await runInChild({...job, model: {...job.model, useExtraBufts: false}} as ModelJob, opts)
    return {...outcome, fallback}
  }
}
