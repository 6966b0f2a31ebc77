/**
 * Helpers of test/native/bad-input.test.ts: spawn `node bin/run.js` with a hard timeout (SIGKILL, so a
 * command that ignores SIGTERM still ends), run many at once, and snapshot a folder (names, sizes,
 * inode and a hash of small files) to prove that a failed command changed and left nothing.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const bin = join(root, 'bin', 'run.js')

export interface Spawned {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
  ms: number
}

export interface SpawnOptions {
  cwd: string
  timeoutMs: number
  env?: NodeJS.ProcessEnv
  /** Send this signal when `signalWhen` returns true (polled every 50 ms) or after `signalAfterMs`, whichever comes first. */
  signal?: NodeJS.Signals
  signalAfterMs?: number
  signalWhen?: () => boolean
}

/** `node bin/run.js ...args`; never throws. */
export function runCli(args: string[], opts: SpawnOptions): Promise<Spawned> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: opts.cwd,
      env: {...process.env, MOERIG_DEBUG: '', NO_COLOR: '1', ...opts.env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    let signalled = false
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const kill = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, opts.timeoutMs)
    let poll: NodeJS.Timeout | undefined
    if (opts.signal) {
      const start = Date.now()
      poll = setInterval(() => {
        if (signalled) return
        const due =
          (opts.signalWhen?.() ?? false) ||
          Date.now() - start >= (opts.signalAfterMs ?? (opts.signalWhen ? 60_000 : 1000))
        if (due) {
          signalled = true
          child.kill(opts.signal)
        }
      }, 50)
    }
    child.on('close', (status, signal) => {
      clearTimeout(kill)
      if (poll) clearInterval(poll)
      resolve({status, signal, stdout, stderr, timedOut, ms: Date.now() - t0})
    })
  })
}

/** Run `jobs` with at most `width` at a time, results in order. */
export async function pool<T>(jobs: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length)
  let next = 0
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++
      out[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({length: Math.min(width, jobs.length)}, worker))
  return out
}

/**
 * Everything under `dir`: relative path → "kind size inode hash". Files up to 4 MiB are hashed;
 * bigger ones (GGUFs) are compared by size, inode and mtime, which an in-place write or a rename
 * over them also changes.
 */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (d: string) => {
    for (const e of readdirSync(d, {withFileTypes: true})) {
      const p = join(d, e.name)
      const rel = relative(dir, p)
      if (e.isDirectory()) {
        out.set(rel + '/', 'dir')
        walk(p)
        continue
      }
      const st = statSync(p, {throwIfNoEntry: false})
      if (!st) continue
      const id =
        st.size <= 4 * 1024 * 1024
          ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)
          : `ino${st.ino}-m${st.mtimeMs}`
      out.set(rel, `${st.size} ${id}`)
    }
  }
  walk(dir)
  return out
}

/** What changed between two snapshots, one description per path; empty when nothing did. */
export function snapshotDiff(before: Map<string, string>, after: Map<string, string>): string[] {
  const diff: string[] = []
  for (const [p, v] of before) {
    if (!after.has(p)) diff.push(`removed ${p}`)
    else if (after.get(p) !== v) diff.push(`changed ${p}`)
  }
  for (const p of after.keys()) if (!before.has(p)) diff.push(`left ${p}`)
  return diff
}

/** Non-empty lines. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '')
}
