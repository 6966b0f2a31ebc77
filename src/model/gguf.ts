/**
 * GGUF header reader: metadata and tensor table of a (possibly split) GGUF, reading only headers.
 *
 * Why not @huggingface/gguf (0.4.6, installed)? It does read local files (allowLocalFile), split
 * models (ggufAllShards) and knows every v0.4.0 type, and it caps the tensor count (10 M). But,
 * tried on a moerig synth file: it accepts a tensor of ggml type 77 and a tensor data offset of
 * 2^62 without a word, so native code would be the first to notice; it gives no tensor byte
 * sizes (only a bits-per-weight table); it does not check offsets against the file, ne0 against
 * the block size, duplicates or nested arrays; and its errors are plain Errors that do not name
 * the file. Planning and the runner need exact bytes and one-line E_GGUF_* errors before any
 * native call, so this reader is small and checks every count, length and offset against the
 * bytes the file actually has, before it allocates or seeks.
 *
 * Format (ggml/include/gguf.h, v0.4.0, little-endian):
 *   magic "GGUF" u32 version (2|3) u64 n_tensors u64 n_kv
 *   n_kv × { string key, u32 type, value }           string = u64 len + bytes; array = u32 type, u64 n, n × value
 *   n_tensors × { string name, u32 n_dims, n_dims × i64 ne, u32 ggml_type, u64 offset }
 *   pad to general.alignment (default 32), then the data section; offsets are relative to it.
 * Checks mirror gguf.cpp's (so native code never sees a file that TS accepted and llama.cpp would
 * reject): version, GGUF_MAX_ARRAY_ELEMENTS, no nested arrays, duplicate keys/names, name < 64
 * bytes, n_dims ≤ 4, known type, ne0 % block == 0, power-of-two alignment, tensor offsets laid out
 * back to back, each padded to the alignment. We add: the data must lie inside the file.
 */
import {open, stat, type FileHandle} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {readError} from '../lib/fs.js'
import {GGML_TYPE_COUNT, ggmlTypeById, type GgmlType} from './ggml-types.js'

/** Value types of GGUF metadata (enum gguf_type). */
const enum GT {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}
const SCALAR_SIZE: Record<number, number> = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
/** Little-endian readers of the numeric value types (64-bit integers beyond 2^53 as decimal strings). */
const SCALAR_READ: Record<number, (b: Buffer, o: number) => number | string> = {
  [GT.U8]: (b, o) => b.readUInt8(o),
  [GT.I8]: (b, o) => b.readInt8(o),
  [GT.U16]: (b, o) => b.readUInt16LE(o),
  [GT.I16]: (b, o) => b.readInt16LE(o),
  [GT.U32]: (b, o) => b.readUInt32LE(o),
  [GT.I32]: (b, o) => b.readInt32LE(o),
  [GT.F32]: (b, o) => b.readFloatLE(o),
  [GT.U64]: (b, o) => safeNumber(b.readBigUInt64LE(o)),
  [GT.I64]: (b, o) => safeNumber(b.readBigInt64LE(o)),
  [GT.F64]: (b, o) => b.readDoubleLE(o),
}
const GT_NAME = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64']

/** gguf.cpp: GGUF_MAX_ARRAY_ELEMENTS = 1 Gi. */
const MAX_ARRAY_ELEMENTS = 1024 ** 3
/** Ours: the longest single string we accept (gguf.cpp allows 1 GiB; real chat templates are KBs). */
const MAX_STRING_BYTES = 64 * 1024 ** 2
/** Ours: the whole header (metadata + tensor table). R1's is ≈ 10 MB (129 k tokens + 127 k merges). */
const MAX_HEADER_BYTES = 512 * 1024 ** 2
/** ggml.h GGML_MAX_NAME (names must be shorter) and GGML_MAX_DIMS. */
const MAX_NAME = 64
const MAX_DIMS = 4
/** gguf.h GGUF_DEFAULT_ALIGNMENT. */
const DEFAULT_ALIGNMENT = 32
/** Ours: plausibility caps on the header's counts (R1: 1086 tensors, ~50 keys; the largest MoE GGUFs have < 20 k tensors). */
const MAX_TENSORS = 1_000_000
const MAX_KEYS = 100_000
/** Smallest possible encodings, used to reject counts the file cannot hold. */
const MIN_KV_BYTES = 8 + 4 + 1 // empty key, type, one-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8 // empty name, n_dims 0, type, offset
/** Arrays longer than this are summarised in `metadata` instead of materialised (tokenizer tables). */
export const MAX_INLINE_ARRAY = 4096
/** Read granularity of the buffered reader. */
const CHUNK = 1024 * 1024
/** Most shards a split can have (llama.cpp's split naming is 5 digits). */
const MAX_SHARDS = 99999

