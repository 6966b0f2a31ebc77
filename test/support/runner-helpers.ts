/** Shared by the runner, bench, check-plan, calibrate and variants tests (test/native/, test/unit/runner-units.test.ts): synthetic models and plans. */
import {execFileSync, spawn} from 'node:child_process'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const bin = join(root, 'bin', 'run.js')

import {tempDir as scratch} from './tmp.js'

/** A scratch folder removed when the test file's process exits (test/support/tmp.ts). */
export function tempDir(prefix = 'moerig-runner-'): string {
  return scratch(prefix)
}

/** `moerig synth --preset tiny` into dir (once per test file); returns the path. */
export function synthTiny(dir: string, preset = 'tiny'): string {
  const out = join(dir, `${preset}.gguf`)
  if (!existsSync(out))
    execFileSync(process.execPath, [bin, 'synth', '--preset', preset, '-o', out], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
    })
  return out
}

/** Run the CLI; never throws: status, stdout, stderr. */
export function cli(
  args: string[],
  opts: {cwd?: string; env?: NodeJS.ProcessEnv} = {},
): {status: number; stdout: string; stderr: string} {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: opts.cwd ?? root,
      env: {...process.env, ...opts.env},
    })
    return {status: 0, stdout, stderr: ''}
  } catch (e) {
    const x = e as {status: number; stdout: string; stderr: string}
    return {status: x.status ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? ''}
  }
}

/** A minimal valid plan (src/schemas/plan.ts) for `path`, CPU only unless changed. */
export function minimalPlan(
  path: string,
  tensorCount: number,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const fileBytes = statSync(path).size
  return {
    schemaVersion: 1,
    kind: 'plan',
    model: {id: 'tiny', arch: 'deepseek2', params: 1, path, fileBytes, tensorCount},
    weights: {totalBytes: fileBytes},
    engine: 'llama.cpp',
    context: 512,
    ubatch: 256,
    batch: 512,
    kvType: 'f16',
    flashAttention: false,
    threads: 1,
    kv: {layout: 'per-head', bytesPerToken: 1000, totalBytes: 512000},
    devices: [
      {
        id: 'CPU',
        kind: 'cpu',
        name: 'host RAM',
        capacityBytes: 1e10,
        weightsBytes: fileBytes,
        kvBytes: 512000,
        computeBytes: 30_000_000,
        overheadBytes: 0,
        totalBytes: fileBytes + 30_512_000,
        fits: true,
      },
    ],
    placement: {nGpuLayers: 0, tensorOverrides: [], nCpuMoe: null, tensorSplit: [], splitMode: 'layer', mainGpu: 0},
    maxContext: {byGpuCount: [{gpus: 0, maxContext: 4096}]},
    fits: true,
    verdict: {fits: true, binding: null, headline: 'fits in RAM', fixes: []},
    prediction: {decodeTps: 50, prefillTps: 200, assumptions: []},
    commands: {llamaServer: 'llama-server', llamaBench: 'llama-bench', flashMoe: null, ktransformers: null, rpc: null},
    ...over,
  }
}

/**
 * `moerig bench MODEL -p 0 -n 64 -r 200 -t 1 --runs-dir RUNS --json`, sent `sig` `waitMs` after its
 * runner child process started (Linux /proc): the exit code and what it printed.
 */
export async function benchUntilSignal(model: string, sig: NodeJS.Signals, runs: string, waitMs: number) {
  return cliUntilSignal(
    ['bench', model, '-p', '0', '-n', '64', '-r', '200', '-t', '1', '--runs-dir', runs, '--json'],
    sig,
    waitMs,
  )
}

/** Run the CLI, send `sig` waitMs after its runner child started; exit code and stdout. */
export async function cliUntilSignal(args: string[], sig: NodeJS.Signals, waitMs: number) {
  const child = spawn(process.execPath, [bin, ...args], {cwd: root, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  child.stdout.on('data', (b) => (out += b))
  const children = `/proc/${child.pid}/task/${child.pid}/children`
  for (let i = 0; i < 300 && !(existsSync(children) && readFileSync(children, 'utf8').trim()); i++)
    await new Promise((r) => setTimeout(r, 100))
  await new Promise((r) => setTimeout(r, waitMs))
  child.kill(sig)
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
  return {code, out}
}
