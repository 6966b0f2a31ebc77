/**
 * CPU facts from /proc/cpuinfo, /sys/devices/system/cpu (topology, caches, cpufreq) and, where
 * those are silent, `lscpu` output. Every parser takes text or a SysTree, so fixtures are plain
 * files. Sources: Documentation/ABI/stable/sysfs-devices-system-cpu (topology/*, cache/index*),
 * Documentation/filesystems/proc.rst (cpuinfo), util-linux lscpu(1).
 */
import type {Provenance} from '../schemas/common.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import {SysTree, onlineIds, parseCacheSize, parseCpuList} from './sysfs.js'
import {microarchitectureChecked} from './uarch.js'

/** ISA flags that decide which llama.cpp/ggml kernels run (kernel flag names), in report order. */
export const INFERENCE_FLAGS = [
  'avx',
  'avx2',
  'fma',
  'f16c',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512vbmi',
  'avx512_vnni',
  'avx512_bf16',
  'avx512_fp16',
  'avx_vnni',
  'amx_tile',
  'amx_int8',
  'amx_bf16',
  'amx_fp16',
] as const

// ------------------------------------------------------------------ /proc/cpuinfo

/** One "processor : N" block of /proc/cpuinfo as key → value (keys as printed, e.g. "cpu family"). */
export type CpuinfoBlock = Record<string, string>

export function parseCpuinfo(text: string): CpuinfoBlock[] {
  const blocks: CpuinfoBlock[] = []
  let cur: CpuinfoBlock | null = null
  for (const raw of text.split('\n')) {
    const i = raw.indexOf(':')
    if (raw.trim() === '') {
      cur = null
      continue
    }
    if (i < 0) continue
    const key = raw.slice(0, i).trim()
    const value = raw.slice(i + 1).trim()
    if (key === 'processor' || cur === null) {
      cur = {}
      blocks.push(cur)
    }
    cur[key] = value
  }
  return blocks.filter((b) => b.processor !== undefined)
}

// ------------------------------------------------------------------ lscpu

/**
 * `lscpu` (plain or `-J`) as field → value. Field names lose their trailing colon and leading
 * indentation ("NUMA node0 CPU(s)", "L3 cache"). Run it with LC_ALL=C: localized field names are
 * what broke ipex-llm's flash-moe core detection (intel/ipex-llm #13183).
 */
export function parseLscpu(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  const t = text.trim()
  if (t.startsWith('{')) {
    type Entry = {field?: string; data?: string | null; children?: Entry[]}
    const walk = (list: Entry[]) => {
      for (const e of list) {
        if (e.field) out[e.field.replace(/:$/, '').trim()] = (e.data ?? '').trim()
        if (e.children) walk(e.children)
      }
    }
    try {
      walk((JSON.parse(t) as {lscpu?: Entry[]}).lscpu ?? [])
    } catch {
      return out
    }
    return out
  }
  for (const line of t.split('\n')) {
    const i = line.indexOf(':')
    if (i < 0) continue
    const key = line.slice(0, i).trim()
    const value = line.slice(i + 1).trim()
    if (key !== '' && value !== '') out[key] = value
  }
  return out
}

/** "260 MiB (1 instance)" → {bytes, instances}; lscpu prints totals over all instances. */
export function parseLscpuCache(value: string | undefined): {bytes: number; instances: number | null} | null {
  if (!value) return null
  const m = /^([0-9.]+\s*[KMG]i?B?)\s*(?:\((\d+) instances?\))?/i.exec(value.trim())
  if (!m) return null
  const bytes = parseCacheSize(m[1])
  if (bytes === null) return null
  return {bytes, instances: m[2] ? Number(m[2]) : null}
}

// ------------------------------------------------------------------ topology

/** One logical CPU: its socket (package), die, core and hardware-thread siblings. */
export interface LogicalCpu {
  cpu: number
  socket: number | null
  die: number | null
  core: number | null
  /** All logical CPUs on the same physical core (including this one). */
  siblings: number[] | null
}

export interface CpuTopology {
  cpus: LogicalCpu[]
  source: Provenance
}

