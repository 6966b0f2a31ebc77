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
import {amxPackedBytes} from '../planner/amx.js'

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

/**
 * Device of a buffer name: a name ending in a device index is that device, the rest is host RAM.
 * An RPC buffer ("RPC0[host:port]": the server's device index and endpoint) keeps that name; the
 * runner renames it to the engine's device once it knows the devices (rpc-engine.ts nameRpcBuffers).
 */
export function deviceOfBuffer(buffer: string): string {
  const rpc = /^RPC\d+\[[^\]]+\]/.exec(buffer)
  if (rpc) return rpc[0]
  const m = /^([A-Za-z]+[0-9]+)(?:_.*)?$/.exec(buffer)
  return m ? m[1] : 'CPU'
}

/** Every buffer-size line in `lines` (MiB printed with 2 decimals: ±5 KiB). */
export function parseBufferLines(lines: string[]): BufferFigure[] {
  const out: BufferFigure[] = []
  for (const line of lines) {
    const m = LINE_RE.exec(line.trim())
    if (!m) continue
    out.push({
      buffer: m[1],
      kind: KIND[m[2]],
      device: deviceOfBuffer(m[1]),
      bytes: Math.round(Number(m[3]) * 1024 * 1024),
    })
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
  return [...map.values()].sort((a, b) =>
    a.device === 'CPU' ? -1 : b.device === 'CPU' ? 1 : a.device.localeCompare(b.device, 'en', {numeric: true}),
  )
}

/** What the resident-memory correction needs to know about the model file and its load. */
export interface MappedModel {
  /** bytes of all tensor data in the file (GgufModel.tensorBytes) */
  tensorBytes: number
  /** file bytes of the tensors the load log names as repacked into AMX, and their packed size */
  amxOriginalBytes: number
  amxPackedBytes: number
  /** file bytes of the tensors the load log names as repacked into CPU_REPACK */
  repackOriginalBytes: number
}

const AMX_LINE_RE = /amx repack tensor (\S+) of type/
// the loader's progress dots share a line with the next message ("....repack: repack tensor …"),
// so the line may start with dots
const REPACK_LINE_RE = /^\.*repack: repack tensor (\S+) with/

/**
 * The load's facts for residentBuffers: the engine keeps llama.cpp's debug lines naming each
 * tensor repacked into AMX or CPU_REPACK (native/src/engine/runtime.cpp log_cb), so the bytes they take
 * out of the mapped span are the file's own figures.
 */
export function mappedModel(mf: ModelFile, loadLog: string[]): MappedModel {
  const byName = new Map(mf.gguf.tensors.map((t) => [t.name, t]))
  const m: MappedModel = {
    tensorBytes: mf.gguf.tensorBytes,
    amxOriginalBytes: 0,
    amxPackedBytes: 0,
    repackOriginalBytes: 0,
  }
  for (const line of loadLog) {
    const amx = AMX_LINE_RE.exec(line)
    const rp = amx ? null : REPACK_LINE_RE.exec(line.trim())
    const t = byName.get((amx ?? rp)?.[1] ?? '')
    if (!t) continue
    const elements = t.shape.reduce((a, b) => a * b, 1)
    if (amx) {
      m.amxOriginalBytes += t.bytes
      m.amxPackedBytes += amxPackedBytes(t.typeName, t.bytes, elements)
    } else {
      m.repackOriginalBytes += t.bytes
    }
  }
  return m
}

/**
 * Under mmap, llama.cpp's "CPU_Mapped model buffer size" is the file span it maps for the CPU
 * tensors (llama-model.cpp: get_mapping_range, first to last CPU tensor), not memory it needs:
 * tensors repacked into AMX or CPU_REPACK buffers, and GPU tensors lying between CPU ones, are
 * inside that span but their pages are only read once while loading. The resident need of the
 * mapped share is the file's tensor bytes less those of every tensor held in another buffer,
 * never more than the span:
 *  - AMX / CPU_REPACK: the file bytes of the tensors the log names as repacked (AMX buffer bytes
 *    beyond their packed size are F16 weights AMX copies unpacked, same size as in the file);
 *  - any other buffer (GPU weights, CPU_Plain, a plain CPU buffer): its size stands for its tensors.
 * Returns the buffers with the mapped entries replaced by that one resident figure.
 */
export function residentBuffers(buffers: BufferFigure[], m: MappedModel): BufferFigure[] {
  const weights = buffers.filter((b) => b.kind === 'weights')
  const sum = (pred: (b: BufferFigure) => boolean) => weights.filter(pred).reduce((s, b) => s + b.bytes, 0)
  const span = sum((b) => b.buffer === 'CPU_Mapped')
  if (span === 0) return buffers
  const amxBuf = sum((b) => b.buffer === 'AMX')
  const repackBuf = sum((b) => b.buffer === 'CPU_REPACK')
  const held = sum((b) => !['CPU_Mapped', 'AMX', 'CPU_REPACK'].includes(b.buffer))
  const amxOrig = m.amxOriginalBytes + Math.max(0, amxBuf - m.amxPackedBytes)
  // no names logged for CPU_REPACK (an older log): its blocks are the file's, rearranged
  const repackOrig = m.repackOriginalBytes > 0 ? m.repackOriginalBytes : repackBuf
  const stayMapped = Math.max(0, Math.min(span, m.tensorBytes - held - amxOrig - repackOrig))
  return [
    {buffer: 'CPU_Mapped', kind: 'weights', device: 'CPU', bytes: stayMapped},
    ...buffers.filter((b) => !(b.kind === 'weights' && b.buffer === 'CPU_Mapped')),
  ]
}
