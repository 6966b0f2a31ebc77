/**
 * System memory: /proc/meminfo (totals, explicit huge pages), /sys/kernel/mm/transparent_hugepage
 * (THP mode), and DIMMs from SMBIOS type 17 as systeminformation's memLayout() returns them
 * (it runs `dmidecode -t memory`, which needs root and real firmware tables).
 * Peak bandwidth = populated channels × MT/s × 8 bytes (a DDR4/DDR5 channel is 64 data bits).
 */
import type {Provenance} from '../schemas/common.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import {MoerigError} from '../lib/errors.js'
import {SysTree} from './sysfs.js'

/** What systeminformation.memLayout() returns per slot (the fields we use). */
export interface SiMemLayout {
  size: number
  bank: string
  type: string
  clockSpeed: number | null
  formFactor?: string
  manufacturer?: string
  partNum?: string
}

type MemorySchema = HardwareProfile['memory']
type DimmSchema = MemorySchema['dimms'][number]

/** One DIMM as the probe fills it: the schema's, every optional field present but the locator. */
export type Dimm = Required<Omit<DimmSchema, 'locator'>> & Pick<DimmSchema, 'locator'>

/** The memory section as the probe fills it. */
export type MemorySection = Required<Omit<MemorySchema, 'dimms' | 'hugePages'>> & {
  dimms: Dimm[]
  hugePages: Required<NonNullable<MemorySchema['hugePages']>>
}

/** /proc/meminfo → field → value; "kB" values become bytes, bare counts stay counts. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^(\S+):\s+(\d+)(\s*kB)?\s*$/.exec(line.trim())
    if (m) out[m[1]] = Number(m[2]) * (m[3] ? 1024 : 1)
  }
  return out
}

/** "always [madvise] never" → "madvise". */
export function bracketed(text: string | null): string | null {
  if (text === null) return null
  const m = /\[([^\]]+)\]/.exec(text)
  return m ? m[1] : null
}

/**
 * systeminformation's memLayout on a VM or without root is a single placeholder row (the total
 * memory, empty type, clockSpeed 0): that is "DIMMs unknown", not one DIMM.
 */
export function isPlaceholderLayout(layout: readonly SiMemLayout[]): boolean {
  const real = layout.filter((d) => d.size > 0)
  return (
    real.length === 0 ||
    real.every((d) => (d.type ?? '') === '' && !d.clockSpeed && (d.bank ?? '') === '' && !d.partNum)
  )
}

/**
 * Socket and channel from an SMBIOS bank locator. Formats seen on server boards:
 *   "P0 CHANNEL A" (AMD EPYC reference BIOS), "P1_Node1_Channel3_Dimm0" (Supermicro X12/X13),
 *   "CPU1_DIMM_A1" / "CPU2 Channel B" (1-based CPU numbers).
 * Desktop boards ("BANK 0", "Not Specified") give neither.
 */
export function parseBankLocator(bank: string): {socket: number | null; channel: string | null} {
  const b = bank.trim()
  let m = /^P(\d+)[ _]CHANNEL[ _]([A-Z0-9]+)$/i.exec(b)
  if (m) return {socket: Number(m[1]), channel: m[2].toUpperCase()}
  m = /^P(\d+)_Node\d+_Channel(\d+)_Dimm\d+$/i.exec(b)
  if (m) return {socket: Number(m[1]), channel: m[2]}
  m = /^CPU(\d+)[ _-]+(?:DIMM[ _-]*|Channel[ _-]*)([A-Z])\d*$/i.exec(b)
  if (m) return {socket: Number(m[1]) - 1, channel: m[2].toUpperCase()}
  return {socket: null, channel: null}
}

