/**
 * A small client for llama.cpp's RPC wire protocol (ggml/src/ggml-rpc/ggml-rpc.cpp, protocol 6.x),
 * in TS so that the CLI can ask a server what it serves and measure the link without loading the
 * engine: llama.cpp's own client aborts the process when a server cannot be reached.
 *
 *   request : | cmd (1 byte) | size (u64 LE) | payload |
 *   response: | size (u64 LE) | payload |          (only commands that answer)
 *
 * A server serves one client at a time, in order: every call here has a timeout (a busy server
 * accepts the connection but answers nothing until its current client leaves) and closes its
 * connection before it returns.
 */
import {Socket} from 'node:net'
import {MoerigError} from '../lib/errors.js'
import {endpointText, type RpcEndpoint} from './rpc.js'

/** The protocol major version this release speaks (RPC_PROTO_MAJOR_VERSION in ggml-rpc.h). */
export const RPC_PROTO_MAJOR = 6

const CMD = {
  ALLOC_BUFFER: 0,
  GET_ALIGNMENT: 1,
  BUFFER_GET_BASE: 3,
  FREE_BUFFER: 4,
  SET_TENSOR: 6,
  GET_TENSOR: 8,
  GET_DEVICE_MEMORY: 11,
  HELLO: 14,
  DEVICE_COUNT: 15,
} as const

/** sizeof(rpc_msg_hello_req): conn_caps[RPC_CONN_CAPS_SIZE = 24]; all zero = plain TCP. */
const HELLO_REQ_BYTES = 24
/** sizeof(rpc_tensor), packed: id, type, buffer, ne[4]/nb[4] (u32), op, op_params[16], flags, src[10], view_src, view_offs, data, name[64], use_count. */
const RPC_TENSOR_BYTES = 296
/** GGML_TYPE_I8: one byte per element, so a tensor of N elements is N bytes. */
const GGML_TYPE_I8 = 24

export interface RpcDeviceMemory {
  index: number
  freeBytes: number
  totalBytes: number
}

export interface RpcServerInfo {
  endpoint: string
  /** "6.0.0" */
  version: string
  devices: RpcDeviceMemory[]
}

export interface RpcCallOptions {
  /** connect and each answer; default 5000 ms */
  timeoutMs?: number
}

/** Failure talking to a server, named by endpoint: one line. */
function rpcError(endpoint: string, why: string): MoerigError {
  return new MoerigError('E_RPC', `RPC server ${endpoint}: ${why}`)
}

/** One connection: requests in order, answers read with a deadline each. */
export class RpcConnection {
  /** received and not yet read, in arrival order (joined only when a read needs them: no quadratic copying) */
  private chunks: Buffer[] = []
  private pending = 0
  private waiter: (() => void) | null = null
  private want = 0
  private failure: Error | null = null
  private closed = false

