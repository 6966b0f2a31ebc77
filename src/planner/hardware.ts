/**
 * Hardware facts the planner uses, read from a hardware profile (src/schemas/hardware.ts) with
 * every fallback named: capacities, bandwidths (measured beats specified beats assumed), compute
 * peaks, NUMA nodes. Profiles are read defensively: any field may be null.
 */
import type {HardwareProfile} from '../schemas/hardware.js'
import {GPU_FLOP_PER_BYTE, matchGpu} from './gpus.js'
import {ramReserve} from './memory.js'

/** When a profile has no memory bandwidth at all: dual-channel DDR4-3200 (2 × 25.6 GB/s). An assumption. */
export const DEFAULT_CPU_BANDWIDTH_GBS = 51.2
/**
 * The same profile's high end: what its class of CPU can have a socket. Server class (more than one
 * socket, AMX, or more than 16 cores a socket): 12 channels of DDR5-4800 (EPYC 9004, Xeon 6 with
 * 12 channels: 12 × 38.4 GB/s); else a desktop's 2 channels of DDR5-6400 (102.4 GB/s). Without DIMM
 * tables (a guest, a probe without root) the channel count is unknown, and a 16-core AMX guest beside
 * an H200 read ≈ 60 GB/s where 51.2 × η was assumed (docs/device/h200-2026-12-04/): the range must
 * reach the platform's ceiling to be honest; `probe --measure` narrows it.
 */
export const UNKNOWN_MEMORY_HIGH_GBS = {server: 460.8, desktop: 102.4}
/** When a GPU's bandwidth is unknown. An assumption; the probe's GPU table covers the common cards. */
export const DEFAULT_GPU_BANDWIDTH_GBS = 256
/** PCIe 4.0 x16 measured peak ≈ 25 GB/s (BaM maintainers, ZaidQureshi/bam #54), when the profile lacks the link. */
export const DEFAULT_PCIE_GBS = 25
/** When the CPU base clock is unknown. An assumption. */
export const DEFAULT_CPU_GHZ = 2.0

/**
 * Peak CPU FLOPs per cycle per core for the kernels each engine uses (llama.cpp: int8 dot products
 * on the quantized weights; ktransformers: AMX tiles). Sources: Intel's optimization manual —
 * AMX TMUL 1024 BF16 / 2048 INT8 ops per cycle per core; AVX-512 VNNI vpdpbusd on 2 ports:
 * 2 × 64 INT8 MACs = 256 ops; AVX-512 FMA on 2 ports: 2 × 16 × 2 = 64 FP32 FLOPs; AVX2: 32.
 */
export const CPU_OPS_PER_CYCLE = {
  amx_int8: 2048,
  amx_bf16: 1024,
  avx512_vnni: 256,
  avx512f: 64,
  avx2: 32,
  base: 16,
} as const

/** GPU spec table and name/PCI matching live in gpus.ts (re-exported for the bench). */
export {GPU_FLOP_PER_BYTE, GPU_SPECS, matchGpu} from './gpus.js'

export interface PlanGpu {
  /** global index over all machines, and the id used in placement ("GPU0") */
  index: number
  id: string
  name: string
  host: string
  /** index of the machine in the --hardware list (0 = main) */
  hostIndex: number
  localIndex: number
  capacityBytes: number
  vramKnown: boolean
  bandwidthGBs: number
  bandwidthSource: string
  pcieGBs: number
  fp16Tflops: number
  fp16Source: string
  /** vendor from the profile (nvidia / intel / amd / other) */
  vendor: string
  /** how the spec table found it, or the "unknown GPU, assumed …" note */
  specNote: string
  numaNode: number | null
  /** largest tensor one op may touch on this GPU (profile maxTensorBytes); null = no limit */
  maxTensorBytes: number | null
  /** an RPC device: a remote machine's RAM served by `rpc-server` (CPU backend), at host:port */
  rpc: {endpoint: string; hostId: string; cpuOps: number} | null
}

/** rpc-server's default port (tools/rpc/README.md). */
export const RPC_PORT = 50052

