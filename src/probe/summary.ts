/** The readable form of a hardware profile (probe's default output, `profiles show`). */
import {safeName} from '../lib/text.js'
import {fmtBinary, fmtGB, fmtGiB} from '../lib/units.js'
import type {HardwareProfile} from '../schemas/hardware.js'
import {INFERENCE_FLAGS} from './cpu.js'
import {formatCpuList} from './sysfs.js'

/** Inference flags the summary always names (present or missing); the others only when present. */
const MINOR_FLAGS = new Set<string>(['avx', 'fma', 'f16c', 'avx512bw', 'avx512vl', 'avx512vbmi', 'amx_fp16'])
const KEY_FLAGS: string[] = INFERENCE_FLAGS.filter((f) => !MINOR_FLAGS.has(f))

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
const pad = (label: string) => label.padEnd(9)
const src = (prov: Record<string, string> | undefined, field: string) =>
  prov?.[field] && prov[field] !== 'unknown' ? ` [${prov[field]}]` : ''

function cacheText(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return 'unknown'
  return fmtBinary(bytes, {units: ['MiB', 'GiB'], digits: {MiB: 0, GiB: 1}})
}

function cpuLines(p: HardwareProfile): string[] {
  const c = p.cpu
  const per = c.coresPerSocket
    ? `${plural(c.sockets, 'socket')} × ${c.coresPerSocket} cores`
    : `${plural(c.sockets, 'socket')}, ${c.cores} cores`
  const have = KEY_FLAGS.filter((f) => c.flags.includes(f))
  const missing = KEY_FLAGS.filter((f) => !c.flags.includes(f))
  const extra = c.flags.filter((f) => !KEY_FLAGS.includes(f) && (INFERENCE_FLAGS as readonly string[]).includes(f))
  return [
    `${pad('CPU')}${c.model}${c.microarchitecture ? ` — ${c.microarchitecture}` : ''}${src(c.provenance, 'model')}`,
    `${pad('')}${per} = ${c.cores} cores, ${c.threads} threads${src(c.provenance, 'cores')}; L2 ${cacheText(c.l2Bytes)}, L3 ${cacheText(c.l3Bytes)} (all sockets)${c.baseMHz ? `; base ${(c.baseMHz / 1000).toFixed(2)} GHz` : ''}`,
    `${pad('')}ISA: ${have.length > 0 ? have.join(' ') : 'none of the inference extensions'}${missing.length > 0 ? `; lacks ${missing.join(' ')}` : ''}${extra.length > 0 ? ` (also ${extra.join(' ')})` : ''}`,
  ]
}

function numaLines(p: HardwareProfile): string[] {
  const n = p.numa
  const withCpus = n.nodes.filter((x) => x.cpus.length > 0).length
  const out = [
    `${pad('NUMA')}${plural(n.nodes.length, 'node')}${n.subNumaClustering ? ` — sub-NUMA clustering (${withCpus} nodes on ${plural(p.cpu.sockets, 'socket')})` : ''}${src(n.provenance, 'nodes')}`,
  ]
  for (const node of n.nodes) {
    const cpus = node.cpus.length > 0 ? `cpus ${formatCpuList(node.cpus)}` : 'no CPUs listed'
    out.push(
      `${pad('')}node${node.id}: ${cpus}${node.socket !== null && node.socket !== undefined ? `, socket ${node.socket}` : ''}, memory ${fmtGiB(node.memTotalBytes)}${node.memFreeBytes != null ? ` (${fmtGiB(node.memFreeBytes)} free)` : ''}`,
    )
  }
  if (n.distances && n.nodes.length > 1)
    out.push(`${pad('')}distances: ${n.distances.map((r) => r.join(' ')).join(' | ')}`)
  return out
}

/** Totals, DIMMs, channels and peak, huge pages, and the measured bandwidth when there is one. */
function memoryLines(p: HardwareProfile): string[] {
  const m = p.memory
  const out = [
    `${pad('Memory')}${fmtGiB(m.totalBytes)} total${src(m.provenance, 'totalBytes')}${m.availableBytes != null ? `, ${fmtGiB(m.availableBytes)} available` : ''}${m.installedBytes != null ? `; ${fmtGiB(m.installedBytes)} installed` : ''}`,
  ]
  if (m.dimms.length > 0) {
    const sizes = [...new Set(m.dimms.map((d) => fmtGiB(d.sizeBytes, 0)))].join('/')
    out.push(
      `${pad('')}${m.dimms.length} DIMMs × ${sizes} ${m.type ?? 'type unknown'} at ${m.speedMTs ?? '?'} MT/s${src(m.provenance, 'dimms')}`,
    )
  } else {
    out.push(`${pad('')}DIMMs: unknown (the platform does not expose them)`)
  }
  out.push(
    `${pad('')}channels: ${m.channels ?? 'unknown'}${m.channelsPerSocket ? ` (${m.channelsPerSocket} per socket)` : ''}${src(m.provenance, 'channels')}; theoretical peak ${m.theoreticalBandwidthGBs != null ? `${m.theoreticalBandwidthGBs.toFixed(1)} GB/s` : 'unknown'}${src(m.provenance, 'theoreticalBandwidthGBs')}`,
  )
  if (m.hugePages && Object.values(m.hugePages).some((v) => v !== null && v !== undefined)) {
    const h = m.hugePages
    out.push(
      `${pad('')}transparent huge pages: ${h.transparent ?? 'unknown'} (defrag ${h.defrag ?? 'unknown'}); huge pages ${h.free ?? '?'} free of ${h.total ?? '?'} × ${h.pageSizeBytes ? `${h.pageSizeBytes / 1024 ** 2} MiB` : '?'}`,
    )
  }
  return [...out, ...bandwidthLines(p)]
}