export interface GgufArraySummary {
  array: string
  length: number
}

export interface GgufTensor {
  name: string
  /** ggml ne order: shape[0] is the contiguous row length. */
  shape: number[]
  /** enum ggml_type id */
  type: number
  typeName: string
  bytes: number
  /** absolute byte position of the tensor data in its shard file */
  offset: number
  /** index into `shards` */
  shard: number
}

export interface GgufShard {
  path: string
  fileBytes: number
  version: number
  alignment: number
  /** bytes before the data section (header + padding) */
  dataOffset: number
  tensorCount: number
}

export interface GgufModel {
  /** the path given (any shard of a split, or a single file) */
  path: string
  shards: string[]
  shardInfo: GgufShard[]
  /** sum of shard file sizes */
  fileBytes: number
  /** general.architecture */
  arch: string
  /** metadata of the first shard; numbers as JS numbers (u64 beyond 2^53 as decimal strings); long arrays summarised */
  metadata: Record<string, unknown>
  tensors: GgufTensor[]
  /** sum of tensor data bytes */
  tensorBytes: number
}

export interface ReadGgufOptions {
  /** Materialise every array, however long (tokenizer tables); default false. */
  fullArrays?: boolean
}

const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/

/** The shard paths of a split GGUF (`…-00001-of-00009.gguf`), or [path] for a single file. */
export function shardPaths(path: string): string[] {
  const m = SPLIT_RE.exec(basename(path))
  if (!m) return [path]
  const count = Number(m[3])
  if (count < 1 || count > MAX_SHARDS || Number(m[2]) < 1 || Number(m[2]) > count) {
    throw new MoerigError('E_GGUF_SHARD', `${path}: split name says shard ${Number(m[2])} of ${count}`)
  }
  const dir = dirname(path)
  const out: string[] = []
  for (let i = 1; i <= count; i++) out.push(join(dir, `${m[1]}-${String(i).padStart(5, '0')}-of-${m[3]}.gguf`))
  return out
}