  private constructor(
    private readonly sock: Socket,
    readonly endpoint: string,
    private readonly timeoutMs: number,
  ) {
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d)
      this.pending += d.length
      if (this.waiter && this.pending >= this.want) this.wake()
    })
    sock.on('error', (e) => this.fail(e))
    sock.on('close', () => this.fail(new Error('the server closed the connection')))
  }

  static connect(e: RpcEndpoint, opts: RpcCallOptions = {}): Promise<RpcConnection> {
    const endpoint = endpointText(e)
    const timeoutMs = opts.timeoutMs ?? 5000
    return new Promise((resolve, reject) => {
      const sock = new Socket()
      const timer = setTimeout(() => {
        sock.destroy()
        reject(rpcError(endpoint, `no connection within ${timeoutMs} ms`))
      }, timeoutMs)
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        sock.destroy()
        const why =
          err.code === 'ECONNREFUSED'
            ? 'connection refused (is `moerig rpc-server` running there, on that port?)'
            : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
              ? `host ${e.host} not found`
              : `cannot connect (${err.code ?? err.message})`
        reject(rpcError(endpoint, why))
      })
      sock.connect(e.port, e.host, () => {
        clearTimeout(timer)
        sock.removeAllListeners('error')
        sock.setNoDelay(true)
        resolve(new RpcConnection(sock, endpoint, timeoutMs))
      })
    })
  }

  private fail(e: Error): void {
    if (!this.failure) this.failure = e
    this.wake()
  }

  private wake(): void {
    const w = this.waiter
    this.waiter = null
    w?.()
  }

  /** Exactly n bytes, or an error after the deadline / on a closed connection. */
  private async read(n: number, what: string): Promise<Buffer> {
    const deadline = Date.now() + this.timeoutMs
    this.want = n
    while (this.pending < n) {
      if (this.failure) throw rpcError(this.endpoint, `${what}: ${this.failure.message}`)
      const left = deadline - Date.now()
      if (left <= 0)
        throw rpcError(this.endpoint, `${what}: no answer within ${this.timeoutMs} ms (is another client using it?)`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiter = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.pending)
    const out = all.subarray(0, n)
    this.chunks = all.length > n ? [all.subarray(n)] : []
    this.pending -= n
    return out
  }

  private write(cmd: number, ...parts: Buffer[]): void {
    if (this.failure) throw rpcError(this.endpoint, this.failure.message)
    const head = Buffer.alloc(9)
    head.writeUInt8(cmd, 0)
    head.writeBigUInt64LE(BigInt(parts.reduce((n, p) => n + p.length, 0)), 1)
    this.sock.write(head)
    for (const p of parts) if (p.length) this.sock.write(p)
  }

  /** A command that answers: its payload, checked for the expected size when one is given. */
  async call(cmd: number, payload: Buffer, what: string, expect?: number): Promise<Buffer> {
    this.write(cmd, payload)
    const size = Number((await this.read(8, what)).readBigUInt64LE(0))
    if (expect !== undefined && size !== expect)
      throw rpcError(
        this.endpoint,
        `${what}: answer of ${size} bytes, expected ${expect} (not a llama.cpp RPC server?)`,
      )
    return this.read(size, what)
  }

  /** A command without an answer (SET_TENSOR, FREE_BUFFER). */
  send(cmd: number, ...parts: Buffer[]): void {
    this.write(cmd, ...parts)
  }

  /** HELLO: the server's protocol version; refuses another major version as llama.cpp does. */
  async hello(): Promise<string> {
    const r = await this.call(CMD.HELLO, Buffer.alloc(HELLO_REQ_BYTES), 'handshake', 4 + HELLO_REQ_BYTES)
    const version = `${r[0]}.${r[1]}.${r[2]}`
    if (r[0] !== RPC_PROTO_MAJOR)
      throw rpcError(this.endpoint, `speaks RPC protocol ${version}, this llama.cpp needs ${RPC_PROTO_MAJOR}.x`)
    return version
  }

  async deviceCount(): Promise<number> {
    return (await this.call(CMD.DEVICE_COUNT, Buffer.alloc(0), 'device count', 4)).readUInt32LE(0)
  }

  async deviceMemory(index: number): Promise<RpcDeviceMemory> {
    const req = Buffer.alloc(4)
    req.writeUInt32LE(index)
    const r = await this.call(CMD.GET_DEVICE_MEMORY, req, 'device memory', 16)
    return {index, freeBytes: Number(r.readBigUInt64LE(0)), totalBytes: Number(r.readBigUInt64LE(8))}
  }

  /** The smallest round trip: GET_ALIGNMENT of device 0. */
  async ping(): Promise<void> {
    await this.call(CMD.GET_ALIGNMENT, Buffer.alloc(4), 'round trip', 8)
  }

  /** A buffer on device `dev` of `bytes`: its handle and base address, or null when the server cannot allocate it. */
  async allocBuffer(dev: number, bytes: number): Promise<{ptr: bigint; base: bigint; size: number} | null> {
    const req = Buffer.alloc(12)
    req.writeUInt32LE(dev, 0)
    req.writeBigUInt64LE(BigInt(bytes), 4)
    const r = await this.call(CMD.ALLOC_BUFFER, req, 'allocate', 16)
    const ptr = r.readBigUInt64LE(0)
    if (ptr === 0n) return null
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(ptr)
    const base = (await this.call(CMD.BUFFER_GET_BASE, b, 'buffer base', 8)).readBigUInt64LE(0)
    return {ptr, base, size: Number(r.readBigUInt64LE(8))}
  }

  freeBuffer(ptr: bigint): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(ptr)
    this.send(CMD.FREE_BUFFER, b)
  }

  /** Upload `data` into a buffer (SET_TENSOR: | tensor | offset | data |; no answer, so follow with ping() to know it landed). */
  setBytes(buf: {ptr: bigint; base: bigint}, data: Buffer): void {
    this.send(CMD.SET_TENSOR, byteTensor(buf, data.length), Buffer.alloc(8), data)
  }

  /** Download `bytes` bytes from the start of a buffer (GET_TENSOR). */
  async getBytes(buf: {ptr: bigint; base: bigint}, bytes: number): Promise<Buffer> {
    const req = Buffer.alloc(RPC_TENSOR_BYTES + 16)
    byteTensor(buf, bytes).copy(req, 0)
    req.writeBigUInt64LE(0n, RPC_TENSOR_BYTES)
    req.writeBigUInt64LE(BigInt(bytes), RPC_TENSOR_BYTES + 8)
    return this.call(CMD.GET_TENSOR, req, 'download', bytes)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.sock.destroy()
  }
}

/** A serialized rpc_tensor of `bytes` I8 elements at the start of a buffer. */
function byteTensor(buf: {ptr: bigint; base: bigint}, bytes: number): Buffer {
  const t = Buffer.alloc(RPC_TENSOR_BYTES)
  let o = 0
  t.writeBigUInt64LE(1n, o) // id
  o += 8
  t.writeUInt32LE(GGML_TYPE_I8, o)
  o += 4
  t.writeBigUInt64LE(buf.ptr, o) // buffer
  o += 8
  const ne = [bytes, 1, 1, 1]
  const nb = [1, bytes, bytes, bytes]
  for (const v of [...ne, ...nb]) {
    t.writeUInt32LE(v, o)
    o += 4
  }
  o += 4 + 64 + 4 + 80 + 8 + 8 // op, op_params, flags, src[10], view_src, view_offs
  t.writeBigUInt64LE(buf.base, o) // data
  return t
}

/** Connect, shake hands (once per connection: a second HELLO ends the session), run `fn`, always close. */
export async function withRpc<T>(
  e: RpcEndpoint,
  fn: (c: RpcConnection, version: string) => Promise<T>,
  opts: RpcCallOptions = {},
): Promise<T> {
  const c = await RpcConnection.connect(e, opts)
  try {
    return await fn(c, await c.hello())
  } finally {
    c.close()
  }
}

/** What a server serves: protocol version and each device's memory. */
export async function rpcServerInfo(e: RpcEndpoint, opts: RpcCallOptions = {}): Promise<RpcServerInfo> {
  return withRpc(
    e,
    async (c, version) => {
      const n = await c.deviceCount()
      if (n > 64) throw rpcError(c.endpoint, `reports ${n} devices (not a llama.cpp RPC server?)`)
      const devices: RpcDeviceMemory[] = []
      for (let i = 0; i < n; i++) devices.push(await c.deviceMemory(i))
      return {endpoint: c.endpoint, version, devices}
    },
    opts,
  )
}