/**
 * Remote machines as llama.cpp RPC devices: each runs one rpc-server on its CPU backend, so its
 * RAM holds whole layers (attention, experts and KV) and its cores compute them. Remote GPUs are
 * not used in this model (one rpc-server per device would be needed). llama.cpp puts RPC devices
 * at the front of its device list (src/llama.cpp: "add RPC servers at the front").
 */
export function rpcDevices(hosts: PlanHost[]): PlanGpu[] {
  return hosts.slice(1).map((h, i) => ({
    index: i,
    id: `RPC${i}:CPU`,
    name: `${h.name} RAM via rpc-server`,
    host: h.id,
    hostIndex: h.index,
    localIndex: 0,
    capacityBytes: h.ramCapacityBytes,
    vramKnown: true,
    bandwidthGBs: h.cpuBandwidthGBs,
    bandwidthSource: h.cpuBandwidthSource,
    pcieGBs: DEFAULT_PCIE_GBS,
    fp16Tflops: 0,
    fp16Source: 'CPU',
    vendor: 'cpu',
    specNote: 'RPC CPU',
    numaNode: null,
    maxTensorBytes: null,
    rpc: {endpoint: `${h.hostname ?? h.id}:${RPC_PORT}`, hostId: h.id, cpuOps: h.cpuOpsLlama},
  }))
}

export interface PlanHost {
  index: number
  id: string
  name: string
  /** RAM usable by the model */
  ramCapacityBytes: number
  ramTotalBytes: number
  numaNodes: Array<{id: number; capacityBytes: number}>
  sockets: number
  cores: number
  threads: number
  cpuBandwidthGBs: number
  cpuBandwidthSource: string
  /** bandwidth is a STREAM measurement (probe --measure) rather than a specification */
  cpuBandwidthMeasured: boolean
  /** no bandwidth in the profile at all: DEFAULT_CPU_BANDWIDTH_GBS, and this high end (GB/s, all sockets) */
  cpuBandwidthUnknownHighGBs: number | null
  /** peak CPU ops/s for llama.cpp's int8 kernels and for AMX (ktransformers) */
  cpuOpsLlama: number
  cpuOpsAmx: number | null
  cpuOpsSource: string
  /** clock used for the compute terms (GHz) and whether the profile gave it */
  ghz: number
  ghzKnown: boolean
  /** widest integer-dot ISA: amx > avx512_vnni > avx512f > avx2 > base */
  isa: 'amx' | 'avx512_vnni' | 'avx512f' | 'avx2' | 'base'
  microarchitecture: string | null
  /** CPU vendor class (from cpu.vendor: GenuineIntel/Intel, AuthenticAMD/AMD) */
  cpuVendor: 'intel' | 'amd' | 'other'
  channelsPerSocket: number | null
  /** last-level cache, all instances (probe: sysfs); null when unknown — speed.ts cache term */
  l3Bytes: number | null
  /** the profile's calibration section (moerig calibrate), if any */
  calibration: HardwareProfile['calibration'] | null
  diskFreeBytes: number | null
  gpus: PlanGpu[]
  hostname: string | null
}

function gpuBandwidth(
  g: HardwareProfile['gpus'][number],
  specGBs: number | null,
  specName: string | null,
): {gbs: number; source: string} {
  if (g.memoryBandwidthGBs) return {gbs: g.memoryBandwidthGBs, source: `spec (${g.name})`}
  if (specGBs) return {gbs: specGBs, source: `spec table (${specName})`}
  return {
    gbs: DEFAULT_GPU_BANDWIDTH_GBS,
    source: `assumed ${DEFAULT_GPU_BANDWIDTH_GBS} GB/s (bandwidth of ${g.name} unknown)`,
  }
}

/** RAM per NUMA node: its free memory when probed, else its share of the usable RAM. */
function numaCapacities(p: HardwareProfile, cap: number): PlanHost['numaNodes'] {
  const total = p.memory.totalBytes
  const reservePerNode = (total - cap) / p.numa.nodes.length
  // With one node the node is the machine: its limit is the RAM limit (a VM's node-0 free
  // memory is not reliable, and the RAM row already counts the reserve).
  if (p.numa.nodes.length === 1) return [{id: p.numa.nodes[0].id, capacityBytes: Math.max(0, cap)}]
  return p.numa.nodes.map((n) => ({
    id: n.id,
    capacityBytes:
      n.memFreeBytes ??
      (n.memTotalBytes !== null
        ? Math.max(0, n.memTotalBytes - reservePerNode)
        : Math.floor(cap / p.numa.nodes.length)),
  }))
}