/** Buffered little-endian reader over a file handle; every read is bounded by the file size. */
class HeaderReader {
  private buf = Buffer.alloc(0)
  private bufStart = 0
  pos = 0

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly path: string,
  ) {}

  fail(code: string, what: string): never {
    throw new MoerigError(code, `${this.path}: ${what}`)
  }

  get remaining(): number {
    return this.size - this.pos
  }

  private async need(n: number, what: string): Promise<void> {
    if (n > this.remaining)
      this.fail(
        'E_GGUF_TRUNCATED',
        `truncated header: ${what} at byte ${this.pos} needs ${n} bytes, file has ${this.remaining} left`,
      )
    if (this.pos + n > MAX_HEADER_BYTES)
      this.fail('E_GGUF_HEADER', `header larger than ${MAX_HEADER_BYTES / 1024 ** 2} MiB (at ${what})`)
    const end = this.bufStart + this.buf.length
    if (this.pos >= this.bufStart && this.pos + n <= end) return
    const len = Math.min(Math.max(n, CHUNK), this.size - this.pos)
    const b = Buffer.allocUnsafe(len)
    let got = 0
    while (got < len) {
      const {bytesRead} = await this.fh.read(b, got, len - got, this.pos + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    if (got < n) this.fail('E_GGUF_TRUNCATED', `truncated header: short read at byte ${this.pos}`)
    this.buf = b.subarray(0, got)
    this.bufStart = this.pos
  }

  private off(): number {
    return this.pos - this.bufStart
  }

  async u32(what: string): Promise<number> {
    await this.need(4, what)
    const v = this.buf.readUInt32LE(this.off())
    this.pos += 4
    return v
  }

  async u64(what: string): Promise<bigint> {
    await this.need(8, what)
    const v = this.buf.readBigUInt64LE(this.off())
    this.pos += 8
    return v
  }

  async i64(what: string): Promise<bigint> {
    await this.need(8, what)
    const v = this.buf.readBigInt64LE(this.off())
    this.pos += 8
    return v
  }

  /** A length-prefixed string; `decode` false skips the bytes (after the same checks). */
  async str(what: string, decode = true): Promise<string> {
    const len = await this.u64(`${what} length`)
    if (len > BigInt(MAX_STRING_BYTES))
      this.fail('E_GGUF_STRING', `${what} has absurd length ${len} (limit ${MAX_STRING_BYTES})`)
    const n = Number(len)
    if (n > this.remaining)
      this.fail(
        'E_GGUF_TRUNCATED',
        `truncated header: ${what} of ${n} bytes at byte ${this.pos}, file has ${this.remaining} left`,
      )
    if (!decode) {
      this.pos += n
      return ''
    }
    await this.need(n, what)
    const s = this.buf.toString('utf8', this.off(), this.off() + n)
    this.pos += n
    return s
  }

  /**
   * Skip n length-prefixed strings (summarised tokenizer tables: R1 has 257 k of them) with the
   * same checks as str(), parsing synchronously while the buffer holds them.
   */
  async skipStrings(n: number, what: string): Promise<void> {
    let i = 0
    while (i < n) {
      await this.need(8, `${what} element ${i} length`)
      for (; i < n; i++) {
        const off = this.pos - this.bufStart
        if (off + 8 > this.buf.length) break
        const lo = this.buf.readUInt32LE(off)
        const hi = this.buf.readUInt32LE(off + 4)
        const len = hi * 0x100000000 + lo
        if (hi >= 0x200000 || len > MAX_STRING_BYTES)
          this.fail(
            'E_GGUF_STRING',
            `${what} element ${i} has absurd length ${BigInt(hi) * 0x100000000n + BigInt(lo)} (limit ${MAX_STRING_BYTES})`,
          )
        if (8 + len > this.remaining)
          this.fail(
            'E_GGUF_TRUNCATED',
            `truncated header: ${what} element ${i} of ${len} bytes at byte ${this.pos + 8}, file has ${this.remaining - 8} left`,
          )
        if (this.pos + 8 + len > MAX_HEADER_BYTES)
          this.fail('E_GGUF_HEADER', `header larger than ${MAX_HEADER_BYTES / 1024 ** 2} MiB (at ${what})`)
        this.pos += 8 + len
      }
    }
  }

  async scalar(type: number, what: string): Promise<number | bigint | boolean | string> {
    switch (type) {
      case GT.STRING:
        return this.str(what)
      case GT.BOOL: {
        await this.need(1, what)
        const v = this.buf.readInt8(this.off())
        this.pos += 1
        return v !== 0
      }
      default: {
        const read = SCALAR_READ[type]
        if (!read) return this.fail('E_GGUF_VALUE', `${what} has invalid value type ${type}`)
        const size = SCALAR_SIZE[type]
        await this.need(size, what)
        const v = read(this.buf, this.off())
        this.pos += size
        return v
      }
    }
  }
}

/** A name from the file, made safe for a one-line message: JSON-quoted (control bytes escaped), cut at 80 chars. */
function q(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)
}

function safeNumber(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString()
}

function validValueType(t: number): boolean {
  return Number.isInteger(t) && t >= 0 && t <= GT.F64
}

async function readValue(r: HeaderReader, key: string, fullArrays: boolean): Promise<unknown> {
  const type = await r.u32(`type of key ${q(key)}`)
  if (!validValueType(type)) r.fail('E_GGUF_VALUE', `key ${q(key)} has invalid GGUF value type ${type}`)
  if (type !== GT.ARRAY) return r.scalar(type, `value of key ${q(key)}`)
  const itemType = await r.u32(`array type of key ${q(key)}`)
  if (!validValueType(itemType) || itemType === GT.ARRAY) {
    r.fail(
      'E_GGUF_VALUE',
      `key ${q(key)} has invalid array element type ${itemType}${itemType === GT.ARRAY ? ' (nested arrays are not allowed)' : ''}`,
    )
  }
  const n64 = await r.u64(`array length of key ${q(key)}`)
  const minItem = itemType === GT.STRING ? 8 : SCALAR_SIZE[itemType]
  if (n64 > BigInt(MAX_ARRAY_ELEMENTS) || n64 * BigInt(minItem) > BigInt(r.remaining)) {
    r.fail('E_GGUF_COUNT', `key ${q(key)} claims ${n64} array elements, more than the file can hold`)
  }
  const n = Number(n64)
  const inline = fullArrays || n <= MAX_INLINE_ARRAY
  if (!inline && itemType !== GT.STRING) {
    r.pos += n * minItem
    return {array: GT_NAME[itemType], length: n} satisfies GgufArraySummary
  }
  if (!inline) {
    await r.skipStrings(n, `array of key ${q(key)}`)
    return {array: GT_NAME[itemType], length: n} satisfies GgufArraySummary
  }
  const out: unknown[] = new Array(n)
  for (let i = 0; i < n; i++) {
    if (itemType === GT.STRING) {
      out[i] = await r.str(`element ${i} of key ${q(key)}`)
    } else {
      out[i] = await r.scalar(itemType, `element ${i} of key ${q(key)}`)
    }
  }
  return out
}

