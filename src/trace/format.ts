/**
 * The MOETRACE format itself (docs/trace-format.md): constants, the chunk and source types every
 * reader yields, record sizes, and the header and expert-id checks shared by writer and readers.
 *
 *   "MOETRACE" · u32 LE version (1) · u32 LE H · H bytes UTF-8 JSON header · zero pad to 8 ·
 *   nTokens records, each = for each MoE layer (moeLayers order): k u16 LE ids in gate order
 *   [then k f32 LE gate weights when hasWeights]
 */
import {closeSync, openSync, readSync} from 'node:fs'
import {endianness} from 'node:os'
import {MoerigError} from '../lib/errors.js'
import {readError} from '../lib/fs.js'
import {schemaErrors} from '../schemas/validate.js'
import {traceHeaderSchema, type TraceHeader} from '../schemas/trace.js'

export type {TraceHeader} from '../schemas/trace.js'

export const TRACE_MAGIC = 'MOETRACE'
export const TRACE_VERSION = 1
/** magic (8) + version (4) + header length (4). */
export const PREFIX_BYTES = 16
/** Headers are small; anything larger is a corrupt length field, not a header to allocate. */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024
/** Records are read in chunks of about this many bytes (one reused buffer). */
export const CHUNK_BYTES = 4 * 1024 * 1024
/** The writer stages this many bytes before a write(2). */
export const WRITE_STAGE_BYTES = 1024 * 1024
/** Room kept in a streaming writer's header for nTokens to grow (max safe integer has 16 digits). */
export const HEADER_SLACK = 24
export const LITTLE_ENDIAN_HOST = endianness() === 'LE'

/** One chunk of consecutive tokens. Views into a reused buffer: valid until the next chunk is asked for. */
export interface TraceChunk {
  /** Index of the first token of the chunk in the trace. */
  start: number
  nTokens: number
  /** (nTokens, nMoe, k) expert ids in gate order. */
  ids: Uint16Array
  /** (nTokens, nMoe, k) gate weights; only when the trace has them. */
  weights?: Float32Array
}

/** An opened trace, binary or CSV: its header and a chunk stream (re-iterable: each call re-reads the file). */
export interface TraceSource {
  path: string
  format: 'moetrace' | 'csv'
  header: TraceHeader
  chunks(options?: {chunkTokens?: number}): AsyncGenerator<TraceChunk, void, undefined>
}

/** One-line error of the trace format. */
export function traceError(code: string, message: string): MoerigError {
  return new MoerigError(code, message)
}

/** Values per record: nMoe × k ids (and as many weights). */
export function recordValues(h: Pick<TraceHeader, 'moeLayers' | 'k'>): number {
  return h.moeLayers.length * h.k
}

/** Bytes per token record. */
export function recordBytes(h: Pick<TraceHeader, 'moeLayers' | 'k' | 'hasWeights'>): number {
  return recordValues(h) * (h.hasWeights ? 6 : 2)
}

/** Schema plus the cross-field rules; throws one line naming `what`. */
export function checkTraceHeader(h: unknown, what: string): TraceHeader {
  const errs = schemaErrors(traceHeaderSchema, h)
  if (errs.length > 0) throw traceError('E_TRACE_HEADER', `${what}: bad header: ${errs[0]}`)
  const header = h as TraceHeader
  const {moeLayers, nLayer, nExpert, k} = header
  for (let i = 0; i < moeLayers.length; i++) {
    if (moeLayers[i] >= nLayer)
      throw traceError('E_TRACE_HEADER', `${what}: bad header: MoE layer ${moeLayers[i]} is not below nLayer ${nLayer}`)
    if (i > 0 && moeLayers[i] <= moeLayers[i - 1])
      throw traceError(
        'E_TRACE_HEADER',
        `${what}: bad header: moeLayers must be strictly ascending (${moeLayers[i - 1]} then ${moeLayers[i]})`,
      )
  }
  if (k > nExpert) throw traceError('E_TRACE_HEADER', `${what}: bad header: k ${k} exceeds nExpert ${nExpert}`)
  if (header.expertBytes && header.expertBytes.length !== moeLayers.length) {
    throw traceError(
      'E_TRACE_HEADER',
      `${what}: bad header: expertBytes has ${header.expertBytes.length} entries, expected one per MoE layer (${moeLayers.length})`,
    )
  }
  return header
}

/** Round up to a multiple of 8 (the records start 8-aligned). */
export function align8(n: number): number {
  return (n + 7) & ~7
}

/** Little-endian u16 values in place to host order (a no-op on little-endian hosts). */
export function swap16(view: Uint16Array): void {
  if (LITTLE_ENDIAN_HOST) return
  for (let i = 0; i < view.length; i++) view[i] = ((view[i] & 0xff) << 8) | (view[i] >> 8)
}

/**
 * Check ids < nExpert and no expert twice in one (token, layer); `stamp` is an Int32Array(nExpert)
 * scratch, `stampBase` a counter the caller keeps across chunks. Returns the next stampBase.
 */
export function validateIds(
  ids: Uint16Array,
  n: number,
  header: TraceHeader,
  start: number,
  seen: Int32Array,
  stampBase: number,
  what: string,
): number {
  const {k, nExpert, moeLayers} = header
  const nMoe = moeLayers.length
  let stamp = stampBase
  for (let r = 0; r < n * nMoe; r++) {
    stamp++
    const base = r * k
    for (let j = 0; j < k; j++) {
      const e = ids[base + j]
      if (e >= nExpert || seen[e] === stamp) {
        const token = start + Math.floor(r / nMoe)
        const layer = moeLayers[r % nMoe]
        if (e >= nExpert)
          throw traceError(
            'E_TRACE_DATA',
            `${what}: token ${token}, layer ${layer}: expert id ${e} is not below nExpert ${nExpert}`,
          )
        throw traceError('E_TRACE_DATA', `${what}: token ${token}, layer ${layer}: expert ${e} appears twice`)
      }
      seen[e] = stamp
    }
  }
  // Stamps are compared for equality only; restart before int32 overflow.
  if (stamp > 2 ** 30) {
    seen.fill(0)
    return 0
  }
  return stamp
}

/** Open for reading; a missing or unreadable file is one line naming `what path`. */
export function openForRead(path: string, what: string): number {
  try {
    return openSync(path, 'r')
  } catch (e) {
    throw readError(e, `${what} ${path}`)
  }
}

/** True when the file starts with the MOETRACE magic (anything else is read as CSV); unreadable: one line. */
export function isMoetrace(path: string): boolean {
  const fd = openForRead(path, 'trace')
  try {
    const magic = Buffer.alloc(8)
    const got = readSync(fd, magic, 0, 8, 0)
    return magic.toString('latin1', 0, got) === TRACE_MAGIC
  } catch (e) {
    throw readError(e, `trace ${path}`)
  } finally {
    closeSync(fd)
  }
}
