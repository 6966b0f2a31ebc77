/**
 * llama.cpp's RPC backend (issue 15): the endpoints `--rpc host:port[,host:port…]` names, and the
 * pieces scripts/build-rpc.mjs builds into build/rpc/ (libggml-rpc.so, which the engine loads to
 * add remote devices, and rpc-server, which `moerig rpc-server` runs on each host).
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {rpcBuildDir} from '../lib/paths.js'

/** llama.cpp's rpc-server default port. */
export const RPC_DEFAULT_PORT = 50052

export interface RpcEndpoint {
  host: string
  port: number
}

/** "host:port", as llama.cpp takes it (ggml_backend_rpc_add_server). */
export function endpointText(e: RpcEndpoint): string {
  return `${e.host}:${e.port}`
}

// A DNS name or an IPv4 address: llama.cpp splits an endpoint at its first ':', so IPv6 cannot work.
const HOST_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** One "host:port"; `what` names the flag in the error line. */
export function parseEndpoint(text: string, what = '--rpc'): RpcEndpoint {
  const t = text.trim()
  const bad = (why: string) => new MoerigError('E_USAGE', `${what} ${JSON.stringify(text)}: ${why}`)
  if (t.startsWith('[') || (t.match(/:/g) ?? []).length > 1)
    throw bad(
      "IPv6 addresses are not supported by llama.cpp's RPC (it splits host:port at the first ':'); use an IPv4 address or a host name",
    )
  const i = t.lastIndexOf(':')
  if (i <= 0) throw bad(`expected host:port, e.g. 192.168.1.20:${RPC_DEFAULT_PORT}`)
  const host = t.slice(0, i)
  const portText = t.slice(i + 1)
  if (!HOST_RE.test(host)) throw bad(`"${host}" is not a host name or IPv4 address`)
  if (/^[\d.]+$/.test(host) && !isIPv4(host)) throw bad(`"${host}" is not an IPv4 address`)
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
    throw bad(`port "${portText}" is not a number from 1 to 65535`)
  return {host, port: Number(portText)}
}

function isIPv4(s: string): boolean {
  const p = s.split('.')
  return p.length === 4 && p.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255)
}

/** `--rpc a:1,b:2`: one or more endpoints, each once. */
export function parseEndpoints(text: string, what = '--rpc'): RpcEndpoint[] {
  const parts = text.split(',').map((s) => s.trim())
  if (parts.some((p) => p === ''))
    throw new MoerigError(
      'E_USAGE',
      `${what} ${JSON.stringify(text)}: expected host:port[,host:port…] with no empty entries`,
    )
  const out = parts.map((p) => parseEndpoint(p, what))
  const seen = new Set<string>()
  for (const e of out) {
    const k = endpointText(e)
    if (seen.has(k)) throw new MoerigError('E_USAGE', `${what}: ${k} is named twice`)
    seen.add(k)
  }
  return out
}

/** Whether a host is this machine's loopback (where rpc-server may bind without --expose). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** What scripts/build-rpc.mjs recorded in build/rpc/rpc.json. */
export interface RpcBuild {
  release: string
  /** libggml-rpc.so */
  lib: string
  /** the rpc-server executable */
  server: string
  origin: string
}

/**
 * The built RPC pieces, or one line saying how to build them. MOERIG_RPC_DIR names a llama.cpp
 * build's bin folder instead (built with -DGGML_RPC=ON: libggml-rpc.so and ggml-rpc-server or
 * rpc-server), which a MOERIG_LLAMA_CPP_DIR engine needs: build/rpc/ is linked against the
 * prebuilt ggml, not that build's.
 */
export function rpcBuild(env: NodeJS.ProcessEnv = process.env): RpcBuild {
  const dir = env.MOERIG_RPC_DIR
  if (dir) {
    const lib = join(dir, 'libggml-rpc.so')
    const server = ['ggml-rpc-server', 'rpc-server'].map((n) => join(dir, n)).find((p) => existsSync(p))
    if (!existsSync(lib) || !server)
      throw new MoerigError(
        'E_RPC_NOT_BUILT',
        `MOERIG_RPC_DIR=${dir} has no libggml-rpc.so and ggml-rpc-server (build llama.cpp with -DGGML_RPC=ON)`,
      )
    return {release: 'custom', lib, server, origin: `MOERIG_RPC_DIR=${dir}`}
  }
  const manifest = join(rpcBuildDir, 'rpc.json')
  const missing = () =>
    new MoerigError(
      'E_RPC_NOT_BUILT',
      'the llama.cpp RPC backend is not built (build/rpc/); run: node scripts/build-rpc.mjs (or npm install)',
    )
  if (!existsSync(manifest)) throw missing()
  let m: Partial<RpcBuild>
  try {
    m = JSON.parse(readFileSync(manifest, 'utf8')) as Partial<RpcBuild>
  } catch {
    throw missing()
  }
  if (!m.lib || !m.server || !existsSync(m.lib) || !existsSync(m.server)) throw missing()
  return {release: m.release ?? 'unknown', lib: m.lib, server: m.server, origin: m.origin ?? 'build/rpc'}
}

/** build/rpc/'s pieces (`moerig engine`), or null when they are not built. */
export function rpcBuildIfAny(): {lib: string; server: string; release: string} | null {
  try {
    const b = rpcBuild()
    return {lib: b.lib, server: b.server, release: b.release}
  } catch {
    return null
  }
}