interface ShardHeader {
  info: GgufShard
  metadata: Record<string, unknown>
  tensors: Array<Omit<GgufTensor, 'shard'>>
}

/** The tensor-info entry as read, before its offset is checked against the layout. */
interface RawTensor {
  name: string
  shape: number[]
  type: number
  typeName: string
  bytes: number
  /** offset relative to the data section */
  rel: bigint
}

async function openShard(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r')
  } catch (e) {
    throw readError(e, path, 'E_GGUF_FILE')
  }
}

/** Magic, version and the two counts, each checked against what llama.cpp accepts and the file can hold. */
async function readPreamble(r: HeaderReader): Promise<{version: number; nTensors: number; nKv: number}> {
  if (r.size < 4) r.fail('E_GGUF_TRUNCATED', `truncated header: ${r.size} bytes, not even a magic`)
  const magic = await r.u32('magic')
  if (magic !== 0x46554747) {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(magic)
    r.fail('E_GGUF_MAGIC', `not a GGUF file (magic ${JSON.stringify(b.toString('latin1'))}, expected "GGUF")`)
  }
  const version = await r.u32('version')
  if (version === 1) r.fail('E_GGUF_VERSION', 'GGUF version 1 is no longer supported by llama.cpp')
  if ((version & 0xffff) === 0 && version !== 0)
    r.fail('E_GGUF_VERSION', `GGUF version ${version} looks byte-swapped (big-endian file?)`)
  if (version < 2 || version > 3)
    r.fail('E_GGUF_VERSION', `unsupported GGUF version ${version} (llama.cpp v0.4.0 reads 2 and 3)`)

  const nTensors = await r.u64('tensor count')
  const nKv = await r.u64('metadata key count')
  if (nTensors > BigInt(MAX_TENSORS)) r.fail('E_GGUF_COUNT', `absurd tensor count ${nTensors} (limit ${MAX_TENSORS})`)
  if (nKv > BigInt(MAX_KEYS)) r.fail('E_GGUF_COUNT', `absurd metadata key count ${nKv} (limit ${MAX_KEYS})`)
  if (nTensors * BigInt(MIN_TENSOR_INFO_BYTES) + nKv * BigInt(MIN_KV_BYTES) > BigInt(r.remaining)) {
    r.fail(
      'E_GGUF_TRUNCATED',
      `truncated header: ${nKv} keys and ${nTensors} tensor infos cannot fit in the ${r.size}-byte file`,
    )
  }
  return {version, nTensors: Number(nTensors), nKv: Number(nKv)}
}

async function readMetadata(r: HeaderReader, nKv: number, fullArrays: boolean): Promise<Record<string, unknown>> {
  const metadata: Record<string, unknown> = Object.create(null)
  for (let i = 0; i < nKv; i++) {
    const key = await r.str(`key ${i}`)
    if (key in metadata) r.fail('E_GGUF_DUPLICATE', `duplicate metadata key ${q(key)}`)
    metadata[key] = await readValue(r, key, fullArrays)
  }
  return metadata
}

/** general.alignment (a power of 2), else GGUF's default. */
function alignmentOf(r: HeaderReader, metadata: Record<string, unknown>): number {
  if (!('general.alignment' in metadata)) return DEFAULT_ALIGNMENT
  const a = metadata['general.alignment']
  if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
    r.fail('E_GGUF_ALIGNMENT', `general.alignment ${JSON.stringify(a)} is not a power of 2`)
  }
  return a
}

