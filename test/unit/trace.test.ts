import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync, statSync, existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {MoerigError} from '../../src/lib/errors.js'
import {
  createTraceWriter,
  csvToTrace,
  isMoetrace,
  openCsvTrace,
  openTrace,
  openTraceSource,
  readTraceHeader,
  recordBytes,
  traceToCsv,
  writeTrace,
  type TraceHeader,
  type TraceSource,
} from '../../src/trace/trace.js'
import {synthIds, tinyHeader} from '../support/reuse-synth.js'
import {tempDir} from '../support/tmp.js'

const dir = tempDir('moerig-trace-test-')

/** The tiny model's header with 5 blocks, MoE in 1, 2 and 4, top-3, 50 tokens. */
function header(over: Partial<TraceHeader> = {}): TraceHeader {
  return tinyHeader(50, {nLayer: 5, moeLayers: [1, 2, 4], k: 3, ...over})
}

async function readAll(
  src: TraceSource,
  chunkTokens?: number,
): Promise<{ids: number[]; weights: number[]; starts: number[]}> {
  const ids: number[] = []
  const weights: number[] = []
  const starts: number[] = []
  for await (const c of src.chunks({chunkTokens})) {
    starts.push(c.start)
    ids.push(...c.ids)
    if (c.weights) weights.push(...c.weights)
  }
  return {ids, weights, starts}
}

/** Expect a one-line MoerigError whose message matches `re`. */
async function rejectsOneLine(fn: () => unknown, re: RegExp, code?: string): Promise<void> {
  try {
    await fn()
  } catch (e) {
    assert.ok(e instanceof MoerigError, `expected MoerigError, got ${(e as Error).stack}`)
    assert.doesNotMatch(e.message, /\n/)
    assert.match(e.message, re)
    if (code) assert.equal(e.code, code)
    return
  }
  assert.fail(`expected an error matching ${re}`)
}

test('writeTrace → openTrace round-trips ids, in any chunk size', async () => {
  const h = header()
  const ids = synthIds({nMoe: 3, nExpert: 16, k: 3}, 50, {kind: 'uniform'}, 7)
  const p = join(dir, 'a.moetrace')
  writeTrace(p, h, ids)
  // Layout: 16-byte prefix, header, zero padding to 8, records.
  const buf = readFileSync(p)
  assert.equal(buf.toString('latin1', 0, 8), 'MOETRACE')
  assert.equal(buf.readUInt32LE(8), 1)
  const hLen = buf.readUInt32LE(12)
  assert.deepEqual(JSON.parse(buf.toString('utf8', 16, 16 + hLen)), h)
  const dataOffset = Math.ceil((16 + hLen) / 8) * 8
  assert.equal(buf.length, dataOffset + 50 * recordBytes(h))
  assert.equal(buf.readUInt16LE(dataOffset), ids[0])
  assert.deepEqual(readTraceHeader(p), h)
  for (const chunk of [undefined, 1, 7, 50, 1000]) {
    const got = await readAll(openTrace(p), chunk)
    assert.deepEqual(got.ids, [...ids])
    assert.equal(got.starts[0], 0)
  }
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
    'no temp files left',
  )
})

test('gate weights are interleaved per layer and read back', async () => {
  const h = header({hasWeights: true, nTokens: 9})
  const ids = synthIds({nMoe: 3, nExpert: 16, k: 3}, 9, {kind: 'uniform'}, 3)
  const weights = Float32Array.from(ids, (_, i) => i / 64)
  const p = join(dir, 'w.moetrace')
  writeTrace(p, h, ids, weights)
  const got = await readAll(openTrace(p), 4)
  assert.deepEqual(got.ids, [...ids])
  assert.deepEqual(got.weights, [...weights])
  await rejectsOneLine(() => writeTrace(join(dir, 'w2.moetrace'), h, ids), /hasWeights=true but weights were not given/)
})

