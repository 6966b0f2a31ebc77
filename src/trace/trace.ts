/**
 * Routing traces: which experts every token used in every MoE layer (docs/trace-format.md).
 *
 *   "MOETRACE" · u32 LE version (1) · u32 LE H · H bytes UTF-8 JSON header · zero pad to 8 ·
 *   nTokens records, each = for each MoE layer (moeLayers order): k u16 LE ids in gate order
 *   [then k f32 LE gate weights when hasWeights]
 *
 * Writers: `writeTrace` (one shot) and `createTraceWriter` (append tokens as they are generated,
 * the header's nTokens is patched on close). Readers: `openTrace` for MOETRACE files,
 * `openCsvTrace` for `token,layer,experts` CSV, `openTraceSource` for either; all stream fixed-size
 * chunks through one reused buffer, so memory stays bounded whatever the trace length.
 * Conversions: `csvToTrace`, `traceToCsv`. Every malformed input is one MoerigError line.
 */
import {closeSync, createReadStream, createWriteStream, fstatSync, openSync, readSync, writeSync} from 'node:fs'
import {open as openAsync} from 'node:fs/promises'
import {basename, extname} from 'node:path'
import {endianness} from 'node:os'
import {MoerigError} from '../lib/errors.js'
import {fileError, parseJsonText, readError, startTemp} from '../lib/fs.js'
import {schemaErrors} from '../schemas/validate.js'
import {traceHeaderSchema, type TraceHeader} from '../schemas/trace.js'

export type {TraceHeader} from '../schemas/trace.js'

export const TRACE_MAGIC = 'MOETRACE'
export const TRACE_VERSION = 1
/** magic (8) + version (4) + header length (4). */
const PREFIX_BYTES = 16
/** Headers are small; anything larger is a corrupt length field, not a header to allocate. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024
/** Records are read in chunks of about this many bytes (one reused buffer). */
const CHUNK_BYTES = 4 * 1024 * 1024
/** The writer stages this many bytes before a write(2). */
const WRITE_STAGE_BYTES = 1024 * 1024
/** Room kept in a streaming writer's header for nTokens to grow (max safe integer has 16 digits). */
const HEADER_SLACK = 24
const LITTLE_ENDIAN_HOST = endianness() === 'LE'

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