/** A tensor's dimensions (at most MAX_DIMS, none negative) and its element count. */
async function readShape(r: HeaderReader, name: string): Promise<{shape: number[]; elems: bigint}> {
  const nDims = await r.u32(`dimension count of tensor ${q(name)}`)
  if (nDims > MAX_DIMS) r.fail('E_GGUF_SHAPE', `tensor ${q(name)} has ${nDims} dimensions (at most ${MAX_DIMS})`)
  const shape: number[] = []
  let elems = 1n
  for (let d = 0; d < nDims; d++) {
    const ne = await r.i64(`dimension ${d} of tensor ${q(name)}`)
    if (ne < 0n) r.fail('E_GGUF_SHAPE', `tensor ${q(name)} dimension ${d} is negative (${ne})`)
    elems *= ne
    if (elems > BigInt(Number.MAX_SAFE_INTEGER))
      r.fail('E_GGUF_SHAPE', `tensor ${q(name)} has an absurd element count (dimension ${d} = ${ne})`)
    shape.push(Number(ne))
  }
  return {shape, elems}
}

/** A known ggml type whose block divides the row length. */
function tensorType(r: HeaderReader, name: string, type: number, ne0: number): GgmlType {
  const gt = ggmlTypeById.get(type)
  if (!gt) {
    r.fail(
      'E_GGUF_TYPE',
      `tensor ${q(name)} has unknown ggml type ${type}${type < GGML_TYPE_COUNT ? ' (removed from GGUF)' : ` (llama.cpp v0.4.0 knows 0..${GGML_TYPE_COUNT - 1})`}`,
    )
  }
  if (ne0 % gt.blockSize !== 0) {
    r.fail(
      'E_GGUF_SHAPE',
      `tensor ${q(name)} of type ${gt.name} has ${ne0} elements per row, not a multiple of its block size ${gt.blockSize}`,
    )
  }
  return gt
}

/** Tensor info i: a short unique name, its shape, type and data offset. */
async function readTensorInfo(r: HeaderReader, i: number, names: Set<string>): Promise<RawTensor> {
  const name = await r.str(`name of tensor ${i}`)
  if (Buffer.byteLength(name) >= MAX_NAME)
    r.fail('E_GGUF_NAME', `tensor ${i} name is ${Buffer.byteLength(name)} bytes (llama.cpp allows < ${MAX_NAME})`)
  if (names.has(name)) r.fail('E_GGUF_DUPLICATE', `duplicate tensor name ${q(name)}`)
  names.add(name)
  const {shape, elems} = await readShape(r, name)
  const type = await r.u32(`type of tensor ${q(name)}`)
  const gt = tensorType(r, name, type, shape[0] ?? 1)
  const bytes = Number((elems / BigInt(gt.blockSize)) * BigInt(gt.bytesPerBlock))
  const rel = await r.u64(`offset of tensor ${q(name)}`)
  return {name, shape, type, typeName: gt.name, bytes, rel}
}

/**
 * Absolute offsets: tensors lie back to back from the data section on, each padded to the
 * alignment, and every one ends inside the file.
 */
function layoutTensors(
  r: HeaderReader,
  raw: RawTensor[],
  dataOffset: number,
  alignment: number,
): Array<Omit<GgufTensor, 'shard'>> {
  let expected = 0n
  const tensors: Array<Omit<GgufTensor, 'shard'>> = []
  for (const t of raw) {
    if (t.rel !== expected) {
      r.fail(
        'E_GGUF_OFFSET',
        `tensor ${q(t.name)} has data offset ${t.rel}, expected ${expected} (tensors must be laid out back to back, padded to ${alignment})`,
      )
    }
    const end = BigInt(dataOffset) + t.rel + BigInt(t.bytes)
    if (end > BigInt(r.size)) {
      r.fail(
        'E_GGUF_TRUNCATED',
        `tensor ${q(t.name)} data ends at byte ${end} but the file has ${r.size} bytes (truncated download?)`,
      )
    }
    const {rel, ...info} = t
    tensors.push({...info, offset: dataOffset + Number(rel)})
    expected += BigInt(Math.ceil(t.bytes / alignment) * alignment)
  }
  return tensors
}

async function readShard(path: string, fullArrays: boolean): Promise<ShardHeader> {
  const fh = await openShard(path)
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw new MoerigError('E_GGUF_FILE', `${path}: not a regular file`)
    const r: HeaderReader = new HeaderReader(fh, st.size, path)
    const {version, nTensors, nKv} = await readPreamble(r)
    const metadata = await readMetadata(r, nKv, fullArrays)
    const alignment = alignmentOf(r, metadata)
    const names = new Set<string>()
    const raw: RawTensor[] = []
    for (let i = 0; i < nTensors; i++) raw.push(await readTensorInfo(r, i, names))
    // The data section starts at the header's end padded to the alignment.
    const dataOffset = Math.ceil(r.pos / alignment) * alignment
    const tensors = layoutTensors(r, raw, dataOffset, alignment)
    return {info: {path, fileBytes: st.size, version, alignment, dataOffset, tensorCount: nTensors}, metadata, tensors}
  } finally {
    await fh.close()
  }
}