export function dimmsFromLayout(layout: readonly SiMemLayout[]): Dimm[] {
  if (isPlaceholderLayout(layout)) return []
  return layout
    .filter((d) => d.size > 0 && d.type !== 'Empty')
    .map((d) => ({
      bank: d.bank ?? '',
      socket: parseBankLocator(d.bank ?? '').socket,
      sizeBytes: d.size,
      type: d.type && d.type !== 'Unknown' ? d.type : null,
      speedMTs: d.clockSpeed && d.clockSpeed > 0 ? d.clockSpeed : null,
      configuredSpeedMTs: null,
      manufacturer: d.manufacturer && d.manufacturer !== 'Unknown' ? d.manufacturer : null,
      partNumber: d.partNum && d.partNum !== 'Unknown' ? d.partNum.trim() : null,
    }))
}

/**
 * Populated channels from DIMMs. With bank locators naming socket and channel, count distinct
 * (socket, channel) pairs; otherwise assume one DIMM per channel on each socket, capped at the
 * generation's channel count (a 2-DIMM-per-channel board then still counts right).
 */
export function countChannels(
  dimms: readonly Dimm[],
  sockets: number,
  maxPerSocket: number | null,
): {channels: number | null; perSocket: number | null; source: Provenance; assumed: boolean} {
  if (dimms.length === 0) return {channels: null, perSocket: null, source: 'unknown', assumed: false}
  const parsed = dimms.map((d) => parseBankLocator(d.bank))
  if (parsed.every((p) => p.socket !== null && p.channel !== null)) {
    const pairs = new Set(parsed.map((p) => `${p.socket}/${p.channel}`))
    const perSock = new Map<number, number>()
    for (const k of pairs) {
      const s = Number(k.split('/')[0])
      perSock.set(s, (perSock.get(s) ?? 0) + 1)
    }
    const counts = [...perSock.values()]
    return {
      channels: pairs.size,
      perSocket: counts.every((c) => c === counts[0]) ? counts[0] : null,
      source: 'dmi',
      assumed: false,
    }
  }
  const bySocket = new Map<number, number>()
  const known = dimms.every((d) => d.socket !== null)
  if (known) for (const d of dimms) bySocket.set(d.socket!, (bySocket.get(d.socket!) ?? 0) + 1)
  else
    for (let s = 0; s < sockets; s++)
      bySocket.set(s, Math.floor(dimms.length / sockets) + (s < dimms.length % sockets ? 1 : 0))
  const cap = maxPerSocket ?? Number.POSITIVE_INFINITY
  const counts = [...bySocket.values()].map((n) => Math.min(n, cap))
  const channels = counts.reduce((a, b) => a + b, 0)
  return {
    channels,
    perSocket: counts.every((c) => c === counts[0]) ? counts[0] : null,
    source: 'derived',
    assumed: true,
  }
}

/** channels × MT/s × 8 bytes, in GB/s (1e9). */
export function peakBandwidthGBs(channels: number | null, speedMTs: number | null): number | null {
  if (channels === null || speedMTs === null) return null
  return Math.round(channels * speedMTs * 8) / 1000
}

type ProvenanceMap = Record<string, Provenance>

/** A note when the DIMMs were not read or the platform hides them. */
function dimmNote(layout: readonly SiMemLayout[] | null, dimms: Dimm[]): string[] {
  if (layout === null) return ['DIMMs: DMI memory tables were not read']
  if (dimms.length > 0) return []
  return [
    'DIMMs: hidden by the platform (no SMBIOS memory devices: a VM, or dmidecode needs root); channels and peak bandwidth unknown',
  ]
}

/** MemTotal, else the DIMMs' sum (with a note); neither is one clear error. */
function totalMemory(
  sys: SysTree,
  meminfoText: string | null,
  memTotal: number | null,
  installedBytes: number | null,
  prov: ProvenanceMap,
  notes: string[],
): number {
  if (memTotal !== null) return memTotal
  // Without /proc/meminfo nothing else says how much RAM the kernel has; refuse rather than guess.
  if (installedBytes === null)
    throw new MoerigError(
      'E_PROBE',
      `memory size unknown: ${sys.path('/proc/meminfo')} is ${meminfoText === null ? 'missing or unreadable' : 'without a MemTotal line'} and no DIMMs are visible`,
    )
  prov.totalBytes = 'dmi'
  notes.push('memory: /proc/meminfo unreadable; total is the sum of the DIMMs')
  return installedBytes
}

