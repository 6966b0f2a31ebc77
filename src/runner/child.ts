/**
 * The CLI side of the runner child process: fork worker.ts/js, send one job, route its events,
 * forward Ctrl-C as "stop", and turn a child that dies without answering (a native abort inside
 * llama.cpp, the OOM killer) into one MoerigError line with the last words from its stderr.
 */
import {fork} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {MoerigError} from '../lib/errors.js'
import type {LlamaDevice, LlamaModelInfo} from './addon.js'
import type {ChildEvent, Job, ParentMessage} from './protocol.js'

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
}

/** What a model job's child reports while it starts: its devices, the model, and every log line. */
export interface LoadRecord {
  devices: LlamaDevice[]
  /** backend libraries loaded */
  loaded: string[]
  info: LlamaModelInfo | null
  loadLog: string[]
  loadMs: number
  /** one log per context created, in order */
  contextLogs: string[][]
}

export function newLoadRecord(): LoadRecord {
  return {devices: [], loaded: [], info: null, loadLog: [], loadMs: 0, contextLogs: []}
}

/** Keep what an init, loaded or context event says in `r`; other events are left to the caller. */
export function recordLoad(r: LoadRecord, e: ChildEvent): void {
  if (e.type === 'init') {
    r.devices = e.devices
    r.loaded = e.loaded
  } else if (e.type === 'loaded') {
    r.info = e.info
    r.loadLog = e.log
    r.loadMs = e.loadMs
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
  const lines = tail.split('\n').map((l) => l.trim()).filter(Boolean)
  const telling = [/GGML_ASSERT|GGML_ABORT/, /terminate called|what\(\):/, /\berror\b|failed|out of memory|cannot allocate/i]
  for (const re of telling) {
    for (let i = lines.length - 1; i >= 0; i--) if (re.test(lines[i])) return lines[i].slice(0, 300)
  }
  return lines.length ? lines[lines.length - 1].slice(0, 300) : null
}

export function runInChild(job: Job, opts: ChildOptions = {}): Promise<ChildOutcome> {
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

  let interrupted = false
  const onSigint = () => {
    if (!interrupted) {
      interrupted = true
      if (child.connected) child.send({type: 'stop'} satisfies ParentMessage)
      opts.onInterrupt?.()
    } else {
      child.kill('SIGKILL') // second Ctrl-C: no more waiting
    }
  }
  process.on('SIGINT', onSigint)

  return new Promise<ChildOutcome>((resolve, reject) => {
    let final: ChildEvent | null = null
    let failure: MoerigError | null = null
    let phase = 'starting the engine'
    child.on('message', (e: ChildEvent) => {
      if (e.type === 'init') phase = 'model' in job ? `loading ${job.model.path}` : 'listing devices'
      else if (e.type === 'loaded') phase = job.kind === 'bench' ? 'benchmarking' : job.kind === 'check' ? 'creating contexts' : 'generating'
      if (e.type === 'bench-done' || e.type === 'run-done' || e.type === 'check-done' || e.type === 'devices-done') final = e
      else if (e.type === 'error') failure = new MoerigError(e.code, e.message)
      else opts.onEvent?.(e)
    })
    child.on('error', (err) => {
      failure ??= new MoerigError('E_ENGINE_START', `could not start the runner process: ${err.message}`)
    })
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onSigint)
      if (failure) return reject(failure)
      if (final) return resolve({final, interrupted})
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
      const words = lastWords(tail)
      const hint = signal === 'SIGKILL' && !interrupted ? ' (out of memory? the kernel OOM killer sends SIGKILL)' : ''
      reject(new MoerigError('E_ENGINE_CRASH', `llama.cpp engine ${how} while ${phase}${hint}${words ? `: ${words}` : ''}`))
    })
    child.send({type: 'job', job} satisfies ParentMessage)
  })
}
