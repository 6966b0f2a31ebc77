import {format} from 'node:util'
import {Command, type Interfaces} from '@oclif/core'
import {MoerigError, oneLine} from './errors.js'
import {safeName, safeText} from './text.js'

type ErrorLike = Error & {exitCode?: number; oclif?: {exit?: number}; code?: string; args?: unknown; flags?: unknown}
type FlagDef = {
  name?: string
  type?: string
  char?: string
  description?: string
  summary?: string
  options?: readonly string[]
  min?: number
  max?: number
  default?: unknown
  allowEmpty?: boolean
}
type ArgDef = {name?: string; description?: string; options?: readonly string[]; required?: boolean}

/** Shell convention: 128 + the signal's number. */
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}

/**
 * Marks a signal listener that only acts when no command-specific handler is installed (this base
 * command's fallback; src/lib/fs.ts's temp-file cleanup may carry it too).
 */
export const SIGNAL_FALLBACK = Symbol.for('moerig.signalFallback')

function isFallback(l: (...a: unknown[]) => unknown): boolean {
  if ((l as unknown as Record<symbol, unknown>)[SIGNAL_FALLBACK]) return true
  // src/lib/fs.ts's onSignal removes temp files only when it is the sole listener and leaves the
  // rest to whoever else listens; with this fallback installed it is never alone, so it counts
  // as a fallback too (its 'exit' hook still removes the temp files when we exit).
  return l.name === 'onSignal' && /removeLiveTemps/.test(String(l))
}

/**
 * The fallback for commands that do not handle signals themselves (plan, probe --measure, report …):
 * Ctrl-C, SIGTERM or a closed terminal ends the command with one line (or `{"error": …}` under
 * --json) and exit 130/143/129 instead of a death by signal. When a command has its own handler
 * (synth, bench, run: stop, keep what finished, then exit), that handler decides.
 */