function traceError(code: string, message: string): MoerigError {
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

function align8(n: number): number {
  return (n + 7) & ~7
}

function swap16(view: Uint16Array): void {
  if (LITTLE_ENDIAN_HOST) return
  for (let i = 0; i < view.length; i++) view[i] = ((view[i] & 0xff) << 8) | (view[i] >> 8)
}

/**
 * Check ids < nExpert and no expert twice in one (token, layer); `stamp` is an Int32Array(nExpert)
 * scratch, `stampBase` a counter the caller keeps across chunks. Returns the next stampBase.
 */
function validateIds(
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

// ---------------------------------------------------------------- writing

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

// ---------------------------------------------------------------- reading MOETRACE

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

function openForRead(path: string, what: string): number {
  try {
    return openSync(path, 'r')
  } catch (e) {
    throw readError(e, `${what} ${path}`)
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

// ---------------------------------------------------------------- reading CSV

export interface CsvTraceOptions {
  /** n_expert: CSV carries no header, so the user says it (`--experts N`). */
  nExpert: number
  /** Name for the header's model field; default: the file name without extension. */
  model?: string
  arch?: string
}

const CSV_HEADER = 'token,layer,experts'
const CR = 13
const LF = 10
const COMMA = 44
const SPACE = 32
const TAB = 9
const QUOTE = 34
const ZERO = 48
const NINE = 57

type CsvRow = (token: number, layer: number, experts: Int32Array, count: number, line: number) => void

/**
 * A push parser for `token,layer,experts` rows: `feed` raw bytes, `end` at EOF. Calls `row` per
 * data row; `experts` is a scratch array valid during the call. Hand-rolled over bytes because
 * real traces run to tens of millions of rows.
 */
function csvRowParser(what: string, row: CsvRow): {feed(buf: Buffer): void; end(): void} {
  const experts = new Int32Array(4096)
  let line = 1
  let headerDone = false
  let headerText = ''
  let field = 0 // 0 token, 1 layer, 2 experts
  let num = -1 // number being read, -1 when none
  let token = -1
  let layer = -1
  let count = 0
  let rowHasData = false
  const bad = (msg: string) => traceError('E_TRACE_CSV', `${what}: line ${line}: ${msg}`)
  const endNumber = () => {
    if (num < 0) return
    if (field === 0) token = num
    else if (field === 1) layer = num
    else {
      if (count >= experts.length) throw bad(`more than ${experts.length} experts in one row`)
      experts[count++] = num
    }
    num = -1
  }
  const endRow = () => {
    endNumber()
    if (rowHasData) {
      if (field !== 2 || token < 0 || layer < 0) throw bad('expected three columns token,layer,experts')
      if (count === 0) throw bad('no expert ids')
      row(token, layer, experts, count, line)
    }
    field = 0
    token = -1
    layer = -1
    count = 0
    rowHasData = false
    line++
  }
  return {
    feed(buf) {
      let i = 0
      if (!headerDone) {
        const nl = buf.indexOf(LF)
        headerText += buf.toString('utf8', 0, nl < 0 ? buf.length : nl)
        if (headerText.length > 4096) throw bad(`expected the header row "${CSV_HEADER}"`)
        if (nl < 0) return
        const got = headerText
          .replace(/^\uFEFF/, '')
          .replace(/["\s]/g, '')
          .toLowerCase()
        if (got !== CSV_HEADER)
          throw bad(`expected the header row "${CSV_HEADER}", got "${headerText.trim().slice(0, 60)}"`)
        headerDone = true
        line++
        i = nl + 1
      }
      for (; i < buf.length; i++) {
        const c = buf[i]
        if (c >= ZERO && c <= NINE) {
          num = num < 0 ? c - ZERO : num * 10 + (c - ZERO)
          if (num > 0x7fffffff) throw bad('number too large')
          rowHasData = true
        } else if (c === COMMA) {
          endNumber()
          if (field === 2) throw bad('expected three columns token,layer,experts (experts are space-separated)')
          field++
          rowHasData = true
        } else if (c === SPACE || c === TAB || c === QUOTE) {
          endNumber()
        } else if (c === LF) {
          endRow()
        } else if (c !== CR) {
          throw bad(`unexpected character ${JSON.stringify(String.fromCharCode(c))}`)
        }
      }
    },
    end() {
      if (!headerDone) throw bad(`expected the header row "${CSV_HEADER}"`)
      endRow()
    },
  }
}

/** Raw byte buffers of a file, with read errors turned into one line. */
async function* fileBuffers(path: string, what: string): AsyncGenerator<Buffer, void, undefined> {
  const stream = createReadStream(path, {highWaterMark: 1 << 20})
  try {
    for await (const buf of stream as AsyncIterable<Buffer>) yield buf
  } catch (e) {
    throw readError(e, what)
  } finally {
    stream.destroy()
  }
}

/**
 * Open a CSV trace. A first streaming pass learns the layers (from the first token), k (from the
 * first row) and the token count, so the header is complete before analysis starts; `chunks()`
 * re-parses and checks every row (same layers per token, k ids each, ids < nExpert, distinct,
 * tokens grouped and consecutive).
 */
export async function openCsvTrace(path: string, options: CsvTraceOptions): Promise<TraceSource> {
  const what = `trace ${path}`
  if (!Number.isInteger(options.nExpert) || options.nExpert < 1 || options.nExpert > 65536) {
    throw traceError('E_USAGE', `${what}: n_expert must be an integer 1..65536 (--experts N)`)
  }
  const layers: number[] = []
  let k = 0
  let firstToken = -1
  let rows = 0
  let firstTokenDone = false
  const parser = csvRowParser(what, (token, layer, _experts, count, line) => {
    if (rows === 0) {
      firstToken = token
      k = count
    }
    rows++
    if (firstTokenDone) return
    if (token !== firstToken) {
      firstTokenDone = true
      return
    }
    if (layers.includes(layer))
      throw traceError('E_TRACE_CSV', `${what}: line ${line}: layer ${layer} appears twice for token ${token}`)
    layers.push(layer)
  })
  for await (const buf of fileBuffers(path, what)) parser.feed(buf)
  parser.end()
  if (rows === 0) throw traceError('E_TRACE_CSV', `${what}: no data rows`)
  const moeLayers = [...layers].sort((a, b) => a - b)
  const header = checkTraceHeader(
    {
      model: options.model ?? basename(path).replace(/\.csv$/i, ''),
      arch: options.arch ?? 'unknown',
      nLayer: moeLayers[moeLayers.length - 1] + 1,
      moeLayers,
      nExpert: options.nExpert,
      k,
      nTokens: Math.floor(rows / moeLayers.length),
      hasWeights: false,
      source: {format: 'csv', file: basename(path), firstToken},
    },
    what,
  )
  if (rows % moeLayers.length !== 0) {
    // Some token lacks layers: a checking pass names it (and the line).
    for await (const _ of csvChunks(path, header, firstToken)) void _
    throw traceError(
      'E_TRACE_CSV',
      `${what}: ${rows} rows is not a whole number of tokens (${moeLayers.length} MoE layers per token, from token ${firstToken})`,
    )
  }
  return {path, format: 'csv', header, chunks: (o) => csvChunks(path, header, firstToken, o?.chunkTokens)}
}

async function* csvChunks(
  path: string,
  header: TraceHeader,
  firstToken: number,
  chunkTokens?: number,
): AsyncGenerator<TraceChunk, void, undefined> {
  const what = `trace ${path}`
  const {k, nExpert, moeLayers} = header
  const nMoe = moeLayers.length
  const perToken = nMoe * k
  const tokensPerChunk = Math.max(1, chunkTokens ?? Math.floor(CHUNK_BYTES / (perToken * 2)))
  const layerIndex = new Int32Array(moeLayers[nMoe - 1] + 1).fill(-1)
  moeLayers.forEach((l, i) => (layerIndex[l] = i))
  // Chunks completed while parsing one input buffer are handed out after it; their buffers
  // return to the pool once the consumer asks for the chunk after them.
  const pool: Uint16Array[] = []
  const take = () => pool.pop() ?? new Uint16Array(tokensPerChunk * perToken)
  const done: TraceChunk[] = []
  let buf = take()
  const filled = new Uint8Array(nMoe)
  const seen = new Int32Array(nExpert)
  let stamp = 0
  let inChunk = 0 // complete tokens in buf
  let token = firstToken // token being assembled
  let layersFilled = 0
  let emitted = 0

  const missingLayers = (line: number) => {
    const missing = moeLayers.filter((_, i) => !filled[i])
    const list = `layer${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`
    if (line < 0) return traceError('E_TRACE_CSV', `${what} is truncated: the last token, ${token}, lacks ${list}`)
    return traceError('E_TRACE_CSV', `${what}: line ${line}: token ${token} lacks ${list}`)
  }
  const completeToken = () => {
    filled.fill(0)
    layersFilled = 0
    inChunk++
    token++
    if (inChunk === tokensPerChunk) flushChunk()
  }
  const flushChunk = () => {
    if (inChunk === 0) return
    done.push({start: emitted, nTokens: inChunk, ids: buf.subarray(0, inChunk * perToken)})
    emitted += inChunk
    inChunk = 0
    buf = take()
  }
  const parser = csvRowParser(what, (t, layer, experts, count, line) => {
    if (t !== token) {
      if (layersFilled !== nMoe) throw missingLayers(line)
      if (t !== token + 1)
        throw traceError(
          'E_TRACE_CSV',
          `${what}: line ${line}: token ${t} follows token ${token}; rows must be grouped by token, tokens consecutive`,
        )
      completeToken()
    }
    const li = layer < layerIndex.length ? layerIndex[layer] : -1
    if (li < 0)
      throw traceError(
        'E_TRACE_CSV',
        `${what}: line ${line}: layer ${layer} is not one of the MoE layers of token ${firstToken} (${moeLayers.join(',')})`,
      )
    if (filled[li])
      throw traceError('E_TRACE_CSV', `${what}: line ${line}: layer ${layer} appears twice for token ${t}`)
    if (count !== k)
      throw traceError('E_TRACE_CSV', `${what}: line ${line}: ${count} experts, expected k = ${k} (from the first row)`)
    filled[li] = 1
    layersFilled++
    stamp++
    const base = inChunk * perToken + li * k
    for (let j = 0; j < k; j++) {
      const e = experts[j]
      if (e >= nExpert)
        throw traceError(
          'E_TRACE_DATA',
          `${what}: line ${line}: token ${t}, layer ${layer}: expert id ${e} is not below n_expert ${nExpert}`,
        )
      if (seen[e] === stamp)
        throw traceError('E_TRACE_DATA', `${what}: line ${line}: token ${t}, layer ${layer}: expert ${e} appears twice`)
      seen[e] = stamp
      buf[base + j] = e
    }
  })
  const handOut = function* () {
    while (done.length > 0) {
      const c = done.shift()!
      yield c
      pool.push(new Uint16Array(c.ids.buffer))
    }
  }
  for await (const bytes of fileBuffers(path, what)) {
    parser.feed(bytes)
    yield* handOut()
  }
  parser.end()
  if (layersFilled !== nMoe) throw missingLayers(-1)
  completeToken()
  flushChunk()
  yield* handOut()
  if (emitted !== header.nTokens)
    throw traceError(
      'E_TRACE_CSV',
      `${what}: ${emitted} tokens, expected ${header.nTokens} (file changed while reading?)`,
    )
}

/** Open a trace by content: MOETRACE magic → binary; otherwise CSV, which needs `nExpert`. */
export async function openTraceSource(path: string, options: Partial<CsvTraceOptions> = {}): Promise<TraceSource> {
  const fd = openForRead(path, 'trace')
  const magic = Buffer.alloc(8)
  try {
    readSync(fd, magic, 0, 8, 0)
  } finally {
    closeSync(fd)
  }
  if (magic.toString('latin1') === TRACE_MAGIC) return openTrace(path)
  if (options.nExpert === undefined) {
    throw traceError('E_USAGE', `trace ${path} is not a MOETRACE file; read as CSV it needs n_expert (--experts N)`)
  }
  return openCsvTrace(path, {...options, nExpert: options.nExpert})
}

// ---------------------------------------------------------------- conversions

/** CSV (`token,layer,experts`) → MOETRACE, streaming. Returns the header written. */
export async function csvToTrace(csvPath: string, tracePath: string, options: CsvTraceOptions): Promise<TraceHeader> {
  const src = await openCsvTrace(csvPath, options)
  const w = createTraceWriter(tracePath, src.header)
  try {
    for await (const c of src.chunks()) w.append(c.ids)
  } catch (e) {
    w.abort()
    throw e
  }
  w.close()
  return {...src.header, nTokens: w.nTokens}
}

/** The format an output path asks for: `.csv` → CSV, anything else → MOETRACE. */
export function traceFormatFor(path: string): 'csv' | 'moetrace' {
  return extname(path).toLowerCase() === '.csv' ? 'csv' : 'moetrace'
}

/**
 * `trace convert`: read either format (by content), write the format `to`. MOETRACE → MOETRACE
 * keeps the gate weights; CSV output drops them (the CSV format has none). Returns the header read.
 */
export async function convertTrace(
  input: string,
  output: string,
  to: 'csv' | 'moetrace',
  options: Partial<CsvTraceOptions> = {},
): Promise<TraceHeader> {
  if (to === 'csv') return traceToCsv(input, output, options)
  const src = await openTraceSource(input, options)
  const w = createTraceWriter(output, src.header)
  try {
    for await (const c of src.chunks()) w.append(c.ids, src.header.hasWeights ? c.weights : undefined)
  } catch (e) {
    w.abort()
    throw e
  }
  w.close()
  return {...src.header, nTokens: w.nTokens}
}

/**
 * MOETRACE (or CSV) → CSV with a header row, streaming, atomically (temp + rename). Token numbers
 * start at 0; `layer` is the block index. Weights are not part of the CSV format and are dropped.
 */
export async function traceToCsv(
  tracePath: string,
  csvPath: string,
  options: Partial<CsvTraceOptions> = {},
): Promise<TraceHeader> {
  const src = await openTraceSource(tracePath, options)
  const {k, moeLayers} = src.header
  const nMoe = moeLayers.length
  const perToken = nMoe * k
  const temp = startTemp(csvPath)
  const out = createWriteStream(temp.tmp)
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve)
    out.on('error', reject)
  })
  const write = (s: string) => (out.write(s) ? null : new Promise<void>((r) => out.once('drain', r)))
  try {
    let wait = write(`${CSV_HEADER}\n`)
    if (wait) await wait
    const layerText = moeLayers.map((l) => `,${l},`)
    for await (const c of src.chunks()) {
      const parts: string[] = []
      for (let t = 0; t < c.nTokens; t++) {
        const tok = String(c.start + t)
        for (let l = 0; l < nMoe; l++) {
          const base = t * perToken + l * k
          let ex = String(c.ids[base])
          for (let j = 1; j < k; j++) ex += ' ' + c.ids[base + j]
          parts.push(tok + layerText[l] + ex + '\n')
        }
      }
      wait = write(parts.join(''))
      if (wait) await wait
    }
    out.end()
    await closed
  } catch (e) {
    out.destroy()
    temp.abort()
    throw fileError(e, csvPath)
  }
  temp.commit()
  return src.header
}

/**
 * The same trace without its first `from` tokens (e.g. the prompt: `header.source.promptTokens`);
 * token indices restart at 0.
 */
export function skipTokens(src: TraceSource, from: number): TraceSource {
  if (from === 0) return src
  const h = src.header
  if (!Number.isInteger(from) || from < 0 || from >= h.nTokens) {
    throw traceError('E_USAGE', `trace ${src.path}: cannot start at token ${from} of ${h.nTokens}`)
  }
  const per = recordValues(h)
  return {
    path: src.path,
    format: src.format,
    header: {...h, nTokens: h.nTokens - from},
    async *chunks(options) {
      for await (const c of src.chunks(options)) {
        if (c.start + c.nTokens <= from) continue
        const skip = Math.max(0, from - c.start)
        yield {
          start: c.start + skip - from,
          nTokens: c.nTokens - skip,
          ids: c.ids.subarray(skip * per),
          weights: c.weights?.subarray(skip * per),
        }
      }
    },
  }
}

/** Prompt tokens recorded in a trace's provenance (`source.promptTokens`, written by `moerig run`), or null. */
export function promptTokens(h: TraceHeader): number | null {
  const n = (h.source as {promptTokens?: unknown} | undefined)?.promptTokens
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null
}
