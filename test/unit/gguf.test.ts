import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {readGguf, shardPaths} from '../../src/model/gguf.js'
import {ggmlTypeById, ggmlTypeByName, tensorBytes} from '../../src/model/ggml-types.js'
import {MoerigError} from '../../src/lib/errors.js'
import {ggufHeader, str, u16, u32, writeGguf, type TensorSpec} from '../fixtures/gguf/writer.js'
import {tempDir} from '../support/tmp.js'

const dir = tempDir('moerig-gguf-')

function spec(name: string, shape: number[], typeName: string): TensorSpec {
  const t = ggmlTypeByName.get(typeName)!
  return {name, shape, type: t.id, bytes: tensorBytes(shape, t)!}
}

const tinyTensors = [
  spec('token_embd.weight', [256, 1000], 'Q4_K'),
  spec('output_norm.weight', [256], 'F32'),
  spec('blk.0.ffn_down_exps.weight', [512, 256, 8], 'Q6_K'),
  spec('blk.0.attn_k_b.weight', [128, 64, 4], 'Q5_0'),
  spec('blk.0.odd.weight', [64, 3], 'NVFP4'),
  spec('blk.0.q2.weight', [64, 3], 'Q2_0'),
]
const tinyKv = {
  'general.architecture': str('deepseek2'),
  'general.name': str('tiny'),
  'deepseek2.block_count': u32(1),
  'tokenizer.ggml.tokens': {type: 'array', itemType: 'string', value: Array.from({length: 5000}, (_, i) => `t${i}`)},
  'deepseek2.small': {type: 'array', itemType: 'i32', value: [1, -2, 3]},
} as const

async function expectGgufError(path: string, code: RegExp | string, msg?: RegExp) {
  await assert.rejects(readGguf(path), (e: unknown) => {
    assert.ok(e instanceof MoerigError, `not a MoerigError: ${e}`)
    if (typeof code === 'string') assert.equal(e.code, code, e.message)
    else assert.match(e.code, code)
    assert.ok(!e.message.includes('\n'), 'one line')
    assert.ok(e.message.includes(path) || e.message.includes('.gguf'), `names the file: ${e.message}`)
    if (msg) assert.match(e.message, msg)
    return true
  })
}

test('ggml type table: real block sizes', () => {
  assert.equal(ggmlTypeById.get(12)!.name, 'Q4_K')
  assert.equal(tensorBytes([7168, 2048, 256], ggmlTypeByName.get('Q4_K')!), (7168 / 256) * 144 * 2048 * 256)
  assert.equal(tensorBytes([128, 512, 128], ggmlTypeByName.get('Q4_K')!), null)
  assert.equal(ggmlTypeByName.get('Q2_0')!.blockSize, 64)
  assert.equal(ggmlTypeById.get(4), undefined)
})

test('reads a single-file header: metadata, tensors, offsets, long arrays summarised', async () => {
  const p = join(dir, 'tiny.gguf')
  const size = writeGguf(p, tinyKv as never, tinyTensors)
  const m = await readGguf(p)
  assert.equal(m.arch, 'deepseek2')
  assert.equal(m.fileBytes, size)
  assert.deepEqual(m.shards, [p])
  assert.equal(m.metadata['deepseek2.block_count'], 1)
  assert.deepEqual(m.metadata['deepseek2.small'], [1, -2, 3])
  assert.deepEqual(m.metadata['tokenizer.ggml.tokens'], {array: 'string', length: 5000})
  assert.equal(m.tensors.length, tinyTensors.length)
  assert.deepEqual(
    m.tensors.map((t) => t.typeName),
    ['Q4_K', 'F32', 'Q6_K', 'Q5_0', 'NVFP4', 'Q2_0'],
  )
  assert.equal(
    m.tensorBytes,
    tinyTensors.reduce((s, t) => s + t.bytes, 0),
  )
  assert.equal(m.tensors[0].offset % 32, 0)
  assert.equal(m.tensors[1].offset, m.tensors[0].offset + Math.ceil(tinyTensors[0].bytes / 32) * 32)
  const full = await readGguf(p, {fullArrays: true})
  assert.equal((full.metadata['tokenizer.ggml.tokens'] as string[])[4999], 't4999')
})

function writeSplit(base: string, count: number, perShard: TensorSpec[][]): string[] {
  const paths: string[] = []
  const total = perShard.flat().length
  for (let i = 0; i < count; i++) {
    const p = join(dir, `${base}-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`)
    const kv: Record<string, ReturnType<typeof str>> = {}
    if (i === 0) kv['general.architecture'] = str('deepseek2')
    Object.assign(kv, {
      'split.no': u16(i),
      'split.count': u16(count),
      'split.tensors.count': {type: 'i32', value: total},
    })
    writeGguf(p, kv, perShard[i])
    paths.push(p)
  }
  return paths
}