test('createTraceWriter streams tokens and patches nTokens on close; abort leaves nothing', async () => {
  const p = join(dir, 'stream.moetrace')
  const w = createTraceWriter(p, header({nTokens: undefined as unknown as number}))
  const ids = synthIds({nMoe: 3, nExpert: 16, k: 3}, 1234, {kind: 'markov', p: 0.5}, 5)
  const per = 9
  for (let t = 0; t < 1234; t += 100) w.append(ids.subarray(t * per, Math.min(1234, t + 100) * per))
  assert.equal(existsSync(p), false, 'target appears only on close')
  assert.equal(w.close(), 1234)
  const src = openTrace(p)
  assert.equal(src.header.nTokens, 1234)
  assert.deepEqual((await readAll(src)).ids, [...ids])

  const q = join(dir, 'aborted.moetrace')
  const w2 = createTraceWriter(q, header())
  w2.append(ids.subarray(0, per))
  w2.abort()
  assert.equal(existsSync(q), false)
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
  )
})

test('CSV ↔ MOETRACE conversions round-trip', async () => {
  const h = header({nTokens: 40})
  const ids = synthIds({nMoe: 3, nExpert: 16, k: 3}, 40, {kind: 'uniform'}, 11)
  const bin = join(dir, 'c.moetrace')
  writeTrace(bin, h, ids)
  const csv = join(dir, 'c.csv')
  await traceToCsv(bin, csv)
  const text = readFileSync(csv, 'utf8')
  const lines = text.trimEnd().split('\n')
  assert.equal(lines[0], 'token,layer,experts')
  assert.equal(lines.length, 1 + 40 * 3)
  assert.equal(lines[1], `0,1,${ids[0]} ${ids[1]} ${ids[2]}`)
  assert.equal(lines[3], `0,4,${ids[6]} ${ids[7]} ${ids[8]}`)
  const back = join(dir, 'c2.moetrace')
  const h2 = await csvToTrace(csv, back, {nExpert: 16})
  assert.deepEqual(h2.moeLayers, [1, 2, 4])
  assert.equal(h2.k, 3)
  assert.equal(h2.nTokens, 40)
  assert.deepEqual((await readAll(openTrace(back))).ids, [...ids])
  // CSV read directly, CRLF line ends, rows of a token in any layer order, quoted experts.
  const crlf = join(dir, 'crlf.csv')
  const rows = lines.slice(1).map((l) => l.split(','))
  const shuffled = ['token,layer,experts']
  for (let t = 0; t < 40; t++) {
    const r = rows.slice(t * 3, t * 3 + 3).reverse()
    for (const [tok, layer, ex] of r) shuffled.push(`${tok},${layer},"${ex}"`)
  }
  writeFileSync(crlf, shuffled.join('\r\n') + '\r\n')
  for (const chunk of [1, 3, 100]) {
    const src = await openTraceSource(crlf, {nExpert: 16})
    assert.equal(src.format, 'csv')
    assert.deepEqual((await readAll(src, chunk)).ids, [...ids])
  }
})

