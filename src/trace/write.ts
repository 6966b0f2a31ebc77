/**
 * Writing MOETRACE files: `createTraceWriter` appends tokens as they are generated (the header's
 * nTokens is patched on close), `writeTrace` writes a whole trace at once. Both write under a temp
 * name and rename on close, so an interrupted writer never replaces a good trace.
 */
import {closeSync, openSync, writeSync} from 'node:fs'
import {fileError, startTemp, type TempFile} from '../lib/fs.js'
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
  return new StreamingWriter(path, checkTraceHeader({...header, nTokens: 0}, `trace ${path}`))
}

/** createTraceWriter's writer: records staged in one buffer, written with write(2) at known offsets. */
class StreamingWriter implements TraceWriter {
  /** The header's JSON length, with room for nTokens to grow (rewritten in place on close). */
  private readonly jsonBytes: number
  private readonly perToken: number
  private readonly perTokenBytes: number
  private readonly temp: TempFile
  private readonly fd: number
  private readonly stage: Buffer
  private staged = 0
  /** File offset of the next flush. */
  private pos: number
  private tokens = 0
  private open = true
  /** Scratch of validateIds, kept across appends. */
  private readonly seen: Int32Array
  private stampBase = 0

  constructor(
    readonly path: string,
    private readonly h: TraceHeader,
  ) {
    this.jsonBytes = Buffer.byteLength(JSON.stringify(h), 'utf8') + HEADER_SLACK
    const head = encodeHeader(h, this.jsonBytes)
    this.perToken = recordValues(h)
    this.perTokenBytes = recordBytes(h)
    this.temp = startTemp(path)
    try {
      this.fd = openSync(this.temp.tmp, 'w')
    } catch (e) {
      this.temp.abort()
      throw fileError(e, path)
    }
    try {
      writeSync(this.fd, head, 0, head.length, 0)
    } catch (e) {
      this.fail(e)
    }
    this.pos = head.length
    this.stage = Buffer.alloc(Math.max(WRITE_STAGE_BYTES, this.perTokenBytes))
    this.seen = new Int32Array(h.nExpert)
  }

  get nTokens(): number {
    return this.tokens
  }

  append(ids: Uint16Array, weights?: Float32Array): void {
    if (!this.open) throw new Error('trace writer is closed')
    this.checkAppend(ids, weights)
    const n = ids.length / this.perToken
    this.stampBase = validateIds(ids, n, this.h, this.tokens, this.seen, this.stampBase, `trace ${this.path}`)
    if (!weights && LITTLE_ENDIAN_HOST) {
      // Records without weights are the ids' own bytes: copy whole runs of tokens.
      this.stageBytes(new Uint8Array(ids.buffer, ids.byteOffset, n * this.perTokenBytes))
    } else {
      for (let t = 0; t < n; t++) {
        if (this.staged + this.perTokenBytes > this.stage.length) this.flush()
        encodeRecord(this.stage, this.staged, this.h, ids, weights, t * this.perToken)
        this.staged += this.perTokenBytes
      }
    }
    this.tokens += n
  }

  close(): number {
    if (!this.open) return this.tokens
    this.flush()
    this.open = false
    try {
      const final = encodeHeader({...this.h, nTokens: this.tokens}, this.jsonBytes)
      writeSync(this.fd, final, 0, final.length, 0)
      closeSync(this.fd)
    } catch (e) {
      this.fail(e)
    }
    this.temp.commit()
    return this.tokens
  }

  abort(): void {
    if (!this.open) return
    this.open = false
    try {
      closeSync(this.fd)
    } catch {}
    this.temp.abort()
  }

  /** Whole tokens, weights exactly when the header has them, as many weights as ids. */
  private checkAppend(ids: Uint16Array, weights: Float32Array | undefined): void {
    const {path, perToken, h} = this
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
  }

  /** Copy raw record bytes into the stage, flushing whenever it fills. */
  private stageBytes(bytes: Uint8Array): void {
    for (let off = 0; off < bytes.length;) {
      if (this.staged === this.stage.length) this.flush()
      const take = Math.min(bytes.length - off, this.stage.length - this.staged)
      this.stage.set(bytes.subarray(off, off + take), this.staged)
      this.staged += take
      off += take
    }
  }

  private flush(): void {
    if (this.staged === 0) return
    try {
      writeSync(this.fd, this.stage, 0, this.staged, this.pos)
    } catch (e) {
      this.fail(e)
    }
    this.pos += this.staged
    this.staged = 0
  }

  /** Any write error: close, drop the temp file, one line naming the trace. */
  private fail(e: unknown): never {
    this.open = false
    try {
      closeSync(this.fd)
    } catch {}
    this.temp.abort()
    throw fileError(e, this.path)
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
