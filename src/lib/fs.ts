/**
 * Files the user sees: the one place that
 *   - maps errno codes to words (`fileError`),
 *   - decides whether an existing file may be replaced (`checkOverwrite`: the overwrite rule),
 *   - writes through a temp file + rename (`startTemp`, `writeFileAtomic`), and
 *   - removes unfinished temp files on failure, on process.exit and on SIGINT/SIGTERM/SIGHUP.
 *
 * The overwrite rule: moerig replaces an existing file only when it can tell from the content that
 * moerig wrote a file of the same kind (`ownKind`): a JSON document with moerig's `schemaVersion`
 * and `kind` fields (a hardware profile only when `origin` is "probe": reference profiles are
 * written by hand), a binary trace with the MOETRACE magic. Anything else (CSV, which carries no
 * mark, a GGUF, a stranger's JSON) needs --force. A folder, a device or the command's own input is
 * never overwritten, --force or not.
 */
import {
  accessSync,
  closeSync,
  constants as fsc,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs'
import {basename, dirname, extname, join, resolve} from 'node:path'
import {MoerigError} from './errors.js'

// ---------------------------------------------------------------- errno → words

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a part of the path is not a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EBUSY: 'the file is busy',
  ETXTBSY: 'the file is busy',
  EXDEV: 'on another file system',
  EIO: 'input/output error',
  ENOTEMPTY: 'the folder is not empty',
  EINVAL: 'invalid argument',
  EFBIG: 'file too large',
}