function num(meta: Record<string, unknown>, key: string): number | undefined {
  const v = meta[key]
  return typeof v === 'number' ? v : undefined
}

/** Every shard must exist and be a file: a missing shard is a user error worth naming before any parsing. */
async function checkShardFiles(paths: string[]): Promise<void> {
  for (const p of paths) {
    try {
      const s = await stat(p)
      if (!s.isFile()) throw new MoerigError('E_GGUF_FILE', `${p}: not a regular file`)
    } catch (e) {
      if (e instanceof MoerigError) throw e
      const code = (e as NodeJS.ErrnoException).code
      if (paths.length > 1 && code === 'ENOENT') {
        throw new MoerigError(
          'E_GGUF_SHARD',
          `${p}: missing shard ${paths.indexOf(p) + 1} of ${paths.length} of split model ${basename(paths[0])}`,
        )
      }
      throw readError(e, p, 'E_GGUF_FILE')
    }
  }
}

/** split.count and split.no must agree with the file names (llama.cpp's llama_model_loader checks the same). */
function checkSplitKeys(path: string, paths: string[], headers: ShardHeader[]): void {
  const splitCount = num(headers[0].metadata, 'split.count')
  if (splitCount !== undefined && splitCount > 1 && splitCount !== paths.length) {
    throw new MoerigError(
      'E_GGUF_SHARD',
      `${path}: split.count is ${splitCount} but the file name names ${paths.length} shard(s)`,
    )
  }
  for (let i = 1; i < headers.length; i++) {
    const no = num(headers[i].metadata, 'split.no')
    if (no !== undefined && no !== i)
      throw new MoerigError('E_GGUF_SHARD', `${paths[i]}: split.no is ${no}, expected ${i}`)
  }
}

/** All shards' tensors in order, each name once; split.tensors.count must match. */
function mergeTensors(path: string, paths: string[], headers: ShardHeader[]): GgufTensor[] {
  const tensors: GgufTensor[] = []
  const seen = new Set<string>()
  headers.forEach((h, shard) => {
    for (const t of h.tensors) {
      if (seen.has(t.name))
        throw new MoerigError(
          'E_GGUF_DUPLICATE',
          `${paths[shard]}: tensor ${q(t.name)} also appears in an earlier shard`,
        )
      seen.add(t.name)
      tensors.push({...t, shard})
    }
  })
  const declared = num(headers[0].metadata, 'split.tensors.count')
  if (declared !== undefined && paths.length > 1 && declared !== tensors.length) {
    throw new MoerigError(
      'E_GGUF_SHARD',
      `${path}: split.tensors.count is ${declared} but the shards hold ${tensors.length} tensors`,
    )
  }
  return tensors
}

/**
 * Read the header of a GGUF (single file or any shard of a split): metadata of the first shard,
 * all tensors of all shards. Never reads tensor data. Every problem is one MoerigError line
 * (code E_GGUF_*) naming the file.
 */
export async function readGguf(path: string, options: ReadGgufOptions = {}): Promise<GgufModel> {
  const fullArrays = options.fullArrays ?? false
  const paths = shardPaths(path)
  await checkShardFiles(paths)
  const headers: ShardHeader[] = []
  for (const p of paths) headers.push(await readShard(p, fullArrays && p === paths[0]))
  const metadata = headers[0].metadata
  checkSplitKeys(path, paths, headers)
  const arch = metadata['general.architecture']
  if (typeof arch !== 'string' || arch === '')
    throw new MoerigError('E_GGUF_ARCH', `${paths[0]}: no general.architecture string in the header`)
  const tensors = mergeTensors(path, paths, headers)
  return {
    path,
    shards: paths,
    shardInfo: headers.map((h) => h.info),
    fileBytes: headers.reduce((s, h) => s + h.info.fileBytes, 0),
    arch,
    metadata: {...metadata},
    tensors,
    tensorBytes: tensors.reduce((s, t) => s + t.bytes, 0),
  }
}