test('malformed MOETRACE files fail with one clear line', async () => {
  const h = header({nTokens: 20})
  const ids = synthIds({nMoe: 3, nExpert: 16, k: 3}, 20, {kind: 'uniform'}, 2)
  const good = join(dir, 'good.moetrace')
  writeTrace(good, h, ids)
  const bytes = readFileSync(good)
  const hLen = bytes.readUInt32LE(12)
  const dataOffset = Math.ceil((16 + hLen) / 8) * 8
  const variant = (name: string, edit: (b: Buffer) => Buffer) => {
    const p = join(dir, name)
    writeFileSync(p, edit(Buffer.from(bytes)))
    return p
  }
  const withHeader = (obj: unknown) => {
    const json = Buffer.from(JSON.stringify(obj))
    const pre = Buffer.alloc(16)
    pre.write('MOETRACE', 0, 'latin1')
    pre.writeUInt32LE(1, 8)
    pre.writeUInt32LE(json.length, 12)
    const pad = Buffer.alloc((8 - ((16 + json.length) % 8)) % 8)
    return Buffer.concat([pre, json, pad, bytes.subarray(dataOffset)])
  }
  await rejectsOneLine(
    () => openTrace(variant('magic', (b) => (b.write('NOTATRAC', 0, 'latin1'), b))),
    /not a moerig trace/,
    'E_TRACE_MAGIC',
  )
  await rejectsOneLine(
    () => openTrace(variant('version', (b) => (b.writeUInt32LE(7, 8), b))),
    /format version 7/,
    'E_TRACE_VERSION',
  )
  await rejectsOneLine(
    () => openTrace(variant('json', (b) => (b.write('{', 16 + hLen - 1, 'latin1'), b))),
    /bad header: not valid JSON/,
    'E_TRACE_HEADER',
  )
  await rejectsOneLine(
    () => openTrace(variant('hugelen', (b) => (b.writeUInt32LE(0xfffffff0, 12), b))),
    /bad header: length/,
    'E_TRACE_HEADER',
  )
  await rejectsOneLine(
    () => openTrace(variant('nok', () => withHeader({...h, k: undefined}))),
    /missing required field "k"/,
    'E_TRACE_HEADER',
  )
  await rejectsOneLine(
    () => openTrace(variant('order', () => withHeader({...h, moeLayers: [2, 1, 4]}))),
    /strictly ascending/,
    'E_TRACE_HEADER',
  )
  await rejectsOneLine(
    () => openTrace(variant('nlayer', () => withHeader({...h, nLayer: 4}))),
    /MoE layer 4 is not below nLayer 4/,
    'E_TRACE_HEADER',
  )
  await rejectsOneLine(
    () => openTrace(variant('kbig', () => withHeader({...h, nExpert: 2}))),
    /k 3 exceeds nExpert 2/,
    'E_TRACE_HEADER',
  )
  // Wrong k in the header: the records no longer divide into tokens.
  await rejectsOneLine(
    () => openTrace(variant('wrongk', () => withHeader({...h, k: 4}))),
    /truncated: header says 20 tokens/,
    'E_TRACE_TRUNCATED',
  )
  // Truncated: a token and a half missing.
  const cut = variant('cut', (b) => b.subarray(0, b.length - recordBytes(h) - 5))
  await rejectsOneLine(
    () => openTrace(cut),
    /is truncated: header says 20 tokens .*\(18 whole tokens\)/,
    'E_TRACE_TRUNCATED',
  )
  await rejectsOneLine(() => openTrace(variant('short', (b) => b.subarray(0, 12))), /truncated/, 'E_TRACE_TRUNCATED')
  await rejectsOneLine(
    () => openTrace(variant('trailing', (b) => Buffer.concat([b, Buffer.alloc(3)]))),
    /3 bytes after the 20 tokens/,
    'E_TRACE_TRUNCATED',
  )
  // Id ≥ nExpert and a repeated expert: caught while streaming, naming token and layer.
  const badId = variant('badid', (b) => (b.writeUInt16LE(16, dataOffset + recordBytes(h) * 5 + 2 * 3), b))
  await rejectsOneLine(
    () => readAll(openTrace(badId)),
    /token 5, layer 2: expert id 16 is not below nExpert 16/,
    'E_TRACE_DATA',
  )
  const dup = variant('dup', (b) => (b.writeUInt16LE(b.readUInt16LE(dataOffset), dataOffset + 2), b))
  await rejectsOneLine(() => readAll(openTrace(dup)), /token 0, layer 1: expert \d+ appears twice/, 'E_TRACE_DATA')
  await rejectsOneLine(() => openTrace(join(dir, 'nope.moetrace')), /no such file/, 'E_FILE')
  await rejectsOneLine(
    () => writeTrace(join(dir, 'x.moetrace'), h, ids.subarray(1)),
    /ids given, header says 20 tokens/,
  )
  const bigIds = Uint16Array.from(ids)
  bigIds[4] = 99
  await rejectsOneLine(() => writeTrace(join(dir, 'y.moetrace'), h, bigIds), /token 0, layer 2: expert id 99/)
  assert.equal(existsSync(join(dir, 'y.moetrace')), false)
  assert.ok(statSync(good).size > 0)
})

