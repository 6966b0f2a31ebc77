/**
 * GPUs from PCI sysfs (Documentation/ABI/testing/sysfs-bus-pci): every device under
 * /sys/devices/pciDDDD:BB/ whose class is 0x03xxxx (display) or 0x12xxxx (processing accelerator).
 * Per device: vendor/device/subsystem ids, driver (uevent DRIVER=), numa_node, VRAM from the
 * driver's sysfs (amdgpu mem_info_vram_total; xe tileN/physical_vram_size_bytes; Intel's DKMS i915
 * drm/cardN/lmem_total_bytes — mainline i915 exposes none) or nvidia-smi, and the PCIe link.
 *
 * The link that limits host↔GPU copies is the one between the root port and the first device
 * below it: for most cards that is the GPU itself, but Arc A-series cards carry a PCIe switch
 * (upstream port 8086:4fa1 → downstream 4fa4 → GPU) and the GPU endpoint then reports the
 * switch-internal link (2.5 GT/s x1), so we read current/max_link_speed/width there.
 */
import type {Provenance} from '../schemas/common.js'
import type {Gpu} from '../schemas/hardware.js'
import {INTEGRATED_GPU_IDS, NON_GPU_VENDORS, VENDOR_IDS, gpuName, gpuSpec} from './gpu-ids.js'
import {SysTree, parseCpuList} from './sysfs.js'

/** One GPU as the probe fills it: the schema's, every optional field present (maxTensorBytes is the engine's, not the probe's). */
export type GpuEntry = Required<Omit<Gpu, 'maxTensorBytes' | 'pcie'>> & {pcie: PcieLink}
/** The PCIe link section of a GPU, every field present. */
export type PcieLink = Required<Gpu['pcie']>

// ------------------------------------------------------------------ PCIe arithmetic

/** Transfer rate (GT/s) → PCIe generation. */
const GEN_BY_RATE: Array<[number, number]> = [
  [2.5, 1],
  [5, 2],
  [8, 3],
  [16, 4],
  [32, 5],
  [64, 6],
]

/**
 * Usable GB/s per lane per direction, after line encoding: 8b/10b for Gen1–2, 128b/130b for
 * Gen3–5, 242B/256B FLIT for Gen6 (PCI-SIG base specifications).
 */
export const PCIE_LANE_GBS: Record<number, number> = {
  1: 0.25,
  2: 0.5,
  3: (8 * (128 / 130)) / 8,
  4: (16 * (128 / 130)) / 8,
  5: (32 * (128 / 130)) / 8,
  6: (64 * (242 / 256)) / 8,
}

/** "16.0 GT/s PCIe" / "8 GT/s" / "2.5 GT/s" → generation; null for "Unknown" or garbage. */
export function parseLinkSpeed(text: string | null): number | null {
  if (!text) return null
  const m = /([0-9.]+)\s*GT\/s/i.exec(text)
  if (!m) return null
  const rate = Number(m[1])
  return GEN_BY_RATE.find(([r]) => Math.abs(r - rate) < 0.01)?.[1] ?? null
}

/** One-direction GB/s of a link; null when generation or width is unknown. */
export function pcieBandwidthGBs(gen: number | null, width: number | null): number | null {
  if (gen === null || width === null || !(gen in PCIE_LANE_GBS)) return null
  return Math.round(PCIE_LANE_GBS[gen] * width * 10) / 10
}

// ------------------------------------------------------------------ nvidia-smi

export interface NvidiaSmiGpu {
  index: number | null
  busId: string | null
  name: string | null
  deviceId: string | null
  memoryTotalBytes: number | null
  memoryFreeBytes: number | null
  genCurrent: number | null
  genMax: number | null
  widthCurrent: number | null
  widthMax: number | null
  driverVersion: string | null
}

/** The query probe runs; its CSV (with header) is what parseNvidiaSmiCsv reads. */
export const NVIDIA_SMI_ARGS = [
  '--query-gpu=index,pci.bus_id,pci.device_id,name,memory.total,memory.free,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max,driver_version',
  '--format=csv,nounits',
]

