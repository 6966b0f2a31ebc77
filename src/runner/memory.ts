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