/** The high end of an unknown memory system: its CPU class's ceiling a socket × sockets. */
function unknownMemoryHigh(p: HardwareProfile): number {
  const sockets = Math.max(1, p.cpu.sockets ?? 1)
  const coresPerSocket = (p.cpu.cores ?? 0) / sockets
  const server = sockets > 1 || coresPerSocket > 16 || (p.cpu.flags ?? []).includes('amx_int8')
  return sockets * (server ? UNKNOWN_MEMORY_HIGH_GBS.server : UNKNOWN_MEMORY_HIGH_GBS.desktop)
}

/** CPU memory bandwidth: measured (probe --measure) beats theoretical beats assumed. */
function cpuBandwidth(p: HardwareProfile): {gbs: number; source: string; measured: boolean; unknownHighGBs?: number} {
  if (p.bandwidth?.triadGBs) {
    const gbs = p.bandwidth.triadGBs
    return {gbs, source: `measured STREAM triad ${gbs.toFixed(0)} GB/s (probe --measure)`, measured: true}
  }
  if (p.memory.theoreticalBandwidthGBs) {
    const gbs = p.memory.theoreticalBandwidthGBs
    return {
      gbs,
      source: `theoretical ${gbs.toFixed(0)} GB/s (${p.memory.channels ?? '?'} channels × ${p.memory.speedMTs ?? '?'} MT/s × 8 B)`,
      measured: false,
    }
  }
  const gbs = DEFAULT_CPU_BANDWIDTH_GBS
  const high = unknownMemoryHigh(p)
  return {
    gbs,
    source: `assumed ${gbs} GB/s (memory channels/speed unknown; up to ${high.toFixed(1)} GB/s at the range's high end, this CPU class's ceiling: \`moerig probe --measure\` measures it)`,
    measured: false,
    unknownHighGBs: high,
  }
}

/** The widest integer-dot ISA among the CPU's flags (AMX counted separately, see cpuCompute). */
function dotIsa(flags: Set<string>): 'avx512_vnni' | 'avx512f' | 'avx2' | 'base' {
  if (flags.has('avx512_vnni')) return 'avx512_vnni'
  if (flags.has('avx512f')) return 'avx512f'
  if (flags.has('avx2')) return 'avx2'
  return 'base'
}

/** Peak CPU ops/s for llama.cpp's int8 kernels and for AMX, with the clock they assume. */
function cpuCompute(
  p: HardwareProfile,
): Pick<PlanHost, 'cpuOpsLlama' | 'cpuOpsAmx' | 'cpuOpsSource' | 'ghz' | 'ghzKnown' | 'isa'> {
  const flags = new Set(p.cpu.flags)
  const ghz = p.cpu.baseMHz ? p.cpu.baseMHz / 1000 : DEFAULT_CPU_GHZ
  const isa = dotIsa(flags)
  const opc = CPU_OPS_PER_CYCLE[isa]
  const amx = flags.has('amx_int8') ? p.cpu.cores * ghz * 1e9 * CPU_OPS_PER_CYCLE.amx_int8 : null
  return {
    cpuOpsLlama: p.cpu.cores * ghz * 1e9 * opc,
    cpuOpsAmx: amx,
    ghz,
    ghzKnown: !!p.cpu.baseMHz,
    isa: amx ? 'amx' : isa,
    cpuOpsSource: `${p.cpu.cores} cores × ${ghz.toFixed(2)} GHz × ${opc} ops/cycle${p.cpu.baseMHz ? '' : ' (clock assumed)'}${amx ? '; AMX int8 2048 ops/cycle' : ''}`,
  }
}

