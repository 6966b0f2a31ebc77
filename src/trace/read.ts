/**
 * Reading MOETRACE files: `readTraceHeader` (header only, file length checked) and `openTrace`,
 * whose `chunks()` streams the records through one reused buffer, so memory stays bounded
 * whatever the trace length. Every malformed file is one MoerigError line.
 */
import {closeSync, fstatSync, readSync} from 'node:fs'
import {open as openAsync} from 'node:fs/promises'
import {parseJsonText} from '../lib/fs.js'
import {
  CHUNK_BYTES,
  MAX_HEADER_BYTES,
  PREFIX_BYTES,
  TRACE_MAGIC,
  TRACE_VERSION,
  align8,
  checkTraceHeader,
  openForRead,
  recordBytes,
  recordValues,
  swap16,
  traceError,
  validateIds,
  type TraceChunk,
  type TraceHeader,
  type TraceSource,
} from './format.js'

interface TraceLayout {
  header: TraceHeader
  dataOffset: number
}

/** Read and check prefix, header and file length; one line per failure. */
function readLayout(fd: number, path: string): TraceLayout {
  const what = `trace ${path}`
  const size = fstatSync(fd).size
  const prefix = Buffer.alloc(PREFIX_BYTES)
  const got = readSync(fd, prefix, 0, PREFIX_BYTES, 0)
  if (got < 8 || prefix.toString('latin1', 0, 8) !== TRACE_MAGIC) {
    throw traceError(
      'E_TRACE_MAGIC',
      `${what}: not a moerig trace (expected magic "${TRACE_MAGIC}"; CSV traces need the columns token,layer,experts)`,
    )
  }
  if (got < PREFIX_BYTES)
    throw traceError(
      'E_TRACE_TRUNCATED',
      `${what} is truncated: ${size} bytes, shorter than the ${PREFIX_BYTES}-byte prefix`,
    )
  const version = prefix.readUInt32LE(8)
  if (version !== TRACE_VERSION)
    throw traceError(
      'E_TRACE_VERSION',
      `${what}: format version ${version}, this moerig reads version ${TRACE_VERSION}`,
    )
  const hLen = prefix.readUInt32LE(12)
  if (hLen > MAX_HEADER_BYTES)
    throw traceError('E_TRACE_HEADER', `${what}: bad header: length ${hLen} bytes is implausible`)
  if (PREFIX_BYTES + hLen > size)
    throw traceError(
      'E_TRACE_TRUNCATED',
      `${what} is truncated: header of ${hLen} bytes but the file has only ${size - PREFIX_BYTES} after the prefix`,
    )
  const json = Buffer.alloc(hLen)
  readSync(fd, json, 0, hLen, PREFIX_BYTES)
  let parsed: unknown
  try {
    parsed = parseJsonText(json.toString('utf8'), `${what}: bad header`)
  } catch (e) {
    throw traceError('E_TRACE_HEADER', (e as Error).message)
  }
  const header = checkTraceHeader(parsed, what)
  const dataOffset = align8(PREFIX_BYTES + hLen)
  const perToken = recordBytes(header)
  const dataBytes = Math.max(0, size - dataOffset)
  const expected = header.nTokens * perToken
  if (dataBytes < expected) {
    throw traceError(
      'E_TRACE_TRUNCATED',
      `${what} is truncated: header says ${header.nTokens} tokens (${expected} bytes of records) but ${dataBytes} bytes follow (${Math.floor(dataBytes / perToken)} whole tokens)`,
    )
  }
  if (dataBytes > expected)
    throw traceError(
      'E_TRACE_TRUNCATED',
      `${what}: ${dataBytes - expected} bytes after the ${header.nTokens} tokens the header announces (corrupt nTokens?)`,
    )
  return {header, dataOffset}
}

/** Read the header of a MOETRACE file (and check its length) without reading the records. */
export function readTraceHeader(path: string): TraceHeader {
  const fd = openForRead(path, 'trace')
  try {
    return readLayout(fd, path).header
  } finally {
    closeSync(fd)
  }
}

/** Open a MOETRACE file: header checked, records streamed in chunks by `chunks()`. */
export function openTrace(path: string): TraceSource {
  const fd = openForRead(path, 'trace')
  let layout: TraceLayout
  try {
    layout = readLayout(fd, path)
  } finally {
    closeSync(fd)
  }
  const {header, dataOffset} = layout
  return {
    path,
    format: 'moetrace',
    header,
    chunks: (options) => binaryChunks(path, header, dataOffset, options?.chunkTokens),
  }
}

async function* binaryChunks(
  path: string,
  header: TraceHeader,
  dataOffset: number,
  chunkTokens?: number,
): AsyncGenerator<TraceChunk, void, undefined> {
  const perToken = recordValues(header)
  const perTokenBytes = recordBytes(header)
  const tokensPerChunk = Math.max(1, chunkTokens ?? Math.floor(CHUNK_BYTES / perTokenBytes))
  const raw = new Uint8Array(new ArrayBuffer(tokensPerChunk * perTokenBytes))
  // Without weights the records are the id array itself: read straight into it.
  const ids = header.hasWeights ? new Uint16Array(tokensPerChunk * perToken) : new Uint16Array(raw.buffer)
  const weights = header.hasWeights ? new Float32Array(tokensPerChunk * perToken) : undefined
  const dv = new DataView(raw.buffer)
  const seen = new Int32Array(header.nExpert)
  let stampBase = 0
  const fh = await openAsync(path, 'r')
  try {
    for (let start = 0; start < header.nTokens; start += tokensPerChunk) {
      const n = Math.min(tokensPerChunk, header.nTokens - start)
      const want = n * perTokenBytes
      let got = 0
      while (got < want) {
        const {bytesRead} = await fh.read(raw, got, want - got, dataOffset + start * perTokenBytes + got)
        if (bytesRead === 0)
          throw traceError(
            'E_TRACE_TRUNCATED',
            `trace ${path} is truncated: it ended inside token ${start + Math.floor(got / perTokenBytes)} of ${header.nTokens}`,
          )
        got += bytesRead
      }
      if (weights) {
        deinterleave(dv, n, header, ids, weights)
      } else {
        swap16(ids.subarray(0, n * perToken))
      }
      const idView = ids.subarray(0, n * perToken)
      stampBase = validateIds(idView, n, header, start, seen, stampBase, `trace ${path}`)
      yield {start, nTokens: n, ids: idView, weights: weights?.subarray(0, n * perToken)}
    }
  } finally {
    await fh.close()
  }
}

/** Split records of [k ids, k weights] per layer into the ids and weights arrays. */
function deinterleave(dv: DataView, n: number, h: TraceHeader, ids: Uint16Array, weights: Float32Array): void {
  const {k} = h
  const groups = n * h.moeLayers.length
  let o = 0
  for (let g = 0; g < groups; g++) {
    const base = g * k
    for (let j = 0; j < k; j++, o += 2) ids[base + j] = dv.getUint16(o, true)
    for (let j = 0; j < k; j++, o += 4) weights[base + j] = dv.getFloat32(o, true)
  }
}