/** Online CPUs with their topology: sysfs first, then /proc/cpuinfo, then lscpu's count. */
export function readTopology(sys: SysTree, cpuinfo: CpuinfoBlock[], lscpu: Record<string, string>): CpuTopology {
  const base = '/sys/devices/system/cpu'
  const ids = onlineIds(sys, base, 'cpu')
  if (ids !== null && ids.length > 0 && sys.isDir(`${base}/cpu${ids[0]}/topology`)) {
    const cpus = ids.map((cpu): LogicalCpu => {
      const t = `${base}/cpu${cpu}/topology`
      const sib = sys.read(`${t}/thread_siblings_list`) ?? sys.read(`${t}/core_cpus_list`)
      return {
        cpu,
        socket: sys.readInt(`${t}/physical_package_id`),
        die: sys.readInt(`${t}/die_id`),
        core: sys.readInt(`${t}/core_id`),
        siblings: sib !== null ? parseCpuList(sib) : null,
      }
    })
    return {cpus, source: 'sysfs'}
  }
  if (cpuinfo.length > 0) {
    const cpus = cpuinfo.map((b): LogicalCpu => {
      const num = (k: string) =>
        b[k] !== undefined && b[k] !== '' && Number.isFinite(Number(b[k])) ? Number(b[k]) : null
      return {cpu: Number(b.processor), socket: num('physical id'), die: null, core: num('core id'), siblings: null}
    })
    // Siblings from (socket, core) pairs, which /proc/cpuinfo gives on x86.
    const groups = new Map<string, number[]>()
    for (const c of cpus) {
      if (c.socket === null || c.core === null) continue
      const k = `${c.socket}/${c.core}`
      groups.set(k, [...(groups.get(k) ?? []), c.cpu])
    }
    for (const c of cpus)
      if (c.socket !== null && c.core !== null) c.siblings = groups.get(`${c.socket}/${c.core}`) ?? null
    return {cpus, source: 'procfs'}
  }
  const list = lscpu['On-line CPU(s) list'] ? parseCpuList(lscpu['On-line CPU(s) list']) : null
  return {
    cpus: (list ?? []).map((cpu) => ({cpu, socket: null, die: null, core: null, siblings: null})),
    source: 'lscpu',
  }
}

