/**
 * RPC devices in the runner (issue 15): checking the servers before the engine connects, and the
 * three names one remote device goes by.
 *
 *   engine device   "RPC0", "RPC1" …   in the order the servers are added, each server's devices
 *                                     in its order (ggml_backend_rpc_add_server): what -ot names
 *   buffer          "RPC0[host:port]"  the server's own device index + endpoint (llama.cpp's log)
 *   plan device     "RPC0:CPU"         the i-th remote host of a multi-host plan (planner/hardware.ts),
 *                                     which is the i-th server named by --rpc
 */
import {MoerigError} from '../lib/errors.js'
import type {LlamaDevice} from '../engine/addon.js'
import {parseEndpoint, type RpcEndpoint} from '../engine/rpc.js'
import type {Plan} from '../schemas/plan.js'
import {rpcServerInfo} from '../engine/rpc-client.js'
import type {RpcDevice} from '../schemas/rpc.js'
import type {BufferFigure} from './memory.js'

/** How long a server may take to answer the check (a server busy with another client never answers). */
const PREFLIGHT_TIMEOUT_MS = 5000

/**
 * Every server answers a handshake and serves at least one device: llama.cpp's client aborts the
 * process on a server it cannot reach, so this turns that into one line before the engine starts.
 */
export async function preflightRpc(servers: string[], timeoutMs = PREFLIGHT_TIMEOUT_MS): Promise<void> {
  for (const s of servers) {
    const info = await rpcServerInfo(parseEndpoint(s), {timeoutMs})
    if (info.devices.length === 0) throw new MoerigError('E_RPC', `RPC server ${s}: serves no devices`)
  }
}

/** The engine's remote devices (backend "RPC", description = endpoint), with their index on their server. */
export function rpcDevices(devices: LlamaDevice[]): RpcDevice[] {
  const seen = new Map<string, number>()
  return devices
    .filter((d) => d.backend === 'RPC')
    .map((d) => {
      const index = seen.get(d.description) ?? 0
      seen.set(d.description, index + 1)
      return {
        name: d.name,
        endpoint: d.description,
        index,
        totalBytes: Math.max(0, Math.round(d.totalBytes)),
        freeBytes: Math.max(0, Math.round(d.freeBytes)),
      }
    })
}

const RPC_BUFFER_RE = /^RPC(\d+)\[([^\]]+)\]/

/** "RPC0[127.0.0.1:50052]" (a buffer's device as memory.ts keeps it) → the engine's device name. */
export function rpcBufferDeviceNames(devices: LlamaDevice[]): Map<string, string> {
  return new Map(rpcDevices(devices).map((d) => [`RPC${d.index}[${d.endpoint}]`, d.name]))
}

/** Buffers with their RPC devices named as the engine names them (unknown ones stay as logged). */
export function nameRpcBuffers(buffers: BufferFigure[], devices: LlamaDevice[]): BufferFigure[] {
  if (!buffers.some((b) => RPC_BUFFER_RE.test(b.device))) return buffers
  const names = rpcBufferDeviceNames(devices)
  return buffers.map((b) => (names.has(b.device) ? {...b, device: names.get(b.device)!} : b))
}

/**
 * A plan's "RPC<i>:CPU" (its i-th remote host) → the engine device of the i-th server: that
 * server's first device. A plan that names more remote hosts than servers were given is one line.
 */
export function engineRpcDeviceOf(id: string, devices: LlamaDevice[]): string | null {
  const m = /^RPC(\d+):/.exec(id)
  if (!m) return null
  const i = Number(m[1])
  const remotes = rpcDevices(devices)
  const endpoints = [...new Set(remotes.map((d) => d.endpoint))]
  if (i >= endpoints.length)
    throw new MoerigError(
      'E_PLAN_DEVICE',
      `the plan places tensors on ${id} (remote host ${i + 1}), but ${endpoints.length === 0 ? 'no RPC server was given' : `only ${endpoints.length} RPC server(s) were given (${endpoints.join(', ')})`}; name one per remote host with --rpc HOST:PORT,… in the plan's host order`,
    )
  return remotes.find((d) => d.endpoint === endpoints[i] && d.index === 0)!.name
}

/** The remote hosts a plan splits onto ("RPC<i>:…" devices), each needing one server in --rpc. */
export function planRemoteHosts(plan: Plan): number {
  return plan.devices.filter((d) => /^RPC\d+:/.test(d.id)).length
}

/** A multi-host plan runs over exactly one --rpc server per remote host, in the plan's host order. */
export function checkPlanRpc(plan: Plan, planPath: string, rpc: RpcEndpoint[]): void {
  const hosts = (plan.hardware ?? []).slice(1)
  const need = planRemoteHosts(plan)
  if (need === rpc.length) return
  throw new MoerigError(
    'E_PLAN_RPC',
    need === 0
      ? `plan ${planPath} is for one machine; drop --rpc (or plan with --hardware this.json,other.json to split across machines)`
      : `plan ${planPath} splits across ${need} other machine(s) (${hosts.join(', ')}): name their servers with --rpc HOST:PORT,… in that order (got ${rpc.length})`,
  )
}
