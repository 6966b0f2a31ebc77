/**
 * `probe --measure`: the STREAM benchmark of the native addon (https://www.cs.virginia.edu/stream/)
 * — one thread per physical core, grouped by NUMA node, arrays at least 4 × the last-level caches
 * (stream.c's sizing rule, engine/membw.ts) —
 * and turned into the profile's `bandwidth` section (GB/s = 1e9 bytes/s, provenance "measured").
 */
import type {MemBwNode, MemBwProgress} from '../engine/addon.js'
import {MEMBW_DEFAULT_REPETITIONS, measureMemBandwidth, membwArrayBytesPerThread} from '../engine/membw.js'
import {MoerigError} from '../lib/errors.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import {onePerCore, type CpuTopology} from './cpu.js'

export type BandwidthSection = NonNullable<HardwareProfile['bandwidth']>

/**
 * One CPU per physical core on each NUMA node with CPUs (the lowest-numbered hardware thread of
 * each core). Hyper-threads add no memory bandwidth and would only share a core's load ports.
 */
export function bandwidthNodes(profile: HardwareProfile, topology: CpuTopology): MemBwNode[] {
  const byCpu = new Map(topology.cpus.map((c) => [c.cpu, c]))
  const nodes: MemBwNode[] = []
  for (const n of profile.numa.nodes) {
    const cpus = n.cpus.map((c) => byCpu.get(c) ?? {cpu: c, socket: null, die: null, core: null, siblings: null})
    const picked = onePerCore(cpus)
    if (picked.length > 0) nodes.push({id: n.id, cpus: picked})
  }
  if (nodes.length === 0)
    throw new MoerigError(
      'E_MEMBW_TOPOLOGY',
      'memory bandwidth: no NUMA node lists any CPU; cannot place benchmark threads',
    )
  return nodes
}

export interface MeasureOptions {
  repetitions?: number
  /** Override the array size (bytes per array per thread); default: STREAM's 4 × LLC rule. */
  arrayBytesPerThread?: number
  onProgress?: (p: MemBwProgress) => void
  now?: Date
}

export async function measureBandwidth(
  profile: HardwareProfile,
  topology: CpuTopology,
  opts: MeasureOptions = {},
): Promise<BandwidthSection> {
  const nodes = bandwidthNodes(profile, topology)
  const threads = nodes.reduce((a, n) => a + n.cpus.length, 0)
  const arrayBytesPerThread = opts.arrayBytesPerThread ?? membwArrayBytesPerThread(threads, profile.cpu.l3Bytes ?? null)
  const repetitions = opts.repetitions ?? MEMBW_DEFAULT_REPETITIONS
  const r = await measureMemBandwidth({nodes, arrayBytesPerThread, repetitions, perNode: true}, opts.onProgress)
  const round = (x: number) => Math.round(x * 100) / 100
  return {
    copyGBs: round(r.copyGBs),
    scaleGBs: round(r.scaleGBs),
    addGBs: round(r.addGBs),
    triadGBs: round(r.triadGBs),
    threads: r.threads,
    arrayBytes: 3 * r.arrayBytesPerThread * r.threads,
    arrayBytesPerThread: r.arrayBytesPerThread,
    repetitions: r.repetitions,
    measuredAt: (opts.now ?? new Date()).toISOString(),
    kernels: r.kernels,
    hugePages: r.hugePages,
    numaBind: r.numaBind,
    perNode: r.perNode.map((p) => ({
      node: p.node,
      threads: p.threads,
      copyGBs: round(p.copyGBs),
      scaleGBs: round(p.scaleGBs),
      addGBs: round(p.addGBs),
      triadGBs: round(p.triadGBs),
    })),
    provenance: {
      triadGBs: 'measured',
      copyGBs: 'measured',
      scaleGBs: 'measured',
      addGBs: 'measured',
      perNode: 'measured',
    },
  }
}
