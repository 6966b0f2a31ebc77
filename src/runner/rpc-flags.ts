/**
 * `--rpc host:port[,host:port…]` on bench, run, check-plan, probe, calibrate and tune: llama.cpp RPC
 * servers (`moerig rpc-server` on each host) whose devices join this machine's, as llama.cpp's own
 * --rpc does. Validated here, before anything starts: one line naming the bad entry.
 */
import {Flags} from '@oclif/core'
import {fmtBinary} from '../lib/units.js'
import {parseEndpoints, type RpcEndpoint} from '../engine/rpc.js'
import type {RpcDevice} from '../schemas/rpc.js'

export const rpcFlags = {
  rpc: Flags.string({
    description:
      'llama.cpp RPC servers to use beside this machine (moerig rpc-server on each); their devices are RPC0, RPC1 … for -ts/-ot',
    helpValue: 'HOST:PORT,…',
    helpGroup: 'ENGINE',
  }),
}

/** The endpoints of --rpc, or none. */
export function rpcFlag(v: string | undefined): RpcEndpoint[] {
  return v === undefined ? [] : parseEndpoints(v)
}

/** "RPC devices: RPC0 at 192.168.1.20:50052 (250.0 GiB, 240.1 GiB free)", for a run's text output; none without RPC. */
export function rpcDeviceLines(p: {rpc?: RpcDevice[]}): string[] {
  if (!p.rpc?.length) return []
  const mem = (b: number) => fmtBinary(b, {units: ['MiB', 'GiB']})
  return [
    `RPC devices: ${p.rpc.map((d) => `${d.name} at ${d.endpoint} (${mem(d.totalBytes)}, ${mem(d.freeBytes)} free)`).join('; ')}`,
  ]
}
