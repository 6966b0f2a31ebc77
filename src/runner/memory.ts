/**
 * Memory each device really allocated, read from llama.cpp's log (the per-device figures of
 * llama_context::memory_breakdown() are not in the public C header; the log carries the same):
 *
 *   load_tensors:   CPU_Mapped model buffer size =   120.50 MiB
 *   llama_kv_cache:        CPU KV buffer size =     4.00 MiB
 *   sched_reserve:     Vulkan0 compute buffer size =    21.00 MiB
 *
 * Buffer names map to devices: "Vulkan0", "CUDA1" (and "CUDA1_Split") are that GPU; "CPU",
 * "CPU_Mapped", "CPU_REPACK", "Vulkan_Host", "CUDA_Host" are host RAM ("CPU").
 */

import type {ModelFile} from './modelfile.js'

export type BufferKind = 'weights' | 'kv' | 'compute'

export interface BufferFigure {
  /** the buffer name as llama.cpp logs it */
  buffer: string
  kind: BufferKind
  device: string
  bytes: number
}

export interface DeviceMemory {
  device: string
  weightsBytes: number
  kvBytes: number
  computeBytes: number
  totalBytes: number
}

const LINE_RE = /^\w+:\s+(\S+) (model|KV|compute) buffer size =\s*([0-9.]+) MiB/
const KIND: Record<string, BufferKind> = {model: 'weights', KV: 'kv', compute: 'compute'}

/** Device of a buffer name: a name ending in a device index is that device, the rest is host RAM. */
export function deviceOfBuffer(buffer: string): string {
  const m = /^([A-Za-z]+[0-9]+)(?:_.*)?$/.exec(buffer)
  return m ? m[1] : 'CPU'
}

/** Every buffer-size line in `lines` (MiB printed with 2 decimals: ±5 KiB). */
export function parseBufferLines(lines: string[]): BufferFigure[] {
  const out: BufferFigure[] = []
  for (const line of lines) {
    const m = LINE_RE.exec(line.trim())
    if (!m) continue
    out.push({buffer: m[1], kind: KIND[m[2]], device: deviceOfBuffer(m[1]), bytes: Math.round(Number(m[3]) * 1024 * 1024)})
  }
  return out
}

/** Sum per device, CPU first, then GPUs by name. */
export function memoryByDevice(buffers: BufferFigure[]): DeviceMemory[] {
  const map = new Map<string, DeviceMemory>()
  for (const b of buffers) {
    let d = map.get(b.device)
    if (!d) {
      d = {device: b.device, weightsBytes: 0, kvBytes: 0, computeBytes: 0, totalBytes: 0}
      map.set(b.device, d)
    }
    if (b.kind === 'weights') d.weightsBytes += b.bytes
    else if (b.kind === 'kv') d.kvBytes += b.bytes
    else d.computeBytes += b.bytes
    d.totalBytes += b.bytes
  }
  return [...map.values()].sort((a, b) => (a.device === 'CPU' ? -1 : b.device === 'CPU' ? 1 : a.device.localeCompare(b.device, 'en', {numeric: true})))
}

/** What the resident-memory correction needs to know about the model file. */
export interface MappedModel {
  /** bytes of all tensor data in the file (GgufModel.tensorBytes) */
  tensorBytes: number
}

export function mappedModel(mf: ModelFile): MappedModel {
  return {tensorBytes: mf.gguf.tensorBytes}
}

/**
 * Under mmap, llama.cpp's "CPU_Mapped model buffer size" is the file span it maps for the CPU
 * tensors (llama-model.cpp: get_mapping_range, first to last CPU tensor), not memory it needs:
 * tensors repacked into AMX or CPU_REPACK buffers, and GPU tensors lying between CPU ones, are
 * inside that span but their pages are only read once while loading. The resident need of the
 * mapped share is the bytes of the tensors that stay mapped: the file's tensors less those held in
 * any other buffer (GPU weights; AMX, CPU_REPACK and CPU_Plain copies, whose buffers hold the same
 * blocks rearranged, so their sizes stand for the tensors they replaced), never more than the span.
 * Returns the buffers with the mapped entries replaced by that one resident figure.
 */
export function residentBuffers(buffers: BufferFigure[], m: MappedModel): BufferFigure[] {
  const isMapped = (b: BufferFigure) => b.kind === 'weights' && b.buffer === 'CPU_Mapped'
  const span = buffers.filter(isMapped).reduce((s, b) => s + b.bytes, 0)
  if (span === 0) return buffers
  const elsewhere = buffers.filter((b) => b.kind === 'weights' && !isMapped(b)).reduce((s, b) => s + b.bytes, 0)
  const stayMapped = Math.max(0, Math.min(span, m.tensorBytes - elsewhere))
  return [{buffer: 'CPU_Mapped', kind: 'weights', device: 'CPU', bytes: stayMapped}, ...buffers.filter((b) => !isMapped(b))]
}