test('split files are summed; any shard path finds them all', async () => {
  const shards = [[tinyTensors[0]], [tinyTensors[1], tinyTensors[2]], [tinyTensors[3]]]
  const paths = writeSplit('split', 3, shards)
  const m = await readGguf(paths[1])
  assert.deepEqual(m.shards, paths)
  assert.equal(m.tensors.length, 4)
  assert.deepEqual(
    m.tensors.map((t) => t.shard),
    [0, 1, 1, 2],
  )
  assert.equal(
    m.tensorBytes,
    shards.flat().reduce((s, t) => s + t.bytes, 0),
  )
  assert.equal(
    m.fileBytes,
    m.shardInfo.reduce((s, x) => s + x.fileBytes, 0),
  )
  assert.equal(shardPaths('/x/a-00002-of-00009.gguf')[8], '/x/a-00009-of-00009.gguf')
})

test('a missing shard is one clear line', async () => {
  const paths = writeSplit('gap', 3, [[tinyTensors[0]], [tinyTensors[1]], [tinyTensors[2]]])
  rmSync(paths[2])
  await expectGgufError(paths[0], 'E_GGUF_SHARD', /missing shard 3 of 3/)
})

test('hostile headers: bad magic, version, truncation, absurd counts, unknown types, offsets', async () => {
  const good = ggufHeader(tinyKv as never, tinyTensors)
  const write = (name: string, b: Buffer) => {
    const p = join(dir, name)
    writeFileSync(p, b)
    return p
  }
  const goodFile = join(dir, 'good.gguf')
  writeGguf(goodFile, tinyKv as never, tinyTensors)
  const bytes = readFileSync(goodFile)

  await expectGgufError(
    write('magic.gguf', Buffer.concat([Buffer.from('GGML'), bytes.subarray(4)])),
    'E_GGUF_MAGIC',
    /not a GGUF/,
  )
  const v9 = Buffer.from(bytes)
  v9.writeUInt32LE(9, 4)
  await expectGgufError(write('version.gguf', v9), 'E_GGUF_VERSION')
  await expectGgufError(write('empty.gguf', Buffer.alloc(0)), 'E_GGUF_TRUNCATED')
  await expectGgufError(write('trunc.gguf', bytes.subarray(0, 200)), 'E_GGUF_TRUNCATED')
  // data section cut off: header intact, file shorter than the tensors need
  await expectGgufError(
    write('trunc-data.gguf', bytes.subarray(0, good.header.length + 100)),
    'E_GGUF_TRUNCATED',
    /data ends/,
  )
  const manyTensors = Buffer.from(bytes)
  manyTensors.writeBigUInt64LE(0xffffffffffffn, 8)
  await expectGgufError(write('count.gguf', manyTensors), 'E_GGUF_COUNT', /absurd tensor count/)
  const manyKeys = Buffer.from(bytes)
  manyKeys.writeBigUInt64LE(1n << 62n, 16)
  await expectGgufError(write('keys.gguf', manyKeys), 'E_GGUF_COUNT', /absurd metadata key count/)
  const longKey = Buffer.from(bytes)
  longKey.writeBigUInt64LE(1n << 60n, 24)
  await expectGgufError(write('keylen.gguf', longKey), 'E_GGUF_STRING')

  // unknown ggml type: rewrite the first tensor's type field (find it after its name and dims)
  const name = Buffer.from('token_embd.weight')
  const at = bytes.indexOf(name) + name.length + 4 + 2 * 8
  const badType = Buffer.from(bytes)
  badType.writeUInt32LE(77, at)
  await expectGgufError(write('type.gguf', badType), 'E_GGUF_TYPE', /unknown ggml type 77/)
  badType.writeUInt32LE(4, at)
  await expectGgufError(write('type4.gguf', badType), 'E_GGUF_TYPE', /removed/)
  const badOffset = Buffer.from(bytes)
  badOffset.writeBigUInt64LE(1n << 63n, at + 4)
  await expectGgufError(write('offset.gguf', badOffset), 'E_GGUF_OFFSET')
  const badDims = Buffer.from(bytes)
  badDims.writeUInt32LE(1000, at - 20)
  await expectGgufError(write('dims.gguf', badDims), 'E_GGUF_SHAPE')
  const hugeDim = Buffer.from(bytes)
  hugeDim.writeBigInt64LE(1n << 62n, at - 8)
  await expectGgufError(write('hugedim.gguf', hugeDim), 'E_GGUF_SHAPE')
  await expectGgufError(join(dir, 'nope.gguf'), 'E_GGUF_FILE', /no such file/)
  await expectGgufError(dir, /E_GGUF_FILE/)
})