/** One GPU of machine `hostId` (hostIndex hi, li-th in its profile) with global index `index`. */
function planGpu(g: HardwareProfile['gpus'][number], li: number, hi: number, hostId: string, index: number): PlanGpu {
  const m = matchGpu(g.name, g.vendorId, g.deviceId)
  const f = m.spec
  const b = gpuBandwidth(g, f?.bandwidthGBs ?? null, f?.name ?? null)
  const vram = g.vramFreeBytes ?? g.vramBytes
  const assumedTflops = (b.gbs * GPU_FLOP_PER_BYTE) / 1000
  return {
    index,
    id: `GPU${index}`,
    name: g.name,
    host: hostId,
    hostIndex: hi,
    localIndex: g.index ?? li,
    capacityBytes: vram ?? 0,
    vramKnown: vram !== null,
    bandwidthGBs: b.gbs,
    bandwidthSource: b.source,
    // a link probed as 0 GB/s (width 0: link down or hidden) is unknown, not a wall
    pcieGBs: g.pcie.bandwidthGBs || g.pcie.maxBandwidthGBs || DEFAULT_PCIE_GBS,
    fp16Tflops: f ? f.tflops : assumedTflops,
    fp16Source: f ? f.source : `${m.how}: FP16 assumed bandwidth × ${GPU_FLOP_PER_BYTE} FLOP/byte`,
    vendor: g.vendor ?? 'other',
    specNote: f
      ? `${f.name} (matched by ${m.how})`
      : `${m.how}, assumed ${assumedTflops.toFixed(1)} TFLOPS FP16 (bandwidth × ${GPU_FLOP_PER_BYTE} FLOP/B)`,
    numaNode: g.numaNode,
    maxTensorBytes: g.maxTensorBytes ?? null,
    rpc: null,
  }
}

function cpuVendor(vendor: string): PlanHost['cpuVendor'] {
  if (/intel/i.test(vendor)) return 'intel'
  return /amd/i.test(vendor) ? 'amd' : 'other'
}

/** One machine; its GPUs are numbered from `firstGpu` on. */
function planHost(p: HardwareProfile, hi: number, firstGpu: number): PlanHost {
  const id = p.id ?? p.hostname ?? p.name
  const total = p.memory.totalBytes
  const cap = p.memory.availableBytes ?? total - ramReserve(total)
  const bw = cpuBandwidth(p)
  const cpu = cpuCompute(p)
  return {
    index: hi,
    id,
    name: p.name,
    ramCapacityBytes: Math.max(0, cap),
    ramTotalBytes: total,
    numaNodes: numaCapacities(p, cap),
    sockets: p.cpu.sockets,
    cores: p.cpu.cores,
    threads: p.cpu.threads,
    cpuBandwidthGBs: bw.gbs,
    cpuBandwidthSource: bw.source,
    cpuBandwidthMeasured: bw.measured,
    cpuBandwidthUnknownHighGBs: bw.unknownHighGBs ?? null,
    cpuOpsLlama: cpu.cpuOpsLlama,
    cpuOpsAmx: cpu.cpuOpsAmx,
    ghz: cpu.ghz,
    ghzKnown: cpu.ghzKnown,
    isa: cpu.isa,
    microarchitecture: p.cpu.microarchitecture ?? null,
    cpuVendor: cpuVendor(p.cpu.vendor),
    channelsPerSocket: p.memory.channelsPerSocket ?? (p.memory.channels ? p.memory.channels / p.cpu.sockets : null),
    l3Bytes: p.cpu.l3Bytes ?? null,
    calibration: p.calibration ?? null,
    cpuOpsSource: cpu.cpuOpsSource,
    diskFreeBytes: p.disk?.freeBytes ?? null,
    gpus: p.gpus.map((g, li) => planGpu(g, li, hi, id, firstGpu + li)),
    hostname: p.hostname ?? null,
  }
}

/** Normalize the profiles given with --hardware (main machine first); GPUs are numbered across machines. */
export function planHosts(profiles: HardwareProfile[]): PlanHost[] {
  let gpuIndex = 0
  return profiles.map((p, hi) => {
    const host = planHost(p, hi, gpuIndex)
    gpuIndex += host.gpus.length
    return host
  })
}
