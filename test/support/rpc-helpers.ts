/**
 * llama.cpp RPC servers for tests and bench scripts (test/native/rpc.test.ts, bench/rpc.ts):
 * `moerig rpc-server` on 127.0.0.1 at a port the OS picks, never another address; every wait bounded.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {createServer} from 'node:net'
import {bin, root} from './runner-helpers.js'

export const START_TIMEOUT_MS = 60_000

export interface RpcTestServer {
  port: number
  endpoint: string
  proc: ChildProcess
  stdout: () => string
}

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as {port: number}).port
      s.close(() => resolve(port))
    })
  })
}

/** `moerig rpc-server` on 127.0.0.1 at a free port (plus `extra` flags), resolved once it prints "serving". */
export async function startServer(extra: string[] = []): Promise<RpcTestServer> {
  const port = await freePort()
  const proc = spawn(process.execPath, [bin, 'rpc-server', '--port', String(port), ...extra], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (err += d))
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`rpc-server on ${port} did not start: ${out}${err}`)), START_TIMEOUT_MS)
    const check = () => {
      if (/^serving /m.test(out)) {
        clearTimeout(t)
        resolve()
      }
    }
    proc.stdout!.on('data', check)
    proc.on('exit', (code) => {
      clearTimeout(t)
      reject(new Error(`rpc-server on ${port} exited (${code}): ${err.trim()}`))
    })
  })
  return {port, endpoint: `127.0.0.1:${port}`, proc, stdout: () => out}
}

/** SIGINT (as Ctrl-C) and wait for the exit, bounded. */
export function stopServer(s: RpcTestServer, sig: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  return new Promise((resolve) => {
    if (s.proc.exitCode !== null) return resolve(s.proc.exitCode)
    const t = setTimeout(() => s.proc.kill('SIGKILL'), 10_000)
    s.proc.once('exit', (code) => {
      clearTimeout(t)
      resolve(code)
    })
    s.proc.kill(sig)
  })
}
