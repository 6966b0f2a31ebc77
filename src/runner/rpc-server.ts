/**
 * `moerig rpc-server`: runs llama.cpp's rpc-server (built into build/rpc/ by scripts/build-rpc.mjs)
 * so that another machine's moerig or llama.cpp can use this machine's devices over TCP. A thin
 * wrapper: it checks the address and port first, starts the server, confirms it answers with the
 * RPC protocol, reports clients as they come and go, and turns a server that dies into one line.
 *
 * The protocol has no authentication: loopback unless --expose (llama.cpp's own README warns to
 * never expose it to an open network).
 */
import {spawn} from 'node:child_process'
import {createServer} from 'node:net'
import {join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {projectBackends} from '../engine/backends.js'
import {endpointText, isLoopback, parseEndpoint, rpcBuild} from '../engine/rpc.js'
import {rpcServerInfo} from '../engine/rpc-client.js'
import type {RpcServedDevice, RpcServerResult} from '../schemas/rpc.js'

/** How long the server may take to answer its first handshake (loading the CPU backend). */
const READY_TIMEOUT_MS = 20_000
const GIB = 1024 ** 3
/** A client has left when no connection was open for this long. */
const CLIENT_IDLE_MS = 2000

export interface RpcServeOptions {
  host: string
  port: number
  threads?: number
  /** GiB each device reports at most */
  memGiB?: number
  /** "CPU", "Vulkan0,Vulkan1": llama.cpp rpc-server --device */
  devices?: string
  /** llama.cpp's local tensor cache (rpc-server -c) */
  cache?: boolean
  /** allow an address other than loopback */
  expose?: boolean
}

export interface RpcServeEvents {
  onPhase?: (label: string) => void
  onReady?: (r: {endpoint: string; protocol: string; devices: RpcServedDevice[]; release: string}) => void
  /**
   * A client started using the server, or has left (no connection for CLIENT_IDLE_MS): llama.cpp's
   * client opens a new connection whenever its last one was released, many per run.
   */
  onClient?: (what: 'connected' | 'left', connections: number) => void
  /** a line of the server's own that the user should see (errors, warnings) */
  onServerLine?: (line: string) => void
}

/** Throws one line naming the problem when the options cannot be served. */
export function checkServeOptions(o: RpcServeOptions): void {
  parseEndpoint(`${o.host}:${o.port}`, '--host/--port')
  if (!isLoopback(o.host) && !o.expose)
    throw new MoerigError(
      'E_USAGE',
      `--host ${o.host} is not loopback and llama.cpp's RPC protocol has no authentication: anyone who reaches ${o.host}:${o.port} can use this machine's devices and memory; add --expose to serve on a private network anyway`,
    )
  if (o.memGiB !== undefined && !(Number.isFinite(o.memGiB) && o.memGiB > 0))
    throw new MoerigError('E_USAGE', `--mem ${o.memGiB}: expected a positive number of GiB`)
  if (o.devices !== undefined && !/^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$/.test(o.devices))
    throw new MoerigError(
      'E_USAGE',
      `--device ${JSON.stringify(o.devices)}: expected device names, comma-separated, e.g. CPU or Vulkan0,Vulkan1`,
    )
}

/** Whether host:port can be bound now (the server's own failure says only "Failed to create server socket"). */
function checkPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is in use (another rpc-server?); choose another with --port`
          : e.code === 'EADDRNOTAVAIL'
            ? `${host} is not an address of this machine`
            : e.code === 'EACCES'
              ? `port ${port} needs privileges; choose one above 1023`
              : `cannot bind ${host}:${port} (${e.code ?? e.message})`
      reject(new MoerigError('E_RPC_BIND', why))
    })
    s.listen({host, port, exclusive: true}, () => s.close(() => resolve()))
  })
}

/** "  CPU: AMD EPYC (2048 MiB, 2048 MiB free)" → a device. */
export function parseBannerDevice(line: string): RpcServedDevice | null {
  const m = /^\s+([A-Za-z0-9_]+): (.*) \((\d+) MiB, (\d+) MiB free\)\s*$/.exec(line)
  if (!m) return null
  return {name: m[1], description: m[2], totalBytes: Number(m[3]) * 1024 ** 2, freeBytes: Number(m[4]) * 1024 ** 2}
}

/** Serves until SIGINT/SIGTERM/SIGHUP (the result) or until the server dies (a MoerigError). */
export async function serveRpc(o: RpcServeOptions, ev: RpcServeEvents = {}): Promise<RpcServerResult> {
  checkServeOptions(o)
  const build = rpcBuild()
  // --mem is the shim's (scripts/rpc-server-shim.cpp), linked into build/rpc/'s server only
  if (o.memGiB !== undefined && build.release === 'custom')
    throw new MoerigError('E_USAGE', `--mem needs build/rpc/'s rpc-server; ${build.origin} has its own`)
  await checkPortFree(o.host, o.port)
  const args = ['--host', o.host, '--port', String(o.port)]
  if (o.threads !== undefined) args.push('--threads', String(o.threads))
  if (o.devices) args.push('--device', o.devices)
  if (o.cache) args.push('--cache')
  // the server ends with this process, however it ends (scripts/rpc-server-shim.cpp)
  const env: NodeJS.ProcessEnv = {...process.env, MOERIG_RPC_PARENT_PID: String(process.pid)}
  const memCapBytes = o.memGiB !== undefined ? Math.floor(o.memGiB * GIB) : null
  if (memCapBytes !== null) env.MOERIG_RPC_MEM_BYTES = String(memCapBytes)
  // A GPU backend of node-llama-cpp's packages (Vulkan, CUDA), found as the engine finds them:
  // ggml_backend_load_all() loads one out-of-tree library named by GGML_BACKEND_PATH.
  const gpu = projectBackends().libs[0]
  if (gpu && !env.GGML_BACKEND_PATH) env.GGML_BACKEND_PATH = gpu.path

  ev.onPhase?.(`starting rpc-server on ${o.host}:${o.port}`)
  const t0 = Date.now()
  const child = spawn(build.server, args, {cwd: join(build.server, '..'), env, stdio: ['ignore', 'pipe', 'pipe']})
  const devices: RpcServedDevice[] = []
  const tail: string[] = []
  let clients = 0
  let accepted = 0
  let closed = 0
  // a client's run: connections until none for CLIENT_IDLE_MS
  let active = false
  let session = 0
  let idle: NodeJS.Timeout | null = null
  let protocol = ''
  // server lines before it serves are kept for the error line (one line when it fails to start)
  const early: string[] = []
  const serverLine = (l: string) => (protocol ? ev.onServerLine?.(l) : early.push(l))
  let stoppedBy: NodeJS.Signals | null = null
  const keep = (l: string) => {
    tail.push(l)
    if (tail.length > 20) tail.shift()
  }
  const lines = (stream: NodeJS.ReadableStream, fn: (l: string) => void) => {
    let rest = ''
    stream.setEncoding('utf8')
    stream.on('data', (d: string) => {
      rest += d
      let i
      while ((i = rest.indexOf('\n')) >= 0) {
        fn(rest.slice(0, i).replace(/\r$/, ''))
        rest = rest.slice(i + 1)
      }
    })
  }
  lines(child.stdout, (l) => {
    keep(l)
    const d = parseBannerDevice(l)
    if (d) devices.push(d)
    // the first connection is our own readiness handshake (nothing else knows the server yet)
    else if (l === 'Accepted client connection' && ++accepted > 1) {
      clients++
      if (idle) clearTimeout(idle)
      idle = null
      if (!active) ev.onClient?.('connected', (session = 1))
      else session++
      active = true
    } else if (l === 'Client connection closed' && ++closed > 1 && active) {
      if (idle) clearTimeout(idle)
      idle = setTimeout(() => {
        active = false
        idle = null
        ev.onClient?.('left', session)
      }, CLIENT_IDLE_MS)
    } else if (/^(error|warning)/i.test(l)) serverLine(l)
  })
  lines(child.stderr, (l) => {
    keep(l)
    // its "loaded … backend" chatter and the !!!! banner (we print the warning ourselves)
    if (/^load_backend: loaded|^!+$|^WARNING: Host|^\s+(Never expose|This is an experimental)|^$/.test(l)) return
    serverLine(l)
  })
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) =>
    child.on('exit', (code, signal) => resolve({code, signal})),
  )
  const spawnFailed = new Promise<never>((_, reject) =>
    child.on('error', (e) => reject(new MoerigError('E_RPC', `cannot start ${build.server}: ${e.message}`))),
  )
  // the most telling line: its own error ("error: unknown device: Vulkan7"), else the last one
  const lastWords = () => {
    const ls = tail.filter((l) => l.trim() !== '' && !/^load_backend: loaded|^!+$/.test(l)).map((l) => l.trim())
    const back = [...ls].reverse()
    return (
      back.find((l) => /^error\b/i.test(l)) ?? back.find((l) => /failed|No devices/i.test(l)) ?? back[0] ?? 'no output'
    )
  }

  const stop = (sig: NodeJS.Signals) => {
    stoppedBy ??= sig
    child.kill('SIGTERM')
  }
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
    const h = () => stop(sig)
    process.on(sig, h)
    return [sig, h] as const
  })
  try {
    // Ready = it answers a handshake (over loopback when it listens on all addresses).
    const probeHost = o.host === '0.0.0.0' ? '127.0.0.1' : o.host
    const deadline = Date.now() + READY_TIMEOUT_MS
    let info: Awaited<ReturnType<typeof rpcServerInfo>> | null = null
    let died: {code: number | null; signal: NodeJS.Signals | null} | null = null
    void exited.then((x) => (died = x))
    while (!info && !died && !stoppedBy) {
      try {
        info = await Promise.race([rpcServerInfo({host: probeHost, port: o.port}, {timeoutMs: 2000}), spawnFailed])
      } catch (e) {
        if (e instanceof MoerigError && e.code !== 'E_RPC') throw e
        if (Date.now() > deadline)
          throw new MoerigError(
            'E_RPC',
            `rpc-server did not answer on ${o.host}:${o.port} within ${READY_TIMEOUT_MS / 1000} s`,
          )
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    if (!info) {
      if (stoppedBy) return result()
      const d = died as {code: number | null; signal: NodeJS.Signals | null} | null
      throw new MoerigError(
        'E_RPC',
        `rpc-server exited before serving (${d?.signal ?? `exit ${d?.code}`}): ${lastWords()}`,
      )
    }
    protocol = info.version
    for (const l of early.splice(0)) ev.onServerLine?.(l)
    ev.onReady?.({endpoint: endpointText(o), protocol: info.version, devices, release: build.release})
    const end = await exited
    if (!stoppedBy)
      throw new MoerigError('E_RPC', `rpc-server stopped (${end.signal ?? `exit ${end.code}`}): ${lastWords()}`)
    return result()
  } finally {
    if (idle) clearTimeout(idle)
    for (const [sig, h] of handlers) process.off(sig, h)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  }

  function result(): RpcServerResult {
    return {
      endpoint: endpointText(o),
      exposed: !isLoopback(o.host),
      release: build.release,
      protocol,
      devices,
      memCapBytes,
      clients,
      seconds: (Date.now() - t0) / 1000,
      stoppedBy: stoppedBy ?? 'SIGINT',
    }
  }
}