/** The speed every channel runs at (the slowest DIMM's) and the DIMM type(s). */
function dimmSpeedAndType(dimms: Dimm[], prov: ProvenanceMap): {speedMTs: number | null; type: string | null} {
  const speeds = dimms.map((d) => d.speedMTs).filter((s): s is number => s !== null)
  // The memory controller runs every channel at the slowest DIMM's speed.
  const speedMTs = speeds.length > 0 ? Math.min(...speeds) : null
  prov.speedMTs = speedMTs !== null ? 'dmi' : 'unknown'
  const types = [...new Set(dimms.map((d) => d.type).filter((t): t is string => t !== null))]
  const type = types.length === 1 ? types[0] : types.length > 1 ? types.join('/') : null
  prov.type = type !== null ? 'dmi' : 'unknown'
  return {speedMTs, type}
}

/** Transparent huge pages (sysfs) and explicit huge pages (meminfo). */
function hugePagesOf(sys: SysTree, m: Record<string, number>, prov: ProvenanceMap): MemorySection['hugePages'] {
  const thp = '/sys/kernel/mm/transparent_hugepage'
  const hugePages = {
    transparent: bracketed(sys.read(`${thp}/enabled`)),
    defrag: bracketed(sys.read(`${thp}/defrag`)),
    pageSizeBytes: m.Hugepagesize ?? null,
    total: m.HugePages_Total ?? null,
    free: m.HugePages_Free ?? null,
  }
  prov.hugePages = hugePages.transparent !== null ? 'sysfs' : 'unknown'
  return hugePages
}

export function buildMemory(
  sys: SysTree,
  layout: readonly SiMemLayout[] | null,
  sockets: number,
  maxChannelsPerSocket: number | null,
  notes: string[],
): MemorySection {
  const prov: ProvenanceMap = {}
  const mi = sys.read('/proc/meminfo')
  const m = mi !== null ? parseMeminfo(mi) : {}
  const memTotal = m.MemTotal ?? null
  prov.totalBytes = memTotal !== null ? 'procfs' : 'unknown'
  const availableBytes = m.MemAvailable ?? null
  prov.availableBytes = availableBytes !== null ? 'procfs' : 'unknown'

  const dimms = layout ? dimmsFromLayout(layout) : []
  notes.push(...dimmNote(layout, dimms))
  prov.dimms = dimms.length > 0 ? 'dmi' : 'unknown'
  const installedBytes = dimms.length > 0 ? dimms.reduce((a, d) => a + d.sizeBytes, 0) : null
  prov.installedBytes = installedBytes !== null ? 'dmi' : 'unknown'
  const totalBytes = totalMemory(sys, mi, memTotal, installedBytes, prov, notes)

  const ch = countChannels(dimms, sockets, maxChannelsPerSocket)
  prov.channels = ch.source
  if (ch.assumed)
    notes.push(
      `memory channels: bank locators do not name channels; assuming one DIMM per channel${maxChannelsPerSocket ? ` (at most ${maxChannelsPerSocket} per socket)` : ''}`,
    )
  const {speedMTs, type} = dimmSpeedAndType(dimms, prov)
  const theoreticalBandwidthGBs = peakBandwidthGBs(ch.channels, speedMTs)
  prov.theoreticalBandwidthGBs = theoreticalBandwidthGBs !== null ? 'derived' : 'unknown'
  return {
    totalBytes,
    availableBytes,
    installedBytes,
    dimms,
    channels: ch.channels,
    channelsPerSocket: ch.perSocket,
    type,
    speedMTs,
    theoreticalBandwidthGBs,
    hugePages: hugePagesOf(sys, m, prov),
    provenance: prov,
  }
}