function installSignalFallback(json: boolean): void {
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    const onSignal = () => {
      if (process.listeners(sig).some((l) => !isFallback(l as (...a: unknown[]) => unknown))) return
      const message = sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`
      if (json) process.stdout.write(JSON.stringify({error: {code: 'E_INTERRUPTED', message}}, null, 2) + '\n')
      else process.stderr.write(`\nmoerig: ${message}\n`)
      // Runs the 'exit' hooks (temp files removed). Known limit: node's exit joins the libuv
      // threadpool, so a native AsyncWorker still running (probe --measure's STREAM repetitions)
      // delays the exit until that call returns; the native work needs a stop flag for that.
      process.exit(SIGNAL_EXIT[sig])
    }
    Object.defineProperty(onSignal, SIGNAL_FALLBACK, {value: true})
    process.on(sig, onSignal)
  }
}

/** Usage errors (bad flag, missing argument) exit with 2, like oclif and most Unix tools. */
export const USAGE_EXIT = 2

/** SGR sequences oclif's colorize adds to its messages ("dim" reasons). */
// eslint-disable-next-line no-control-regex
const SGR = /\x1b\[[0-9;]*m/g

/** "an integer ≥ 1", "an integer from 1 to 100", "an integer" from an integer flag's bounds. */
export function integerRange(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`
  if (min !== undefined) return `an integer ≥ ${min}`
  if (max !== undefined) return `an integer ≤ ${max}`
  return 'an integer'
}

function quote(value: string): string {
  return /^[-+\w.,:/=@%]+$/.test(value) ? value : JSON.stringify(value)
}

/** The ARG name as help shows it (MODEL, TRACE). */
function argLabel(name: string): string {
  return name.toUpperCase()
}

/** What a flag accepts, for "must be …" messages: its options, its integer range, or nothing. */
function allowedFor(flag: FlagDef | undefined): string | undefined {
  if (!flag) return undefined
  if (flag.options && flag.options.length > 0) return `one of ${flag.options.join(', ')}`
  if (flag.min !== undefined || flag.max !== undefined) return integerRange(flag.min, flag.max)
  return undefined
}

/** " (context length in tokens)": a flag's description, first line, without a trailing "(default: …)". */
function flagWhat(flag: FlagDef | undefined): string {
  const d = (flag?.summary ?? flag?.description)?.split('\n')[0].replace(/\s*\([^()]*\)$/, '')
  return d ? ` (${d})` : ''
}

/**
 * One line for an oclif parse error, naming the flag or argument, the value given and what is
 * allowed: oclif's own messages are several lines ("Parsing --ctx\n\tExpected an integer greater
 * than or equal to 1 but received: 0\nSee more help with --help"), of which only the first reached
 * the user. `flags`/`args` are the command's definitions (for ranges, options and descriptions).
 */
export function describeUsageError(
  err: ErrorLike,
  cmd: string,
  flags: Record<string, FlagDef>,
  args: Record<string, ArgDef>,
): string {
  const help = `see moerig ${cmd} --help`
  const raw = err.message.replace(SGR, '')
  const lines = raw
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^See more help with --help$/.test(l))
  const byName = (name: string): FlagDef | undefined =>
    flags[name.replace(/^--?/, '')] ?? Object.values(flags).find((f) => f.char === name.replace(/^-/, ''))

  // "Parsing --ctx \n\tExpected an integer greater than or equal to 1 but received: 0"
  let m = /^Parsing --([\w-]+)/.exec(lines[0] ?? '')
  if (m) {
    const name = m[1]
    const flag = flags[name]
    const inner = lines.slice(1).join(' ')
    const received = /but received: (.*)$/.exec(inner)
    if (received) {
      const allowed =
        flag?.type === 'option' && /integer/.test(inner)
          ? integerRange(flag.min, flag.max)
          : (allowedFor(flag) ?? 'a valid value')
      return `--${name}${flagWhat(flag)} must be ${allowed}, got ${quote(received[1])}`
    }
    return `--${name}: ${inner || 'invalid value'}`
  }
  // "Expected --engine=foo to be one of: llama.cpp, flashmoe, ktransformers"
  m = /^Expected --([\w-]+)=(.*) to be one of: (.*)$/.exec(lines[0] ?? '')
  if (m) return `--${m[1]} must be one of ${m[3]}, got ${quote(m[2])}`
  // "Expected foo to be one of: convert" (an argument with options)
  m = /^Expected (.*) to be one of: (.*)$/.exec(lines[0] ?? '')
  if (m) {
    const list = m[2]
    const arg = Object.entries(args).find(([, a]) => a.options?.join(', ') === list)
    return `${arg ? argLabel(arg[0]) : 'argument'} must be one of ${list}, got ${quote(m[1])}`
  }
  // "Flag --ctx expects a value"
  m = /^Flag --([\w-]+) expects a value$/.exec(lines[0] ?? '')
  if (m) {
    const allowed = allowedFor(flags[m[1]])
    return `--${m[1]}${flagWhat(flags[m[1]])} needs a value${allowed ? `: ${allowed}` : ''}`
  }
  m = /^Flag --([\w-]+) expects one of these values: (.*)$/.exec(lines[0] ?? '')
  if (m) return `--${m[1]} needs a value: one of ${m[2]}`
  if (/^Missing \d+ required args?/.test(lines[0] ?? '')) {
    const missing = Array.isArray(err.args) ? (err.args as ArgDef[]) : []
    const names = missing.map((a) => a.name ?? '?')
    const what = (a: ArgDef) => (a.options ? `one of ${a.options.join(', ')}` : (a.description ?? 'required'))
    if (missing.length === 1) return `missing argument ${argLabel(names[0])}: ${what(missing[0])}; ${help}`
    return `missing arguments ${names.map(argLabel).join(' ')} (${missing.map((a) => `${argLabel(a.name ?? '?')}: ${what(a)}`).join('; ')}); ${help}`
  }
  if (/^Nonexistent flags?:/.test(lines[0] ?? '')) {
    const given = Array.isArray(err.flags) ? (err.flags as string[]) : [lines[0].replace(/^Nonexistent flags?:\s*/, '')]
    const names = Object.keys(flags).filter((n) => n !== 'json')
    return `unknown flag${given.length === 1 ? '' : 's'} ${given.map(safeName).join(', ')}; moerig ${cmd} takes ${names.length > 0 ? names.map((n) => `--${n}`).join(', ') : 'no flags'} and --json (${help})`
  }
  if (/^Unexpected arguments?:/.test(lines[0] ?? '')) {
    const extra = Array.isArray(err.args)
      ? (err.args as string[])
      : [lines[0].replace(/^Unexpected arguments?:\s*/, '')]
    const takes = Object.keys(args).map(argLabel)
    return `unexpected argument${extra.length === 1 ? '' : 's'} ${extra.map((a) => quote(String(a))).join(' ')}: moerig ${cmd} takes ${takes.length > 0 ? takes.join(' ') : 'no arguments'} (${help})`
  }
  // FailedFlagValidationError / ViolatedFlagConstraintError: "The following error occurred:" + reasons
  if (/^The following errors? occurred:/.test(lines[0] ?? '')) {
    const reasons = lines.slice(1).map((r) => {
      const req = /^Missing required flag (.+)$/.exec(r)
      if (req) {
        const name = req[1].replace(/^--/, '')
        const flag = byName(name)
        const allowed = allowedFor(flag)
        return `missing required flag --${name}${flagWhat(flag)}${allowed ? `: ${allowed}` : ''}`
      }
      return r
    })
    return reasons.length > 0 ? reasons.join('; ') : 'invalid flags'
  }
  return lines.join(' ') || 'invalid usage'
}