function bandwidthLines(p: HardwareProfile): string[] {
  const b = p.bandwidth
  if (!b) return []
  const peak = p.memory.theoreticalBandwidthGBs
  const pct = peak ? ` = ${((100 * b.triadGBs) / peak).toFixed(0)}% of peak` : ''
  const out = [
    `${pad('Measured')}triad ${b.triadGBs.toFixed(1)} GB/s${pct} (copy ${b.copyGBs?.toFixed(1) ?? '?'}, scale ${b.scaleGBs?.toFixed(1) ?? '?'}, add ${b.addGBs?.toFixed(1) ?? '?'}) with ${b.threads ?? '?'} threads, best of ${b.repetitions ?? '?'} [measured]`,
  ]
  if (b.perNode.length > 1)
    out.push(`${pad('')}per node: ${b.perNode.map((x) => `node${x.node} ${x.triadGBs.toFixed(1)} GB/s`).join(', ')}`)
  return out
}

/** Two lines per GPU: identity and VRAM, then its PCIe link and NUMA node. */
function gpuLines(p: HardwareProfile): string[] {
  if (p.gpus.length === 0) return [`${pad('GPUs')}none`]
  return p.gpus.flatMap((g, i) => {
    const link =
      g.pcie.gen !== null
        ? `PCIe Gen${g.pcie.gen} x${g.pcie.width ?? '?'} = ${g.pcie.bandwidthGBs?.toFixed(1) ?? '?'} GB/s`
        : 'PCIe link unknown'
    const max =
      g.pcie.maxGen != null && (g.pcie.maxGen !== g.pcie.gen || g.pcie.maxWidth !== g.pcie.width)
        ? ` (max Gen${g.pcie.maxGen} x${g.pcie.maxWidth ?? '?'} = ${g.pcie.maxBandwidthGBs?.toFixed(1) ?? '?'} GB/s)`
        : ''
    const vram = g.vramBytes !== null ? `${fmtGiB(g.vramBytes)} VRAM${src(g.provenance, 'vramBytes')}` : 'VRAM unknown'
    const bw = g.memoryBandwidthGBs != null ? `, ${g.memoryBandwidthGBs} GB/s memory [spec]` : ''
    return [
      `${pad(i === 0 ? 'GPUs' : '')}${g.pciAddress ?? `#${i}`} ${g.name}${g.integrated ? ' [integrated]' : ''} (${g.vendorId}:${g.deviceId}${g.driver ? `, ${g.driver}` : ''}): ${vram}${bw}`,
      `${pad('')}  ${link}${max}; NUMA node ${g.numaNode ?? 'unknown'}`,
    ]
  })
}

/** llama.cpp's devices, the disk, the vendor tools and the notes: each when the profile has them. */
function restLines(p: HardwareProfile): string[] {
  const out = (p.engineDevices ?? []).map((d, i) => {
    const mem = d.memoryTotalBytes
      ? `: ${fmtGiB(d.memoryTotalBytes)}${d.memoryFreeBytes ? ` (${fmtGiB(d.memoryFreeBytes)} free)` : ''}`
      : ''
    return `${pad(i === 0 ? 'Engine' : '')}${d.name} [${d.backend}${d.type ? `, ${d.type}` : ''}] ${d.description ?? ''}${mem}`
  })
  if (p.disk) {
    const d = p.disk
    const fit =
      d.fits400GB === null || d.fits400GB === undefined
        ? ''
        : d.fits400GB
          ? ' — a 400 GB model fits'
          : ' — a 400 GB model does NOT fit'
    out.push(`${pad('Disk')}${d.path}: ${fmtGB(d.freeBytes)} free of ${fmtGB(d.totalBytes)}${fit}`)
  }
  if (p.tools)
    out.push(
      `${pad('Tools')}${p.tools.length > 0 ? p.tools.map((t) => `${t.name} ${t.version ?? '(version unknown)'}`).join(', ') : 'no vendor GPU tools on PATH (nvidia-smi, xpu-smi, sycl-ls, vulkaninfo, rocm-smi, clinfo)'}`,
    )
  if (p.notes && p.notes.length > 0) out.push('Notes', ...p.notes.map((note) => `  - ${note}`))
  return out
}

export function renderProfile(p: HardwareProfile): string[] {
  const head =
    p.origin === 'reference'
      ? `${p.name} (reference rig${p.id ? `, id ${p.id}` : ''})`
      : `${p.name}${p.virtualized ? ' — virtual machine' : ''}`
  const out = [head, ...cpuLines(p), ...numaLines(p), ...memoryLines(p), ...gpuLines(p), ...restLines(p)]
  // Names, models, paths and notes come from files the user was given: one line each, no control characters.
  return out.map(safeName)
}