/** The words for an errno code (or the error's own first line when it has none). */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`
  if (code) return code
  return String((e as Error)?.message ?? e).split('\n')[0]
}

/**
 * One MoerigError for a failed file operation, naming the user's path (not a temp name) once.
 * A MoerigError passes through unchanged, so wrapping twice cannot happen.
 */
export function fileError(e: unknown, path: string, verb = 'write'): MoerigError {
  if (e instanceof MoerigError) return e
  return new MoerigError('E_FILE', `cannot ${verb} ${path}: ${errnoText(e)}`)
}

/**
 * One MoerigError for a failed read of the input `subject` (e.g. "trace run.moetrace"): "no such
 * file", "is a folder, expected a file", or "cannot read: <errno words>".
 */
export function readError(e: unknown, subject: string, errorCode = 'E_FILE'): MoerigError {
  if (e instanceof MoerigError) return e
  return new MoerigError(errorCode, `${subject}: ${readProblem(e)}`)
}

/** The words for a failed read, without the subject: "no such file", "cannot read: <errno words>" … */
export function readProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EISDIR') return 'is a folder, expected a file'
  return `cannot read: ${errnoText(e)}`
}

// ---------------------------------------------------------------- folders

/** The *.json file names in a folder, sorted; throws the fs error when the folder cannot be read. */
export function jsonFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
}

/**
 * mkdir -p, one level at a time, for folders the user names. Node 20's `mkdirSync(p, {recursive:
 * true})` never returns when a missing folder sits where the kernel answers mkdir with ENOENT
 * although the parent exists (under /proc: mkdir /proc/x → ENOENT, mkdir /proc → EEXIST, and Node
 * retries the pair forever; checked on Node 20.20.2 with strace, `mkdirSync('/proc/x/y',
 * {recursive: true})` still spinning after 5 s). Scripts and tests that create folders they choose
 * themselves (a temp folder, build/) may use the recursive form; user-given paths come here
 * (test/cli/plan-bad-input.test.ts writes `plan -o` under /proc).
 */
export function ensureDir(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory())
      throw new MoerigError('E_FILE', `cannot create folder ${dir}: a file of that name is in the way`)
    return
  }
  const parent = dirname(dir)
  if (parent !== dir) ensureDir(parent)
  try {
    mkdirSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(e, dir, 'create folder')
  }
}

// ---------------------------------------------------------------- reading

const BOM = '\ufeff'
/**
 * Deeper JSON is refused: V8 parses any depth, but every recursive consumer after it (ajv,
 * JSON.stringify in messages) overflows the stack. moerig's own documents are about 10 deep.
 */
export const MAX_JSON_DEPTH = 512

/** Nesting depth of a parsed JSON value, without recursion (so any depth can be measured). */
function jsonDepth(root: unknown): number {
  let max = 0
  const stack: Array<[unknown, number]> = [[root, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (d > max) max = d
    if (max > MAX_JSON_DEPTH) return max
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (child !== null && typeof child === 'object') stack.push([child, d + 1])
  }
  return max
}

/**
 * JSON.parse without throwing: a UTF-8 byte-order mark is accepted (editors on Windows write one),
 * and a document nested deeper than MAX_JSON_DEPTH is a problem by name instead of a later
 * "Maximum call stack size exceeded". `problem` is the words without a file name.
 */
export function tryParseJson(text: string): {data: unknown; problem?: undefined} | {data?: undefined; problem: string} {
  const body = text.startsWith(BOM) ? text.slice(1) : text
  let data: unknown
  try {
    data = JSON.parse(body)
  } catch (e) {
    if (e instanceof RangeError) return {problem: `not usable JSON (nested more than ${MAX_JSON_DEPTH} levels deep)`}
    return {problem: `not valid JSON (${(e as Error).message})`}
  }
  if (jsonDepth(data) > MAX_JSON_DEPTH)
    return {problem: `not usable JSON (nested more than ${MAX_JSON_DEPTH} levels deep)`}
  return {data}
}

/** tryParseJson, failing with one line that starts with `what` (e.g. "plan FILE"). */
export function parseJsonText(text: string, what: string): unknown {
  const r = tryParseJson(text)
  if (r.problem !== undefined) throw new MoerigError('E_JSON', `${what}: ${r.problem}`)
  return r.data
}

/** Read a whole text file; a missing or unreadable file is one line naming `what` and the path. */
export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw readError(e, `${what} ${path}`)
  }
}

// ---------------------------------------------------------------- temp files

/** Temp files being written now; removed on failure, on exit and on a terminating signal. */
const liveTemps = new Set<string>()
let tempSeq = 0
let hooksInstalled = false

const SIGNAL_EXIT: Record<string, number> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}

/** Remove every unfinished temp file (safe to call any number of times). */
export function removeLiveTemps(): void {
  for (const p of liveTemps) {
    try {
      rmSync(p, {force: true, recursive: true})
    } catch {}
  }
  liveTemps.clear()
}

/**
 * When nothing else listens for the signal, stop with one line and exit 128 + signal number after
 * removing the temp files. When a command has its own handler (run, bench, synth), that handler
 * decides; the 'exit' hook still removes the temps if it exits.
 */
function onSignal(sig: NodeJS.Signals): void {
  if (process.listenerCount(sig) > 1) return
  removeLiveTemps()
  process.stderr.write(
    `\nmoerig: ${sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`}; unfinished output removed\n`,
  )
  process.exit(SIGNAL_EXIT[sig])
}

/**
 * Installed once, the first time a temp file is made, and kept: removing the last listener while
 * a signal is pending would drop that signal.
 */
function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', removeLiveTemps)
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) process.on(sig, onSignal)
}

/** Track a temp path owned by TS code (e.g. files the native synth writer creates). */
export function trackTemp(path: string): void {
  installHooks()
  liveTemps.add(path)
}

/** Stop tracking a temp path (after it was renamed into place or removed). */
export function untrackTemp(path: string): void {
  liveTemps.delete(path)
}

/** Remove a temp path and stop tracking it; never throws. */
export function removeTemp(path: string): void {
  try {
    rmSync(path, {force: true, recursive: true})
  } catch {}
  liveTemps.delete(path)
}

