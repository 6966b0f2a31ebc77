/**
 * NUMA nodes from /sys/devices/system/node (Documentation/ABI/stable/sysfs-devices-node):
 * nodeN/cpulist, nodeN/meminfo ("Node 0 MemTotal:  263842164 kB"), nodeN/distance (one SLIT row).
 * Sub-NUMA clustering (SNC on Xeon, NPS>1 on EPYC) shows as more CPU-bearing nodes than sockets.
 */
import type {Provenance} from '../schemas/common.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import type {LogicalCpu} from './cpu.js'
import {SysTree, onlineIds, parseCpuList} from './sysfs.js'

/** One NUMA node as the probe fills it: the schema's, every optional field present. */
export type NumaNode = Required<HardwareProfile['numa']['nodes'][number]>

/** The numa section as the probe fills it. */
export type NumaSection = Required<Omit<HardwareProfile['numa'], 'nodes'>> & {nodes: NumaNode[]}

/** "Node 0 MemTotal:  263842164 kB" lines → {MemTotal: bytes, …}. */
export function parseNodeMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^Node\s+\d+\s+(\S+):\s+(\d+)(?:\s*kB)?\s*$/.exec(line.trim())
    if (m) out[m[1]] = Number(m[2]) * (/kB\s*$/.test(line) ? 1024 : 1)
  }
  return out
}

export function readNuma(sys: SysTree, cpus: readonly LogicalCpu[], sockets: number, notes: string[]): NumaSection {
  const base = '/sys/devices/system/node'
  const prov: Record<string, Provenance> = {}
  const ids = onlineIds(sys, base, 'node')
  if (ids === null) {
    // No NUMA support compiled in (or /sys hidden): one node holding every CPU.
    notes.push('NUMA: /sys/devices/system/node is absent; reporting one node with all CPUs, memory per node unknown')
    prov.nodes = 'derived'
    return {
      nodes: [
        {id: 0, cpus: cpus.map((c) => c.cpu), memTotalBytes: null, memFreeBytes: null, socket: cpus[0]?.socket ?? null},
      ],
      distances: null,
      subNumaClustering: false,
      provenance: prov,
    }
  }
  const socketOf = new Map(cpus.map((c) => [c.cpu, c.socket]))
  const nodes: NumaNode[] = []
  const rows: Array<number[] | null> = []
  for (const id of ids) {
    const dir = `${base}/node${id}`
    const cl = sys.read(`${dir}/cpulist`)
    const nodeCpus = cl !== null ? parseCpuList(cl) : null
    if (nodeCpus === null) notes.push(`NUMA node ${id}: cpulist ${cl === null ? 'unreadable' : `malformed ("${cl}")`}`)
    const mi = sys.read(`${dir}/meminfo`)
    const mem = mi !== null ? parseNodeMeminfo(mi) : {}
    const sockIds = new Set(
      (nodeCpus ?? []).map((c) => socketOf.get(c)).filter((s): s is number => s !== null && s !== undefined),
    )
    nodes.push({
      id,
      cpus: nodeCpus ?? [],
      memTotalBytes: mem.MemTotal ?? null,
      memFreeBytes: mem.MemFree ?? null,
      socket: sockIds.size === 1 ? [...sockIds][0] : null,
    })
    const d = sys.read(`${dir}/distance`)
    const row = d !== null ? d.split(/\s+/).map(Number) : null
    rows.push(row && row.every(Number.isInteger) ? row : null)
  }
  prov.nodes = 'sysfs'
  prov.memTotalBytes = nodes.some((n) => n.memTotalBytes !== null) ? 'sysfs' : 'unknown'
  const distances = rows.every((r) => r !== null && r.length === nodes.length) ? (rows as number[][]) : null
  prov.distances = distances ? 'sysfs' : 'unknown'
  if (!distances) notes.push('NUMA: distance matrix not exposed')
  const cpuNodes = nodes.filter((n) => n.cpus.length > 0).length
  const subNumaClustering = cpuNodes > sockets
  prov.subNumaClustering = 'derived'
  return {nodes, distances, subNumaClustering, provenance: prov}
}