/** "00000000:01:00.0" → "0000:01:00.0" (sysfs form, lower case). */
export function normalizeBusId(id: string): string {
  const m = /^(?:([0-9a-f]+):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(id.trim())
  if (!m) return id.trim().toLowerCase()
  const domain = (m[1] ?? '0').slice(-4).padStart(4, '0')
  return `${domain}:${m[2]}:${m[3]}.${m[4]}`.toLowerCase()
}

/**
 * Parse `nvidia-smi --query-gpu=… --format=csv[,nounits]`: a header line naming the fields
 * ("memory.total [MiB]"), then one line per GPU. "[N/A]" and "[Not Supported]" become null.
 */
export function parseNvidiaSmiCsv(text: string): NvidiaSmiGpu[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
  if (lines.length < 2) return []
  const header = lines[0].split(',').map((h) => h.trim().replace(/\s*\[.*\]$/, ''))
  const col = (name: string) => header.indexOf(name)
  const out: NvidiaSmiGpu[] = []
  for (const line of lines.slice(1)) {
    const cells = line.split(',').map((c) => c.trim())
    const get = (name: string): string | null => {
      const i = col(name)
      if (i < 0 || i >= cells.length) return null
      const v = cells[i]
      return v === '' || /^\[.*\]$/.test(v) || v === 'N/A' ? null : v
    }
    const num = (name: string): number | null => {
      const v = get(name)
      if (v === null) return null
      const n = Number.parseFloat(v)
      return Number.isFinite(n) ? n : null
    }
    const mib = (name: string): number | null => {
      const n = num(name)
      return n === null ? null : Math.round(n * 1024 * 1024)
    }
    const dev = get('pci.device_id')
    out.push({
      index: num('index'),
      busId: get('pci.bus_id') !== null ? normalizeBusId(get('pci.bus_id')!) : null,
      name: get('name'),
      // pci.device_id is "0x268410DE": device id in the high 16 bits, vendor in the low.
      deviceId: dev && /^0x[0-9a-f]{8}$/i.test(dev) ? `0x${dev.slice(2, 6).toLowerCase()}` : null,
      memoryTotalBytes: mib('memory.total'),
      memoryFreeBytes: mib('memory.free'),
      genCurrent: num('pcie.link.gen.current'),
      genMax: num('pcie.link.gen.max'),
      widthCurrent: num('pcie.link.width.current'),
      widthMax: num('pcie.link.width.max'),
      driverVersion: get('driver_version'),
    })
  }
  return out
}

// ------------------------------------------------------------------ sysfs scan

const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/

/** Every PCI function under /sys/devices/pci*, with its chain of ancestors (root port first). */
export function walkPci(sys: SysTree): Array<{address: string; path: string; chain: string[]}> {
  const out: Array<{address: string; path: string; chain: string[]}> = []
  const visit = (dir: string, chain: string[], depth: number) => {
    if (depth > 12) return
    for (const name of sys.list(dir)) {
      if (!BDF.test(name)) continue
      const path = `${dir}/${name}`
      const c = [...chain, name]
      out.push({address: name, path, chain: c})
      visit(path, c, depth + 1)
    }
  }
  for (const root of sys.list('/sys/devices').filter((d) => /^pci[0-9a-f]{4}:[0-9a-f]{2}$/.test(d)))
    visit(`/sys/devices/${root}`, [], 0)
  return out
}

function hexId(text: string | null): string | null {
  if (text === null) return null
  const m = /^0x([0-9a-f]{1,4})$/i.exec(text.trim())
  return m ? `0x${m[1].toLowerCase().padStart(4, '0')}` : null
}

function driverOf(sys: SysTree, path: string): string | null {
  const ue = sys.read(`${path}/uevent`)
  const m = ue ? /^DRIVER=(.+)$/m.exec(ue) : null
  if (m) return m[1].trim()
  const link = sys.readlink(`${path}/driver`)
  return link ? (link.split('/').pop() ?? null) : null
}

/** VRAM from the driver's sysfs files; null (never 0) when the driver exposes none. */
function vramFromSysfs(sys: SysTree, path: string): {total: number | null; free: number | null} {
  const amd = sys.readInt(`${path}/mem_info_vram_total`)
  if (amd !== null && amd > 0) {
    const used = sys.readInt(`${path}/mem_info_vram_used`)
    return {total: amd, free: used !== null ? amd - used : null}
  }
  const tiles = sys.list(path).filter((d) => /^tile\d+$/.test(d))
  const tileSizes = tiles
    .map((t) => sys.readInt(`${path}/${t}/physical_vram_size_bytes`))
    .filter((n): n is number => n !== null && n > 0)
  if (tileSizes.length > 0) return {total: tileSizes.reduce((a, b) => a + b, 0), free: null}
  for (const card of sys.list(`${path}/drm`).filter((d) => /^card\d+$/.test(d))) {
    const lmem = sys.readInt(`${path}/drm/${card}/lmem_total_bytes`)
    if (lmem !== null && lmem > 0) {
      const avail = sys.readInt(`${path}/drm/${card}/lmem_avail_bytes`)
      return {total: lmem, free: avail}
    }
  }
  const lmem = sys.readInt(`${path}/lmem_total_bytes`)
  if (lmem !== null && lmem > 0) return {total: lmem, free: null}
  return {total: null, free: null}
}

type ProvenanceMap = Record<string, Provenance>
type PciDevice = ReturnType<typeof walkPci>[number]

/** Class, vendor and device id of a display or accelerator function; null (with a note when worth one) otherwise. */
function gpuIds(
  sys: SysTree,
  dev: PciDevice,
  notes: string[],
): {cls: string; vendorId: string; deviceId: string} | null {
  const cls = sys.read(`${dev.path}/class`)
  if (cls === null || !/^0x(03|12)/i.test(cls)) return null
  const vendorId = hexId(sys.read(`${dev.path}/vendor`))
  const deviceId = hexId(sys.read(`${dev.path}/device`))
  if (vendorId === null || deviceId === null) {
    notes.push(`PCI ${dev.address}: display-class device with unreadable vendor/device id; skipped`)
    return null
  }
  if (NON_GPU_VENDORS[vendorId]) {
    notes.push(
      `PCI ${dev.address}: ${NON_GPU_VENDORS[vendorId]} (${vendorId}:${deviceId}) is not a compute GPU; skipped`,
    )
    return null
  }
  return {cls, vendorId, deviceId}
}

/** Why VRAM is unknown, for the note. */
function vramUnknownWhy(vendor: string, driver: string | null): string {
  if (vendor === 'intel' && driver === 'i915')
    return "mainline i915 exposes no local-memory size (Intel's DKMS i915 adds drm/cardN/lmem_total_bytes; the xe driver has tileN/physical_vram_size_bytes)"
  if (vendor === 'nvidia') return 'nvidia-smi not found'
  return `driver ${driver ?? 'none'} exposes no VRAM size`
}

/** The link fields nvidia-smi reports. */
function smiLink(g: NvidiaSmiGpu): Omit<PcieLink, 'currentSpeed' | 'maxSpeed' | 'linkAt'> {
  return {
    gen: g.genCurrent,
    width: g.widthCurrent,
    bandwidthGBs: pcieBandwidthGBs(g.genCurrent, g.widthCurrent),
    maxGen: g.genMax,
    maxWidth: g.widthMax,
    maxBandwidthGBs: pcieBandwidthGBs(g.genMax, g.widthMax),
  }
}

const NO_LINK: PcieLink = {
  gen: null,
  width: null,
  bandwidthGBs: null,
  maxGen: null,
  maxWidth: null,
  maxBandwidthGBs: null,
  currentSpeed: null,
  maxSpeed: null,
  linkAt: null,
}

/** The link of the first device below the root port (see the file comment), read in sysfs. */
function sysfsLink(sys: SysTree, dev: PciDevice): PcieLink {
  // dev.path is /sys/devices/pciDDDD:BB/<root port>/<first device>/…; a device on the root
  // bus itself (chain of one, e.g. a passed-through GPU in a VM) reports its own link.
  const linkPath = dev.path
    .split('/')
    .slice(0, 4 + Math.min(dev.chain.length, 2))
    .join('/')
  const lanes = (p: string) => {
    const n = sys.readInt(p)
    return n !== null && n > 0 ? n : null
  }
  const currentSpeed = sys.read(`${linkPath}/current_link_speed`)
  const maxSpeed = sys.read(`${linkPath}/max_link_speed`)
  const gen = parseLinkSpeed(currentSpeed)
  const width = lanes(`${linkPath}/current_link_width`)
  const maxGen = parseLinkSpeed(maxSpeed)
  const maxWidth = lanes(`${linkPath}/max_link_width`)
  return {
    gen,
    width,
    bandwidthGBs: pcieBandwidthGBs(gen, width),
    maxGen,
    maxWidth,
    maxBandwidthGBs: pcieBandwidthGBs(maxGen, maxWidth),
    currentSpeed,
    maxSpeed,
    linkAt: dev.chain.length >= 2 ? dev.chain[1] : dev.chain[0],
  }
}

/** A discrete GPU's PCIe link: sysfs, else nvidia-smi; notes when unknown or running below its maximum. */
function gpuLink(
  sys: SysTree,
  dev: PciDevice,
  smi: NvidiaSmiGpu | null,
  name: string,
  prov: ProvenanceMap,
  notes: string[],
): PcieLink {
  const pcie = sysfsLink(sys, dev)
  prov.pcie = pcie.gen !== null ? 'sysfs' : 'unknown'
  if (pcie.gen === null && smi?.genCurrent != null) {
    Object.assign(pcie, smiLink(smi))
    prov.pcie = 'tool'
  }
  if (pcie.gen === null) notes.push(`GPU ${dev.address}: PCIe link speed not exposed`)
  else if (pcie.maxGen !== null && (pcie.gen < pcie.maxGen || (pcie.width ?? 0) < (pcie.maxWidth ?? 0))) {
    notes.push(
      `GPU ${dev.address} (${name}): PCIe link runs Gen${pcie.gen} x${pcie.width} below its Gen${pcie.maxGen} x${pcie.maxWidth} maximum (GPUs downshift when idle; check again under load)`,
    )
  }
  return pcie
}

/** NUMA locality: numa_node (-1 = firmware did not say); on a one-node machine it is node 0. */
function gpuNumaNode(sys: SysTree, path: string, numaNodeCount: number, prov: ProvenanceMap): number | null {
  const nn = sys.readInt(`${path}/numa_node`)
  const numaNode = nn !== null && nn >= 0 ? nn : null
  prov.numaNode = numaNode !== null ? 'sysfs' : 'unknown'
  if (numaNode !== null || numaNodeCount !== 1) return numaNode
  prov.numaNode = 'derived'
  return 0
}

/** Name and VRAM: driver sysfs, then nvidia-smi, then the spec table where the id pins it down. */
function nameAndVram(
  sys: SysTree,
  dev: PciDevice,
  ids: {vendorId: string; deviceId: string; vendor: string; driver: string | null; integrated: boolean},
  smi: NvidiaSmiGpu | null,
  prov: ProvenanceMap,
  notes: string[],
): {name: string; vramBytes: number | null; vramFreeBytes: number | null; memoryBandwidthGBs: number | null} {
  let {total: vramBytes, free: vramFreeBytes} = vramFromSysfs(sys, dev.path)
  prov.vramBytes = vramBytes !== null ? 'sysfs' : 'unknown'
  if (vramBytes === null && smi?.memoryTotalBytes != null) {
    vramBytes = smi.memoryTotalBytes
    vramFreeBytes = smi.memoryFreeBytes
    prov.vramBytes = 'tool'
  }
  // Name: nvidia-smi's, else our tables (disambiguated by VRAM).
  const name = smi?.name ? smi.name : gpuName(ids.vendorId, ids.deviceId, vramBytes)
  prov.name = smi?.name ? 'tool' : 'spec'
  const spec = gpuSpec(name)
  // VRAM from the spec table only where the id pins it down (not the 8/16 GB A770).
  if (vramBytes === null && !ids.integrated && spec) {
    vramBytes = spec.vramBytes
    prov.vramBytes = 'spec'
  } else if (vramBytes === null && !ids.integrated) {
    notes.push(
      `GPU ${dev.address} (${name}): VRAM unknown: ${vramUnknownWhy(ids.vendor, ids.driver)}${ids.deviceId === '0x56a0' ? '; the A770 ships with 8 GB or 16 GB under the same PCI id' : ''}`,
    )
  }
  const memoryBandwidthGBs = spec?.memoryBandwidthGBs ?? null
  prov.memoryBandwidthGBs = memoryBandwidthGBs !== null ? 'spec' : 'unknown'
  return {name, vramBytes, vramFreeBytes, memoryBandwidthGBs}
}

/** One GPU found in PCI sysfs (index = its place in the list); null when the function is no GPU. */
function sysfsGpu(
  sys: SysTree,
  dev: PciDevice,
  index: number,
  nvidiaSmi: NvidiaSmiGpu[] | null,
  numaNodeCount: number,
  notes: string[],
): GpuEntry | null {
  const ids = gpuIds(sys, dev, notes)
  if (!ids) return null
  const {cls, vendorId, deviceId} = ids
  const prov: ProvenanceMap = {vendorId: 'sysfs', deviceId: 'sysfs', pciAddress: 'sysfs'}
  const driver = driverOf(sys, dev.path)
  const sv = hexId(sys.read(`${dev.path}/subsystem_vendor`))
  const sd = hexId(sys.read(`${dev.path}/subsystem_device`))
  const vendor = VENDOR_IDS[vendorId] ?? 'other'
  // Intel's integrated graphics always sits at 0000:00:02.0 (i915 documentation, "Intel GFX").
  // AMD APUs' graphics are known by id (gpu-ids.ts).
  const integrated =
    (vendor === 'intel' && dev.address === '0000:00:02.0') || INTEGRATED_GPU_IDS.has(`${vendorId}:${deviceId}`)
  const smi = nvidiaSmi?.find((g) => g.busId === dev.address) ?? null
  const nv = nameAndVram(sys, dev, {vendorId, deviceId, vendor, driver, integrated}, smi, prov, notes)
  const pcie = integrated ? {...NO_LINK} : gpuLink(sys, dev, smi, nv.name, prov, notes)
  const numaNode = gpuNumaNode(sys, dev.path, numaNodeCount, prov)
  const lc = sys.read(`${dev.path}/local_cpulist`)
  return {
    index,
    name: nv.name,
    vendor,
    vendorId,
    deviceId,
    subsystemId: sv && sd ? `${sv}:${sd}` : null,
    pciAddress: dev.address,
    pciClass: cls.toLowerCase(),
    driver,
    integrated,
    vramBytes: nv.vramBytes,
    vramFreeBytes: nv.vramFreeBytes,
    memoryBandwidthGBs: nv.memoryBandwidthGBs,
    pcie,
    numaNode,
    localCpus: lc !== null ? parseCpuList(lc) : null,
    provenance: prov,
  }
}

/** An NVIDIA GPU that only nvidia-smi shows (containers without /sys/devices/pci*). */
function smiOnlyGpu(g: NvidiaSmiGpu & {deviceId: string}, index: number, numaNodeCount: number): GpuEntry {
  const spec = g.name ? gpuSpec(g.name) : null
  return {
    index,
    name: g.name ?? gpuName('0x10de', g.deviceId, g.memoryTotalBytes),
    vendor: 'nvidia',
    vendorId: '0x10de',
    deviceId: g.deviceId,
    subsystemId: null,
    pciAddress: g.busId,
    pciClass: null,
    driver: 'nvidia',
    integrated: false,
    vramBytes: g.memoryTotalBytes,
    vramFreeBytes: g.memoryFreeBytes,
    memoryBandwidthGBs: spec?.memoryBandwidthGBs ?? null,
    pcie: {...smiLink(g), currentSpeed: null, maxSpeed: null, linkAt: g.busId},
    numaNode: numaNodeCount === 1 ? 0 : null,
    localCpus: null,
    provenance: {
      name: 'tool',
      vramBytes: 'tool',
      pcie: 'tool',
      numaNode: numaNodeCount === 1 ? 'derived' : 'unknown',
      memoryBandwidthGBs: spec ? 'spec' : 'unknown',
    },
  }
}

/** GPUs in PCI sysfs order, then those only nvidia-smi lists. */
export function scanGpus(
  sys: SysTree,
  nvidiaSmi: NvidiaSmiGpu[] | null,
  numaNodeCount: number,
  notes: string[],
): GpuEntry[] {
  const gpus: GpuEntry[] = []
  for (const dev of walkPci(sys)) {
    const g = sysfsGpu(sys, dev, gpus.length, nvidiaSmi, numaNodeCount, notes)
    if (g) gpus.push(g)
  }
  for (const g of nvidiaSmi ?? []) {
    if (g.busId && gpus.some((x) => x.pciAddress === g.busId)) continue
    if (g.deviceId === null) continue
    gpus.push(smiOnlyGpu({...g, deviceId: g.deviceId}, gpus.length, numaNodeCount))
  }
  return gpus
}