/** A hidden name next to `target` (same folder, so the final rename is atomic), unique in this process. */
export function tempPathFor(target: string, tag = 'tmp'): string {
  const abs = resolve(target)
  return join(dirname(abs), `.${basename(abs)}.${tag}-${process.pid}-${(tempSeq++).toString(36)}`)
}

export interface TempFile {
  /** The temp path to write. */
  readonly tmp: string
  /** Rename the temp file over `target`; on failure the temp file is removed and a one-line MoerigError thrown. */
  commit(): void
  /** Drop the temp file; `target` is untouched. */
  abort(): void
}

/** Begin writing `target` through a temp file next to it (parent folders are created). */
export function startTemp(target: string): TempFile {
  ensureDir(dirname(resolve(target)))
  const tmp = tempPathFor(target)
  trackTemp(tmp)
  return {
    tmp,
    commit() {
      try {
        renameSync(tmp, target)
      } catch (e) {
        removeTemp(tmp)
        throw fileError(e, target)
      }
      untrackTemp(tmp)
    },
    abort() {
      removeTemp(tmp)
    },
  }
}

/** Write a whole file atomically: a failed or interrupted write never leaves half a file or a temp file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const t = startTemp(path)
  try {
    writeFileSync(t.tmp, data)
  } catch (e) {
    t.abort()
    throw fileError(e, path)
  }
  t.commit()
}

/**
 * Write JSON (2-space indent, final newline) atomically. Failures are one MoerigError naming
 * `path` (fileError: never wrapped twice). Reading JSON against a schema is schemas/validate.ts's
 * readJsonFile (lib/ sits below schemas/).
 */
export function writeJsonFile(path: string, data: unknown): void {
  writeFileAtomic(path, JSON.stringify(data, null, 2) + '\n')
}

// ---------------------------------------------------------------- the overwrite rule

/** What moerig writes: a JSON document's `kind` ("plan", "hardware", …) or a binary trace. */
export type OwnKind = string

const TRACE_MAGIC = 'MOETRACE'
/** Moerig's JSON outputs are small; a bigger file is not read to decide ownership. */
const MAX_OWN_JSON_BYTES = 64 * 1024 * 1024

/** The kind of moerig file at `path`, judged by content; null when it is not recognisably moerig's. */
export function ownKind(path: string): OwnKind | null {
  let head: Buffer
  try {
    const fd = openSync(path, 'r')
    try {
      head = Buffer.alloc(8)
      head = head.subarray(0, readSync(fd, head, 0, 8, 0))
    } finally {
      closeSync(fd)
    }
  } catch {
    return null
  }
  if (head.toString('latin1') === TRACE_MAGIC) return 'moetrace'
  try {
    if (statSync(path).size > MAX_OWN_JSON_BYTES) return null
    const doc = tryParseJson(readFileSync(path, 'utf8')).data as
      {schemaVersion?: unknown; kind?: unknown; origin?: unknown} | null | undefined
    if (doc === null || doc === undefined || typeof doc !== 'object' || Array.isArray(doc)) return null
    if (typeof doc.schemaVersion !== 'number' || typeof doc.kind !== 'string') return null
    // Reference rigs are written by hand from spec sheets: a user's work, not moerig's.
    if (doc.kind === 'hardware' && doc.origin !== 'probe') return null
    return doc.kind
  } catch {
    return null
  }
}

/** True when `a` and `b` name the same existing file (through symlinks, `..` or hard links). */
export function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a)
    const sb = statSync(b)
    return sa.dev === sb.dev && sa.ino === sb.ino
  } catch {
    return false // one of them does not exist (or cannot be reached): it cannot be the other
  }
}

export interface OverwriteOptions {
  /** What the command writes (see ownKind); null when moerig cannot recognise its own output (CSV, GGUF). */
  kind: OwnKind | null
  force?: boolean
  /** The command's input files: the output may never be one of them. */
  inputs?: string[]
  /** How the message names the output, e.g. "output", "--trace". */
  what?: string
  /** The flag that allows overwriting, for the message. */
  forceFlag?: string
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path)
  } catch (e) {
    // ENOTDIR: a part of the path is a file; checkParentWritable names it
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw fileError(e, path, 'read')
  }
}