/**
 * Base of every moerig command: `--json` on all of them (oclif's enableJsonFlag), and one error
 * path: a one-line message (or `{"error": {code, message}}` under --json) and a non-zero exit.
 * Everything printed through `log`/`logToStderr`/`warn` and every error line goes through
 * `safeText`, so untrusted names (GGUF general.name, profile names, trace headers) cannot drive
 * the terminal.
 */
export abstract class MoerigCommand extends Command {
  static override enableJsonFlag = true

  protected override async init(): Promise<void> {
    await super.init()
    installSignalFallback(this.jsonEnabled())
  }

  /** True when progress may be drawn: a TTY on stderr and not --json. */
  protected get interactive(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled()
  }

  override log(message = '', ...args: unknown[]): void {
    super.log(safeText(args.length > 0 ? format(message, ...args) : message))
  }

  override logToStderr(message = '', ...args: unknown[]): void {
    super.logToStderr(safeText(args.length > 0 ? format(message, ...args) : message))
  }

  override warn(input: Error | string): Error | string {
    if (typeof input === 'string') return super.warn(safeText(input))
    input.message = safeText(input.message)
    return super.warn(input)
  }

  /**
   * oclif's parse, plus what it does not check: an empty value (`-o ""`, `plan ""`) is refused
   * rather than silently ignored, and an integer beyond 2^53 (which oclif accepts as 1e+20) is
   * refused. A flag definition with `allowEmpty: true` may be "".
   */
  /* eslint-disable @typescript-eslint/no-explicit-any -- the same constraints as oclif's Command.parse, which this overrides */
  protected override async parse<
    F extends {[name: string]: any},
    B extends {[name: string]: any},
    A extends {[name: string]: any},
    /* eslint-enable @typescript-eslint/no-explicit-any */
  >(options?: Interfaces.Input<F, B, A>, argv?: string[]): Promise<Interfaces.ParserOutput<F, B, A>> {
    const out = await super.parse(options, argv)
    const flagDefs = (options?.flags ?? {}) as Record<string, FlagDef>
    for (const [name, value] of Object.entries(out.flags as Record<string, unknown>)) {
      const def = flagDefs[name]
      const values = Array.isArray(value) ? value : [value]
      for (const v of values) {
        if (v === '' && !def?.allowEmpty)
          throw new MoerigError('E_USAGE', `--${name}${flagWhat(def)} needs a value, got ""`, USAGE_EXIT)
        if (typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v)) {
          throw new MoerigError(
            'E_USAGE',
            `--${name}${flagWhat(def)} must be ${integerRange(def?.min, def?.max ?? Number.MAX_SAFE_INTEGER)}, got ${v}`,
            USAGE_EXIT,
          )
        }
      }
    }
    const argDefs = (options?.args ?? {}) as Record<string, ArgDef>
    for (const [name, value] of Object.entries(out.args as Record<string, unknown>)) {
      if (value === '')
        throw new MoerigError(
          'E_USAGE',
          `${argLabel(name)}${argDefs[name]?.description ? ` (${argDefs[name].description})` : ''} needs a value, got ""`,
          USAGE_EXIT,
        )
    }
    return out
  }

  protected override async catch(err: ErrorLike): Promise<never> {
    // oclif's own exits (help, version, this.exit()) pass through untouched.
    if (err.oclif?.exit !== undefined && !(err instanceof MoerigError) && err.message.startsWith('EEXIT')) throw err
    const usage = !(err instanceof MoerigError) && err.oclif !== undefined
    const code = err instanceof MoerigError ? err.code : usage ? 'E_USAGE' : 'E_INTERNAL'
    const exitCode = err instanceof MoerigError ? err.exitCode : (err.oclif?.exit ?? 1)
    const cmd = (this.id ?? '').replace(/:/g, ' ')
    const message = safeText(
      usage
        ? describeUsageError(
            err,
            cmd,
            (this.ctor.flags ?? {}) as Record<string, FlagDef>,
            (this.ctor.args ?? {}) as Record<string, ArgDef>,
          )
        : oneLine(err),
      {oneLine: true},
    )
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify({error: {code, message}}, null, 2) + '\n')
    } else {
      process.stderr.write(`moerig: error: ${message}\n`)
    }
    if (code === 'E_INTERNAL' && process.env.MOERIG_DEBUG) process.stderr.write(`${err.stack}\n`)
    // this.exit throws oclif's ExitError, which oclif's handler turns into a silent exit(code).
    this.exit(exitCode)
  }
}