/** One CPU per physical core: the lowest-numbered hardware thread of each sibling group. */
export function onePerCore(cpus: readonly LogicalCpu[]): number[] {
  const seen = new Set<string>()
  const out: number[] = []
  for (const c of [...cpus].sort((a, b) => a.cpu - b.cpu)) {
    const key = c.siblings
      ? c.siblings.join(',')
      : c.socket !== null && c.core !== null
        ? `${c.socket}/${c.die ?? 0}/${c.core}`
        : `cpu${c.cpu}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(c.cpu)
  }
  return out
}

// ------------------------------------------------------------------ caches

/**
 * Total L2 and L3 bytes over all instances (all sockets), from sysfs cache/index*: each distinct
 * shared_cpu_list of a level counts once. Null when the platform exposes no cache directories.
 */
export function readCaches(
  sys: SysTree,
  cpus: readonly number[],
): {l2: number | null; l3: number | null; l2Instances: number; l3Instances: number} {
  const seen = {2: new Map<string, number>(), 3: new Map<string, number>()} as Record<2 | 3, Map<string, number>>
  for (const cpu of cpus) {
    const dir = `/sys/devices/system/cpu/cpu${cpu}/cache`
    for (const idx of sys.list(dir).filter((d) => /^index\d+$/.test(d))) {
      const level = sys.readInt(`${dir}/${idx}/level`)
      const type = sys.read(`${dir}/${idx}/type`)
      if ((level !== 2 && level !== 3) || type === 'Instruction') continue
      const size = sys.read(`${dir}/${idx}/size`)
      const shared = sys.read(`${dir}/${idx}/shared_cpu_list`) ?? `cpu${cpu}`
      const bytes = size !== null ? parseCacheSize(size) : null
      if (bytes !== null) seen[level].set(shared, bytes)
    }
  }
  const sum = (m: Map<string, number>) => (m.size === 0 ? null : [...m.values()].reduce((a, b) => a + b, 0))
  return {l2: sum(seen[2]), l3: sum(seen[3]), l2Instances: seen[2].size, l3Instances: seen[3].size}
}

// ------------------------------------------------------------------ the cpu section

/** The cpu section as the probe fills it: the schema's, every optional field present. */
export type CpuSection = Required<HardwareProfile['cpu']>

const VENDORS: Record<string, string> = {
  GenuineIntel: 'Intel',
  AuthenticAMD: 'AMD',
  HygonGenuine: 'Hygon',
  CentaurHauls: 'Centaur',
}

type ProvenanceMap = Record<string, Provenance>

/** A whole number in lscpu/cpuinfo text, else null. */
function int(s: string | undefined): number | null {
  return s !== undefined && /^\d+$/.test(s.trim()) ? Number(s.trim()) : null
}

/** The first source that knows `field` (cpuinfo before lscpu), its provenance recorded in `prov`. */
function picker(prov: ProvenanceMap) {
  return <T>(field: string, fromCpuinfo: T | null | undefined, fromLscpu: T | null | undefined): T | null => {
    if (fromCpuinfo !== null && fromCpuinfo !== undefined) {
      prov[field] = 'cpuid'
      return fromCpuinfo
    }
    if (fromLscpu !== null && fromLscpu !== undefined) {
      prov[field] = 'lscpu'
      return fromLscpu
    }
    prov[field] = 'unknown'
    return null
  }
}

interface CpuIdentity {
  vendor: string
  model: string
  family: number | null
  modelNumber: number | null
  stepping: number | null
  /** every flag the kernel lists */
  allFlags: Set<string>
}

/** Vendor, brand string, family/model/stepping and flags: the first cpuinfo block, else lscpu. */
function cpuIdentity(
  first: CpuinfoBlock,
  lscpu: Record<string, string>,
  prov: ProvenanceMap,
  notes: string[],
): CpuIdentity {
  const pick = picker(prov)
  const vendorId = pick('vendor', first.vendor_id, lscpu['Vendor ID'])
  const vendor = vendorId ? (VENDORS[vendorId] ?? vendorId) : 'unknown'
  const model = pick('model', first['model name'], lscpu['Model name']) ?? 'unknown'
  const family = pick('family', int(first['cpu family']), int(lscpu['CPU family']))
  const modelNumber = pick('modelNumber', int(first.model), int(lscpu.Model))
  const stepping = int(first.stepping) ?? int(lscpu.Stepping)
  const flagText = pick('flags', first.flags, lscpu.Flags) ?? ''
  const allFlags = new Set(flagText.split(/\s+/).filter(Boolean))
  if (allFlags.size === 0) notes.push('CPU flags: neither /proc/cpuinfo nor lscpu gave any; ISA support unknown')
  return {vendor, model, family, modelNumber, stepping, allFlags}
}

/** Hardware threads, sockets and physical cores: the topology, else lscpu's counts. */
function cpuCounts(
  topology: CpuTopology,
  lscpu: Record<string, string>,
  prov: ProvenanceMap,
  notes: string[],
): {threads: number; sockets: number; cores: number} {
  const cpus = topology.cpus
  const threads = cpus.length > 0 ? cpus.length : (int(lscpu['CPU(s)']) ?? 1)
  prov.threads = cpus.length > 0 ? topology.source : int(lscpu['CPU(s)']) !== null ? 'lscpu' : 'unknown'

  const socketIds = new Set(cpus.map((c) => c.socket).filter((s): s is number => s !== null))
  let sockets = socketIds.size
  prov.sockets = topology.source
  if (sockets === 0) {
    sockets = int(lscpu['Socket(s)']) ?? 1
    prov.sockets = int(lscpu['Socket(s)']) !== null ? 'lscpu' : 'unknown'
    if (prov.sockets === 'unknown') notes.push('socket count not exposed; assuming 1')
  }
  let cores = onePerCore(cpus).length
  prov.cores = topology.source
  const lsCoresPerSocket = int(lscpu['Core(s) per socket'])
  if (cores === 0 || cpus.every((c) => c.siblings === null)) {
    if (lsCoresPerSocket !== null) {
      cores = lsCoresPerSocket * sockets
      prov.cores = 'lscpu'
    } else if (cores === 0) {
      cores = threads
      prov.cores = 'unknown'
    }
  }
  return {threads, sockets, cores}
}

/** L2 and L3 totals: sysfs cache/index*, else lscpu; a note names what neither exposes. */
function cacheSizes(
  sys: SysTree,
  cpus: readonly LogicalCpu[],
  lscpu: Record<string, string>,
  prov: ProvenanceMap,
  notes: string[],
): {l2Bytes: number | null; l3Bytes: number | null} {
  const caches = readCaches(
    sys,
    cpus.map((c) => c.cpu),
  )
  const fromLscpu = {
    2: parseLscpuCache(lscpu['L2 cache'] ?? lscpu.L2),
    3: parseLscpuCache(lscpu['L3 cache'] ?? lscpu.L3),
  }
  const level = (n: 2 | 3, sysfs: number | null): number | null => {
    const key = `l${n}Bytes`
    prov[key] = sysfs !== null ? 'sysfs' : 'unknown'
    if (sysfs !== null || !fromLscpu[n]) return sysfs
    prov[key] = 'lscpu'
    return fromLscpu[n].bytes
  }
  const l2Bytes = level(2, caches.l2)
  const l3Bytes = level(3, caches.l3)
  if (l2Bytes === null || l3Bytes === null)
    notes.push(
      `CPU caches: ${[l2Bytes === null ? 'L2' : '', l3Bytes === null ? 'L3' : ''].filter(Boolean).join(' and ')} size not exposed (no /sys/devices/system/cpu/cpu*/cache, lscpu silent)`,
    )
  return {l2Bytes, l3Bytes}
}

/** Base clock: intel_pstate's base_frequency (kHz), else the "@ 2.20GHz" of the brand string. */
function baseClockMHz(sys: SysTree, cpus: readonly LogicalCpu[], model: string, prov: ProvenanceMap): number | null {
  const baseKHz =
    cpus.length > 0 ? sys.readInt(`/sys/devices/system/cpu/cpu${cpus[0].cpu}/cpufreq/base_frequency`) : null
  if (baseKHz !== null && baseKHz > 0) {
    prov.baseMHz = 'sysfs'
    return baseKHz / 1000
  }
  const m = /@\s*([0-9.]+)\s*GHz/i.exec(model)
  prov.baseMHz = m ? 'cpuid' : 'unknown'
  return m ? Math.round(Number(m[1]) * 1000) : null
}

/** The microarchitecture's name ("Sapphire Rapids (…)") and its sockets' channel cap; a note when unknown. */
function microarchitecture(
  id: CpuIdentity,
  prov: ProvenanceMap,
  notes: string[],
): {name: string | null; maxChannelsPerSocket: number | null} {
  const checked = microarchitectureChecked(id.vendor, id.family, id.modelNumber, id.stepping, id.model, id.allFlags)
  const ua = checked.uarch
  prov.microarchitecture = ua ? 'derived' : 'unknown'
  if (checked.note) notes.push(checked.note)
  else if (!ua)
    notes.push(
      `CPU microarchitecture: ${id.vendor} family ${id.family ?? '?'} model ${id.modelNumber ?? '?'} is not in moerig's table`,
    )
  const name = ua ? (ua.codename ? `${ua.name} (${ua.codename})` : ua.name) : null
  return {name, maxChannelsPerSocket: ua?.maxChannelsPerSocket ?? null}
}