/** xorshift32: deterministic fuzzing. */
function rng(seed: number) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 0x100000000
  }
}

test('fuzz: thousands of mutated headers give a model or a MoerigError, never a crash or hang', async () => {
  const kv = {...tinyKv, 'tokenizer.ggml.tokens': {type: 'array', itemType: 'string', value: ['a', 'b', 'c']}}
  const tensors = [
    spec('token_embd.weight', [256, 2], 'Q4_K'),
    spec('output_norm.weight', [64], 'F32'),
    spec('blk.0.x.weight', [64, 2], 'Q2_0'),
  ]
  const {header, dataBytes} = ggufHeader(kv as never, tensors)
  const base = Buffer.concat([header, Buffer.alloc(dataBytes)])
  const rand = rng(0x5eed)
  const p = join(dir, 'fuzz.gguf')
  const interesting = [0, 1, 0xff, 0x7f, 0x80]
  const codes = new Map<string, number>()
  const N = 3000
  const t0 = Date.now()
  for (let i = 0; i < N; i++) {
    const b = Buffer.from(base.subarray(0, rand() < 0.1 ? Math.floor(rand() * header.length) : base.length))
    const flips = 1 + Math.floor(rand() * 4)
    for (let f = 0; f < flips && b.length > 0; f++) {
      const pos = Math.floor(rand() * Math.min(b.length, header.length))
      const r = rand()
      if (r < 0.4) b[pos] = Math.floor(rand() * 256)
      else if (r < 0.7) b[pos] = interesting[Math.floor(rand() * interesting.length)]
      else if (pos + 8 <= b.length)
        b.writeBigUInt64LE(BigInt(Math.floor(rand() * 2 ** 52)) * (rand() < 0.5 ? 4096n : 1n), pos)
    }
    writeFileSync(p, b)
    try {
      await readGguf(p)
      codes.set('ok', (codes.get('ok') ?? 0) + 1)
    } catch (e) {
      if (!(e instanceof MoerigError)) throw new Error(`mutation ${i}: ${(e as Error).stack}`, {cause: e})
      assert.ok(e.code.startsWith('E_GGUF_'), `mutation ${i}: ${e.code} ${e.message}`)
      assert.ok(!e.message.includes('\n'), e.message)
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
    }
  }
  assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`)
  assert.ok(codes.size >= 5, `varied failures: ${JSON.stringify([...codes])}`)
})

test('hostile headers mirror llama.cpp gguf.cpp checks: alignment, name length, row size, nested arrays, split keys, arch', async () => {
  const one = [spec('token_embd.weight', [256, 4], 'Q4_K')]
  const arch = {'general.architecture': str('deepseek2')}
  const w = (name: string, kv: Record<string, unknown>, tensors: TensorSpec[]) => {
    const p = join(dir, name)
    writeGguf(p, kv as never, tensors)
    return p
  }
  await expectGgufError(w('align.gguf', {...arch, 'general.alignment': u32(48)}, one), 'E_GGUF_ALIGNMENT')
  await expectGgufError(w('name.gguf', arch, [{...one[0], name: 'x'.repeat(70)}]), 'E_GGUF_NAME')
  await expectGgufError(
    w('row.gguf', arch, [{name: 'a.weight', shape: [100, 4], type: 12, bytes: 0}]),
    'E_GGUF_SHAPE',
    /not a multiple of its block size 256/,
  )
  await expectGgufError(w('noarch.gguf', {'general.name': str('x')}, one), 'E_GGUF_ARCH')
  w('split-x-00002-of-00002.gguf', {...arch, 'split.no': u16(1)}, [{...one[0], name: 'b.weight'}])
  await expectGgufError(
    w('split-x-00001-of-00002.gguf', {...arch, 'split.count': u16(3)}, one),
    'E_GGUF_SHARD',
    /split.count is 3/,
  )
  // nested array: patch the element type of an array to ARRAY (9)
  const p = w('nested.gguf', {...arch, 'x.arr': {type: 'array', itemType: 'u8', value: [1, 2]}}, one)
  const b = readFileSync(p)
  const at = b.indexOf(Buffer.from('x.arr')) + 5 + 4
  b.writeUInt32LE(9, at)
  writeFileSync(p, b)
  await expectGgufError(p, 'E_GGUF_VALUE', /nested arrays/)
})
