/**
 * One demo step is one moerig command in a child process, with --json: a native crash in a step is
 * a failed step, not a dead demo. Here: running it, the one-line reason it failed, saving its JSON.
 */
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {oneLine} from '../lib/errors.js'
import {writeFileAtomic} from '../lib/fs.js'

export interface ChildResult {
  code: number
  stdout: string
  stderr: string
}

/** Run `node bin/run.js …args`; resolves with exit code and output (never rejects on exit codes). */
export function runCli(root: string, args: string[], onTick: (s: number) => void): Promise<ChildResult> {
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
export function failureLine(r: ChildResult): string {
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
export function saveJson(path: string, stdout: string): void {
  JSON.parse(stdout)
  writeFileAtomic(path, stdout)
}