test('malformed CSV traces fail with one clear line', async () => {
  const csv = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }
  const open = async (p: string) => readAll(await openCsvTrace(p, {nExpert: 8}))
  const ok = 'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 5\n1,2,0 7\n'
  assert.deepEqual((await open(csv('ok.csv', ok))).ids, [1, 2, 3, 4, 2, 5, 0, 7])
  // file name, content, the one line it must fail with, error code
  const bad: [string, string, RegExp, string][] = [
    ['nohead.csv', '0,1,1 2\n', /line 1: expected the header row "token,layer,experts"/, 'E_TRACE_CSV'],
    [
      'wrongk.csv',
      'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 5 6\n1,2,0 7\n',
      /line 4: 3 experts, expected k = 2/,
      'E_TRACE_CSV',
    ],
    [
      'idbig.csv',
      'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 8\n1,2,0 7\n',
      /line 4: token 1, layer 1: expert id 8 is not below n_expert 8/,
      'E_TRACE_DATA',
    ],
    ['dup.csv', 'token,layer,experts\n0,1,1 1\n0,2,3 4\n', /expert 1 appears twice/, 'E_TRACE_DATA'],
    [
      'missing.csv',
      'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 5\n2,1,0 7\n2,2,1 3\n',
      /line 5: token 1 lacks layer 2/,
      'E_TRACE_CSV',
    ],
    [
      'cut.csv',
      'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 5\n',
      /is truncated: the last token, 1, lacks layer 2/,
      'E_TRACE_CSV',
    ],
    [
      'gap.csv',
      'token,layer,experts\n0,1,1 2\n0,2,3 4\n2,1,2 5\n2,2,0 7\n',
      /line 4: token 2 follows token 0/,
      'E_TRACE_CSV',
    ],
    [
      'layer.csv',
      'token,layer,experts\n0,1,1 2\n0,2,3 4\n1,1,2 5\n1,3,0 7\n',
      /line 5: layer 3 is not one of the MoE layers/,
      'E_TRACE_CSV',
    ],
    ['cols.csv', 'token,layer,experts\n0,1\n', /line 2: expected three columns/, 'E_TRACE_CSV'],
    ['junk.csv', 'token,layer,experts\n0,1,1 x\n', /line 2: unexpected character "x"/, 'E_TRACE_CSV'],
  ]
  for (const [name, text, line, code] of bad) await rejectsOneLine(() => open(csv(name, text)), line, code)
  await rejectsOneLine(() => openTraceSource(csv('needn.csv', ok)), /needs n_expert \(--experts N\)/, 'E_USAGE')
})

test('skipTokens drops a prefix and renumbers; promptTokens reads the provenance', async () => {
  const {skipTokens, promptTokens} = await import('../../src/trace/trace.js')
  const h = header({nTokens: 30, source: {promptTokens: 7}})
  const ids = synthIds({nMoe: 3, nExpert: 16, k: 3}, 30, {kind: 'uniform'}, 9)
  const p = join(dir, 'skip.moetrace')
  writeTrace(p, h, ids)
  const src = openTrace(p)
  assert.equal(promptTokens(src.header), 7)
  assert.equal(promptTokens(header()), null)
  for (const chunk of [1, 4, 100]) {
    const s = skipTokens(src, 7)
    assert.equal(s.header.nTokens, 23)
    const got = await readAll(s, chunk)
    assert.deepEqual(got.ids, [...ids.subarray(7 * 9)])
    assert.equal(got.starts[0], 0)
  }
  await rejectsOneLine(() => skipTokens(src, 30), /cannot start at token 30 of 30/)
})

test('isMoetrace: by the magic, whatever the name; a folder or missing file is one line', async () => {
  const bin = join(dir, 'magic.csv')
  writeTrace(bin, header({nTokens: 2}), synthIds({nMoe: 3, nExpert: 16, k: 3}, 2, {kind: 'uniform'}))
  const csv = join(dir, 'magic.moetrace')
  writeFileSync(csv, 'token,layer,experts\n0,1,1 2 3\n')
  const short = join(dir, 'short.bin')
  writeFileSync(short, 'MOE')
  assert.equal(isMoetrace(bin), true)
  assert.equal(isMoetrace(csv), false)
  assert.equal(isMoetrace(short), false)
  await rejectsOneLine(() => isMoetrace(dir), /is a folder/, 'E_FILE')
  await rejectsOneLine(() => isMoetrace(join(dir, 'none')), /no such file/, 'E_FILE')
})