/**
 * The cpu section, the topology (for NUMA and the bandwidth benchmark), and the channel cap of
 * this generation's server sockets when known (for the memory section).
 */
export function buildCpu(
  sys: SysTree,
  cpuinfoText: string | null,
  lscpuText: string | null,
  notes: string[],
): {cpu: CpuSection; topology: CpuTopology; maxChannelsPerSocket: number | null} {
  const cpuinfo = cpuinfoText ? parseCpuinfo(cpuinfoText) : []
  const lscpu = lscpuText ? parseLscpu(lscpuText) : {}
  const prov: ProvenanceMap = {}
  const id = cpuIdentity(cpuinfo[0] ?? {}, lscpu, prov, notes)
  const topology = readTopology(sys, cpuinfo, lscpu)
  const {threads, sockets, cores} = cpuCounts(topology, lscpu, prov, notes)
  const {l2Bytes, l3Bytes} = cacheSizes(sys, topology.cpus, lscpu, prov, notes)
  const baseMHz = baseClockMHz(sys, topology.cpus, id.model, prov)
  const ua = microarchitecture(id, prov, notes)
  return {
    cpu: {
      vendor: id.vendor,
      model: id.model,
      microarchitecture: ua.name,
      family: id.family,
      modelNumber: id.modelNumber,
      stepping: id.stepping,
      sockets,
      cores,
      threads,
      coresPerSocket: sockets > 0 && cores % sockets === 0 ? cores / sockets : null,
      threadsPerCore: cores > 0 && threads % cores === 0 ? threads / cores : null,
      l2Bytes,
      l3Bytes,
      baseMHz,
      flags: INFERENCE_FLAGS.filter((f) => id.allFlags.has(f)),
      provenance: prov,
    },
    topology,
    maxChannelsPerSocket: ua.maxChannelsPerSocket,
  }
}