/** The nearest folder on the way up from `path` that exists must be a writable folder. */
function checkParentWritable(path: string, what: string): void {
  let dir = dirname(resolve(path))
  for (;;) {
    const st = lstatOrNull(dir)
    if (st) {
      const isDir = st.isDirectory() || (st.isSymbolicLink() && statSync(dir, {throwIfNoEntry: false})?.isDirectory())
      if (!isDir) throw new MoerigError('E_FILE', `${what} ${path}: ${dir} is not a folder`)
      try {
        accessSync(dir, fsc.W_OK)
      } catch (e) {
        throw new MoerigError('E_FILE', `${what} ${path}: cannot write in ${dir}: ${errnoText(e)}`)
      }
      return
    }
    const up = dirname(dir)
    if (up === dir) return
    dir = up
  }
}

/**
 * `path`, or `stem-2.ext`, `stem-3.ext` … when it is taken: for result files named by the second
 * (reports/runs/<time>-bench-<model>.json), so two runs in one second never overwrite each other.
 */
export function freshPath(path: string): string {
  if (!existsSync(path)) return path
  const ext = extname(path)
  const stem = path.slice(0, path.length - ext.length)
  for (let i = 2; ; i++) {
    const p = `${stem}-${i}${ext}`
    if (!existsSync(p)) return p
  }
}

/**
 * May files be written into folder `dir` (e.g. bench/run --runs-dir)? Call before the work: it
 * refuses a path that is a file, or whose nearest existing folder cannot be written.
 */
export function checkOutputFolder(dir: string, what: string): void {
  if (dir === '') throw new MoerigError('E_USAGE', `${what}: the folder name is empty`)
  const st = lstatOrNull(dir)
  if (st && !(st.isDirectory() || statSync(dir, {throwIfNoEntry: false})?.isDirectory())) {
    throw new MoerigError('E_FILE', `${what} ${dir} is a file, not a folder; give a folder`)
  }
  checkParentWritable(join(dir, 'x'), what)
}

/**
 * May `path` be written? Call before any work, so a refusal costs nothing and leaves nothing.
 * Refuses (one line, non-zero exit): the path is one of the inputs; it is a folder or not a
 * regular file; it exists, was not written by moerig (same kind) and --force was not given; its
 * folder cannot be written.
 */
export function checkOverwrite(path: string, opts: OverwriteOptions): void {
  const what = opts.what ?? 'output'
  const flag = opts.forceFlag ?? '--force'
  if (path === '') throw new MoerigError('E_USAGE', `${what}: the file name is empty`)
  for (const input of opts.inputs ?? []) {
    if (sameFile(input, path))
      throw new MoerigError('E_SAME_FILE', `${what} ${path} is the input file ${input}; write to another file`)
  }
  const st = lstatOrNull(path)
  if (!st) return checkParentWritable(path, what)
  const target = st.isSymbolicLink() ? statSync(path, {throwIfNoEntry: false}) : st
  if (target?.isDirectory())
    throw new MoerigError('E_IS_FOLDER', `${what} ${path} is a folder; give a file name, e.g. ${join(path, 'out')}`)
  if (target && !target.isFile())
    throw new MoerigError(
      'E_FILE',
      `${what} ${path} is not a regular file (a device, pipe or socket); give a file name`,
    )
  checkParentWritable(path, what)
  if (opts.force) return
  const kind = target ? ownKind(path) : null
  if (opts.kind !== null && kind === opts.kind) return
  const was =
    opts.kind === null
      ? ''
      : kind
        ? ` and is a moerig ${kind} file, not a ${opts.kind}`
        : ' and was not written by moerig'
  throw new MoerigError(
    'E_EXISTS',
    `${what} ${path} already exists${was}; pass ${flag} to overwrite it, or choose another name`,
  )
}
