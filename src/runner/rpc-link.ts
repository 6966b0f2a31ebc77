/**
 * Measures the link to an RPC server (`moerig calibrate --rpc`): the smallest request/answer round
 * trip and the payload bandwidth each way, with llama.cpp's own commands (GET_ALIGNMENT for the
 * round trip; SET_TENSOR / GET_TENSOR on a buffer the server allocates and frees). Bounded: a fixed
 * number of requests, each with a timeout; the buffer is freed before the connection closes.
 */
import {MoerigError} from '../lib/errors.js'
import {checkOverwrite, writeJsonFile} from '../lib/fs.js'
import {fmtBinary} from '../lib/units.js'
import {endpointText, type RpcEndpoint} from '../engine/rpc.js'
import {withRpc} from '../engine/rpc-client.js'
import {median} from './stats.js'
import type {RpcLink} from '../schemas/rpc.js'
import {hardwareProfileSchema, type HardwareProfile} from '../schemas/hardware.js'
import {calibrateResultSchema, type CalibrateResult} from '../schemas/calibrate.js'
import {assertValid} from '../schemas/validate.js'

export const LINK_DEFAULTS = {pings: 50, bytes: 16 * 1024 * 1024, reps: 3}

export interface LinkOptions {
  pings?: number
  bytes?: number
  reps?: number
  timeoutMs?: number
  onProgress?: (what: string) => void
}

export async function measureRpcLink(e: RpcEndpoint, o: LinkOptions = {}): Promise<RpcLink> {
  const pings = o.pings ?? LINK_DEFAULTS.pings
  const bytes = o.bytes ?? LINK_DEFAULTS.bytes
  const reps = o.reps ?? LINK_DEFAULTS.reps
  // a transfer of 16 MiB at 1 GbE takes ~0.15 s: allow a slow link, never forever
  const timeoutMs = o.timeoutMs ?? Math.max(10_000, (bytes / 1e6) * 100)
  return withRpc(
    e,
    async (c) => {
      o.onProgress?.(`round trips to ${c.endpoint}`)
      const rtts: number[] = []
      for (let i = 0; i < pings; i++) {
        const t0 = process.hrtime.bigint()
        await c.ping()
        rtts.push(Number(process.hrtime.bigint() - t0) / 1e3)
      }
      const buf = await c.allocBuffer(0, bytes)
      if (!buf)
        throw new MoerigError('E_RPC', `RPC server ${c.endpoint}: cannot allocate ${bytes} bytes on its device 0`)
      let up = 0,
        down = 0
      try {
        const data = Buffer.alloc(bytes, 0x5a)
        for (let r = 0; r < reps; r++) {
          o.onProgress?.(`transfers to and from ${c.endpoint} (${r + 1}/${reps})`)
          const t0 = process.hrtime.bigint()
          c.setBytes(buf, data)
          await c.ping() // answers after the upload has been applied: the connection is in order
          const t1 = process.hrtime.bigint()
          const got = await c.getBytes(buf, bytes)
          const t2 = process.hrtime.bigint()
          if (got[0] !== 0x5a || got[bytes - 1] !== 0x5a)
            throw new MoerigError('E_RPC', `RPC server ${c.endpoint}: the bytes read back differ from those written`)
          up = Math.max(up, bytes / Number(t1 - t0))
          down = Math.max(down, bytes / Number(t2 - t1))
        }
      } finally {
        c.freeBuffer(buf.ptr)
        await c.ping()
      }
      return {
        endpoint: endpointText(e),
        rttUs: +(median(rtts) ?? NaN).toFixed(1),
        uploadGBs: +up.toFixed(3),
        downloadGBs: +down.toFixed(3),
        bytes,
        reps,
      }
    },
    {timeoutMs},
  )
}

/**
 * `calibrate --rpc`: measure the link to each server and keep them in the profile's calibration
 * (replacing earlier links to the same endpoints; the other calibration figures stay). Seconds,
 * not minutes: no model runs.
 */
export async function calibrateLinks(
  o: {profile: HardwareProfile; rpc: RpcEndpoint[]; savePath: string | null; force?: boolean} & LinkOptions,
): Promise<CalibrateResult> {
  const t0 = Date.now()
  if (o.savePath !== null) checkOverwrite(o.savePath, {kind: 'hardware', force: o.force, what: '--save'})
  const links: RpcLink[] = []
  for (const e of o.rpc) links.push(await measureRpcLink(e, o))
  const before = o.profile.calibration
  const kept = (before?.rpcLinks ?? []).filter((l) => !links.some((x) => x.endpoint === l.endpoint))
  // the other figures keep their date; a profile without a calibration gets one of links only
  const calibration: NonNullable<HardwareProfile['calibration']> = {
    ...(before ?? {provenance: 'measured' as const, measuredAt: new Date().toISOString()}),
    rpcLinks: [...kept, ...links],
  }
  const profile = assertValid<HardwareProfile>(
    hardwareProfileSchema,
    {...o.profile, calibration},
    'calibrated hardware profile',
  )
  if (o.savePath) writeJsonFile(o.savePath, profile)
  return assertValid<CalibrateResult>(
    calibrateResultSchema,
    {calibration, savedTo: o.savePath, partial: false, seconds: (Date.now() - t0) / 1000, measurements: []},
    'calibrate result',
  )
}

/** "127.0.0.1:50052: round trip 120 µs, 0.43 GB/s up, 0.19 GB/s down (16.0 MiB × 3, measured)" */
export function linkLine(l: RpcLink): string {
  return `${l.endpoint}: round trip ${l.rttUs} µs, ${l.uploadGBs} GB/s up, ${l.downloadGBs} GB/s down (${fmtBinary(l.bytes, {units: ['MiB']})} × ${l.reps}, measured)`
}
