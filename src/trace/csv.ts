/**
 * Reading CSV traces (`token,layer,experts`, experts space-separated in gate order): a byte-level
 * push parser and `openCsvTrace`, whose header is learnt in a first streaming pass and whose
 * `chunks()` re-parses and checks every row.
 */
import {createReadStream} from 'node:fs'
import {basename} from 'node:path'
import {readError} from '../lib/fs.js'
import {
  CHUNK_BYTES,
  checkTraceHeader,
  traceError,
  type TraceChunk,
  type TraceHeader,
  type TraceSource,
} from './format.js'

export interface CsvTraceOptions {
  /** n_expert: CSV carries no header, so the user says it (`--experts N`). */
  nExpert: number
  /** Name for the header's model field; default: the file name without extension. */
  model?: string
  arch?: string
}

export const CSV_HEADER = 'token,layer,experts'
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
  const tokens = new TokenAssembler(what, header, firstToken, chunkTokens)
  const parser = csvRowParser(what, (t, layer, experts, count, line) => tokens.row(t, layer, experts, count, line))
  for await (const bytes of fileBuffers(path, what)) {
    parser.feed(bytes)
    yield* tokens.handOut()
  }
  parser.end()
  tokens.finish()
  yield* tokens.handOut()
  if (tokens.emitted !== header.nTokens)
    throw traceError(
      'E_TRACE_CSV',
      `${what}: ${tokens.emitted} tokens, expected ${header.nTokens} (file changed while reading?)`,
    )
}

/**
 * Rows → whole tokens → chunks: checks each row against the header (same MoE layers per token,
 * k ids each, ids < nExpert and distinct, tokens grouped and consecutive) and fills chunk buffers.
 * Chunks completed while parsing one input buffer wait in `done` and are handed out after it;
 * their buffers return to the pool once the consumer asks for the chunk after them.
 */
class TokenAssembler {
  /** Tokens handed to chunks so far. */
  emitted = 0
  private readonly nMoe: number
  private readonly perToken: number
  private readonly tokensPerChunk: number
  /** Block index → position in moeLayers, -1 for a block that is not a MoE layer. */
  private readonly layerIndex: Int32Array
  private readonly pool: Uint16Array[] = []
  private readonly done: TraceChunk[] = []
  private buf: Uint16Array
  /** Complete tokens in buf. */
  private inChunk = 0
  /** The token being assembled, and which of its layers have a row. */
  private token: number
  private readonly filled: Uint8Array
  private layersFilled = 0
  /** Duplicate check: seen[e] === stamp when e already appeared in this (token, layer). */
  private readonly seen: Int32Array
  private stamp = 0

  constructor(
    private readonly what: string,
    private readonly header: TraceHeader,
    private readonly firstToken: number,
    chunkTokens?: number,
  ) {
    const {k, moeLayers} = header
    this.nMoe = moeLayers.length
    this.perToken = this.nMoe * k
    this.tokensPerChunk = Math.max(1, chunkTokens ?? Math.floor(CHUNK_BYTES / (this.perToken * 2)))
    this.layerIndex = new Int32Array(moeLayers[this.nMoe - 1] + 1).fill(-1)
    moeLayers.forEach((l, i) => (this.layerIndex[l] = i))
    this.buf = this.take()
    this.token = firstToken
    this.filled = new Uint8Array(this.nMoe)
    this.seen = new Int32Array(header.nExpert)
  }

  /** One CSV row: token t, block `layer`, `count` expert ids in `experts`, from line `line`. */
  row(t: number, layer: number, experts: Int32Array, count: number, line: number): void {
    const {what, header, nMoe} = this
    const {k, moeLayers} = header
    if (t !== this.token) {
      if (this.layersFilled !== nMoe) throw this.missingLayers(line)
      if (t !== this.token + 1)
        throw traceError(
          'E_TRACE_CSV',
          `${what}: line ${line}: token ${t} follows token ${this.token}; rows must be grouped by token, tokens consecutive`,
        )
      this.completeToken()
    }
    const li = layer < this.layerIndex.length ? this.layerIndex[layer] : -1
    if (li < 0)
      throw traceError(
        'E_TRACE_CSV',
        `${what}: line ${line}: layer ${layer} is not one of the MoE layers of token ${this.firstToken} (${moeLayers.join(',')})`,
      )
    if (this.filled[li])
      throw traceError('E_TRACE_CSV', `${what}: line ${line}: layer ${layer} appears twice for token ${t}`)
    if (count !== k)
      throw traceError('E_TRACE_CSV', `${what}: line ${line}: ${count} experts, expected k = ${k} (from the first row)`)
    this.filled[li] = 1
    this.layersFilled++
    // ids below nExpert and distinct, copied into the chunk buffer
    const {seen, buf} = this
    const nExpert = header.nExpert
    const stamp = ++this.stamp
    const base = this.inChunk * this.perToken + li * k
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
  }

  /** At EOF: the last token must be whole; it and any partial chunk are handed out. */
  finish(): void {
    if (this.layersFilled !== this.nMoe) throw this.missingLayers(-1)
    this.completeToken()
    this.flushChunk()
  }

  /** The chunks completed so far, in order; each chunk's buffer is reused once the next is asked for. */
  *handOut(): Generator<TraceChunk, void, undefined> {
    while (this.done.length > 0) {
      const c = this.done.shift()!
      yield c
      this.pool.push(new Uint16Array(c.ids.buffer))
    }
  }

  private missingLayers(line: number) {
    const missing = this.header.moeLayers.filter((_, i) => !this.filled[i])
    const list = `layer${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`
    if (line < 0)
      return traceError('E_TRACE_CSV', `${this.what} is truncated: the last token, ${this.token}, lacks ${list}`)
    return traceError('E_TRACE_CSV', `${this.what}: line ${line}: token ${this.token} lacks ${list}`)
  }

  private completeToken(): void {
    this.filled.fill(0)
    this.layersFilled = 0
    this.inChunk++
    this.token++
    if (this.inChunk === this.tokensPerChunk) this.flushChunk()
  }

  private flushChunk(): void {
    if (this.inChunk === 0) return
    this.done.push({
      start: this.emitted,
      nTokens: this.inChunk,
      ids: this.buf.subarray(0, this.inChunk * this.perToken),
    })
    this.emitted += this.inChunk
    this.inChunk = 0
    this.buf = this.take()
  }

  private take(): Uint16Array {
    return this.pool.pop() ?? new Uint16Array(this.tokensPerChunk * this.perToken)
  }
}
