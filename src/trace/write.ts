/**
 * Writing MOETRACE files: `createTraceWriter` appends tokens as they are generated (the header's
 * nTokens is patched on close), `writeTrace` writes a whole trace at once. Both write under a temp
 * name and rename on close, so an interrupted writer never replaces a good trace.
 */
import {closeSync, openSync, writeSync} from 'node:fs'
import {fileError, startTemp} from '../lib/fs.js'
import {
  HEADER_SLACK,
  LITTLE_ENDIAN_HOST,
  PREFIX_BYTES,
  TRACE_MAGIC,
  TRACE_VERSION,
  WRITE_STAGE_BYTES,
  align8,
  checkTraceHeader,
  recordBytes,
  recordValues,
  traceError,
  validateIds,
  type TraceHeader,
} from './format.js'

/** The 16-byte prefix, the JSON (padded with spaces to `jsonBytes` when given) and the zero padding to 8. */
function encodeHeader(header: TraceHeader, jsonBytes?: number): Buffer {
  let json = Buffer.from(JSON.stringify(header), 'utf8')
  if (jsonBytes !== undefined) {
    if (json.length > jsonBytes) throw new Error(`trace header grew past its reserved ${jsonBytes} bytes`)
    // Trailing spaces are JSON whitespace: the header stays valid JSON of length H.
    json = Buffer.concat([json, Buffer.alloc(jsonBytes - json.length, 0x20)])
  }
  const dataOffset = align8(PREFIX_BYTES + json.length)
  const out = Buffer.alloc(dataOffset)
  out.write(TRACE_MAGIC, 0, 'latin1')
  out.writeUInt32LE(TRACE_VERSION, 8)
  out.writeUInt32LE(json.length, 12)
  json.copy(out, PREFIX_BYTES)
  return out
}

export interface TraceWriter {
  readonly path: string
  /** Tokens appended so far. */
  readonly nTokens: number
  /** Append whole tokens: ids (n, nMoe, k) and, when the header has weights, weights of the same length. */
  append(ids: Uint16Array, weights?: Float32Array): void
  /** Patch nTokens into the header and move the file into place (temp file + rename). Returns nTokens. */
  close(): number
  /** Drop the temp file; nothing already at `path` is touched. */
  abort(): void
}

/**
 * Stream a trace to disk token by token (for `moerig run --trace`). The file is written under a
 * temp name and renamed on `close()`, so an interrupted run never leaves a half-written trace in
 * place of a good one; the header's nTokens is rewritten on close.
 */
export function createTraceWriter(
  path: string,
  header: Omit<TraceHeader, 'nTokens'> & {nTokens?: number},
): TraceWriter {
  const h = checkTraceHeader({...header, nTokens: 0}, `trace ${path}`)
  const jsonBytes = Buffer.byteLength(JSON.stringify(h), 'utf8') + HEADER_SLACK
  const head = encodeHeader(h, jsonBytes)
  const perToken = recordValues(h)
  const perTokenBytes = recordBytes(h)
  const temp = startTemp(path)
  let open = true
  let fd: number
  try {
    fd = openSync(temp.tmp, 'w')
  } catch (e) {
    temp.abort()
    throw fileError(e, path)
  }
  /** Any write error: close, drop the temp file, one line naming the trace. */
  const fail = (e: unknown): never => {
    open = false
    try {
      closeSync(fd)
    } catch {}
    temp.abort()
    throw fileError(e, path)
  }
  try {
    writeSync(fd, head, 0, head.length, 0)
  } catch (e) {
    fail(e)
  }
  let pos = head.length
  const stage = Buffer.alloc(Math.max(WRITE_STAGE_BYTES, perTokenBytes))
  let staged = 0
  let nTokens = 0
  const seen = new Int32Array(h.nExpert)
  let stampBase = 0

  const flush = () => {
    if (staged === 0) return
    try {
      writeSync(fd, stage, 0, staged, pos)
    } catch (e) {
      fail(e)
    }
    pos += staged
    staged = 0
  }
  return {
    path,
    get nTokens() {
      return nTokens
    },
    append(ids, weights) {
      if (!open) throw new Error('trace writer is closed')
      if (ids.length % perToken !== 0)
        throw traceError(
          'E_TRACE_DATA',
          `trace ${path}: ${ids.length} ids is not a whole number of tokens (${perToken} per token)`,
        )
      if (h.hasWeights !== (weights !== undefined))
        throw traceError(
          'E_TRACE_DATA',
          `trace ${path}: header says hasWeights=${h.hasWeights} but weights were ${weights ? '' : 'not '}given`,
        )
      if (weights && weights.length !== ids.length)
        throw traceError('E_TRACE_DATA', `trace ${path}: ${weights.length} weights for ${ids.length} ids`)
      const n = ids.length / perToken
      stampBase = validateIds(ids, n, h, nTokens, seen, stampBase, `trace ${path}`)
      if (!weights && LITTLE_ENDIAN_HOST) {
        // Records without weights are the ids' own bytes: copy whole runs of tokens.
        const bytes = new Uint8Array(ids.buffer, ids.byteOffset, n * perTokenBytes)
        for (let off = 0; off < bytes.length;) {
          if (staged === stage.length) flush()
          const take = Math.min(bytes.length - off, stage.length - staged)
          stage.set(bytes.subarray(off, off + take), staged)
          staged += take
          off += take
        }
      } else {
        for (let t = 0; t < n; t++) {
          if (staged + perTokenBytes > stage.length) flush()
          encodeRecord(stage, staged, h, ids, weights, t * perToken)
          staged += perTokenBytes
        }
      }
      nTokens += n
    },
    close() {
      if (!open) return nTokens
      flush()
      open = false
      try {
        const final = encodeHeader({...h, nTokens}, jsonBytes)
        writeSync(fd, final, 0, final.length, 0)
        closeSync(fd)
      } catch (e) {
        fail(e)
      }
      temp.commit()
      return nTokens
    },
    abort() {
      if (!open) return
      open = false
      try {
        closeSync(fd)
      } catch {}
      temp.abort()
    },
  }
}

/** Encode one token record at `out[offset]` from ids/weights starting at value index `from`. */
function encodeRecord(
  out: Buffer,
  offset: number,
  h: TraceHeader,
  ids: Uint16Array,
  weights: Float32Array | undefined,
  from: number,
): void {
  const {k} = h
  const nMoe = h.moeLayers.length
  let o = offset
  for (let l = 0; l < nMoe; l++) {
    const base = from + l * k
    for (let j = 0; j < k; j++, o += 2) out.writeUInt16LE(ids[base + j], o)
    if (weights) for (let j = 0; j < k; j++, o += 4) out.writeFloatLE(weights[base + j], o)
  }
}

/**
 * Write a whole trace at once, atomically. `ids` is (nTokens, nMoe, k) in gate order; `weights`
 * (same shape) is required exactly when `header.hasWeights`. header.nTokens must match.
 */
export function writeTrace(path: string, header: TraceHeader, ids: Uint16Array, weights?: Float32Array): void {
  const h = checkTraceHeader(header, `trace ${path}`)
  const expected = h.nTokens * recordValues(h)
  if (ids.length !== expected)
    throw traceError(
      'E_TRACE_DATA',
      `trace ${path}: ${ids.length} ids given, header says ${h.nTokens} tokens × ${h.moeLayers.length} MoE layers × k ${h.k} = ${expected}`,
    )
  const w = createTraceWriter(path, h)
  try {
    w.append(ids, weights)
  } catch (e) {
    w.abort()
    throw e
  }
  w.close()
}
