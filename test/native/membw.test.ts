// The native STREAM benchmark (native/src/engine/membw.cpp via src/engine/membw.ts), on small arrays so the
// whole file takes well under a second of benchmark time. Speed itself is bench/membw's job.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {availableParallelism} from 'node:os'
import {MoerigError} from '../../src/lib/errors.js'
import {loadAddon, type MemBwOptions, type MemBwProgress, type MemBwResult} from '../../src/engine/addon.js'
import {measureMemBandwidth, membwArrayBytesPerThread, validateMemBwOptions} from '../../src/engine/membw.js'

const addon = loadAddon()
const MiB = 2 ** 20
// Up to two CPUs, as TS passes them: one per physical core (this is enough to exercise the barrier).
const cpus = Array.from({length: Math.min(2, availableParallelism())}, (_, i) => i)
const small: MemBwOptions = {nodes: [{id: 0, cpus}], arrayBytesPerThread: 2 * MiB, repetitions: 3, perNode: true}

function assertKernels(r: {copyGBs: number; scaleGBs: number; addGBs: number; triadGBs: number}): void {
  for (const k of ['copyGBs', 'scaleGBs', 'addGBs', 'triadGBs'] as const) {
    assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${k} = ${r[k]}`)
  }
  // Sane for any machine from a laptop to an HBM box, even with arrays that sit in cache.
  assert.ok(r.triadGBs > 0.1 && r.triadGBs < 100_000, `triad ${r.triadGBs} GB/s`)
}

test('memBandwidth returns positive, finite GB/s for every kernel and echoes its set-up', async () => {
  const r: MemBwResult = await addon.memBandwidth(small)
  assertKernels(r)
  assert.equal(r.threads, cpus.length)
  assert.equal(r.arrayBytesPerThread, 2 * MiB)
  assert.equal(r.repetitions, 3)
  assert.match(r.kernels, /(non-temporal|temporal) stores$/)
  assert.equal(typeof r.hugePages, 'boolean')
  assert.equal(typeof r.numaBind, 'boolean')
  // One node: its per-node figure is the all-nodes figure.
  assert.equal(r.perNode.length, 1)
  assert.equal(r.perNode[0].node, 0)
  assert.equal(r.perNode[0].triadGBs, r.triadGBs)
})

test('arrays are rounded down to whole pages', async () => {
  const r = await addon.memBandwidth({...small, arrayBytesPerThread: 64 * 1024 + 100, perNode: false})
  assert.equal(r.arrayBytesPerThread, 64 * 1024)
  assert.deepEqual(r.perNode, [])
})

test('temporal stores run the plain-store kernels', async () => {
  const r = await addon.memBandwidth({...small, stores: 'temporal'})
  assert.match(r.kernels, /, temporal stores$/)
  assertKernels(r)
})

test('several nodes: each measured alone, then all together', {skip: cpus.length < 2 && 'needs two CPUs'}, async () => {
  // Node 1 may not exist here: binding its pages is best effort (numaBind turns false), never fatal.
  const phases: string[] = []
  const r = await addon.memBandwidth(
    {
      ...small,
      nodes: [
        {id: 0, cpus: [0]},
        {id: 1, cpus: [1]},
      ],
    },
    (p) => {
      if (phases.at(-1) !== p.phase) phases.push(p.phase)
    },
  )
  assert.deepEqual(phases, ['node 0', 'node 1', 'all nodes'])
  assert.deepEqual(
    r.perNode.map((n) => [n.node, n.threads]),
    [
      [0, 1],
      [1, 1],
    ],
  )
  r.perNode.forEach(assertKernels)
  assert.equal(r.threads, 2)
})

test('progress is reported after every repetition, in order, ending at total', async () => {
  const seen: MemBwProgress[] = []
  await addon.memBandwidth(small, (p) => seen.push(p))
  assert.equal(seen.length, 4) // 1 warm-up + 3 repetitions, one run
  assert.deepEqual(
    seen.map((p) => p.done),
    [1, 2, 3, 4],
  )
  assert.ok(seen.every((p) => p.total === 4 && p.phase === 'all nodes'))
})

test('the event loop keeps running during a measurement', async () => {
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  try {
    await addon.memBandwidth({...small, arrayBytesPerThread: 8 * MiB, repetitions: 5})
  } finally {
    clearInterval(timer)
  }
  assert.ok(ticks > 0, 'no timer fired while the benchmark ran')
})

test('a throwing progress callback rejects the promise with its error', async () => {
  await assert.rejects(
    addon.memBandwidth(small, () => {
      throw new Error('stop here')
    }),
    /stop here/,
  )
})

test('bad options reject with one clear line (native checks)', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /options must be an object/],
    [{...small, nodes: []}, /nodes is empty/],
    [{...small, nodes: 'x'}, /nodes must be an array/],
    [{...small, nodes: [{id: 0, cpus: []}]}, /nodes\[0\]\.cpus is empty/],
    [{...small, nodes: [{id: 0, cpus: [1.5]}]}, /nodes\[0\]\.cpus\[0\] must be an integer, got 1\.5/],
    [{...small, nodes: [{id: 0, cpus: [5000]}]}, /cpus has 5000, out of range/],
    [{...small, nodes: [{id: 0, cpus: [1000]}]}, /cpu 1000, which does not exist or is not available/],
    [{...small, nodes: [{id: 0, cpus: [0, 0]}]}, /cpu 0 is given twice/],
    [
      {
        ...small,
        nodes: [
          {id: 0, cpus: [0]},
          {id: 0, cpus: [1]},
        ],
      },
      /id 0 appears twice/,
    ],
    [{...small, nodes: [{id: -1, cpus: [0]}]}, /id -1 is out of range/],
    [{...small, arrayBytesPerThread: 100}, /arrayBytesPerThread 100 is out of range/],
    [{...small, arrayBytesPerThread: 2 ** 39}, /exceeds 75% of physical memory/],
    [{...small, arrayBytesPerThread: 2 ** 60}, /arrayBytesPerThread is out of range/],
    [{...small, arrayBytesPerThread: '1'}, /arrayBytesPerThread must be an integer/],
    [{...small, repetitions: 0}, /repetitions 0 is out of range 1\.\.100/],
    [{...small, perNode: 'yes'}, /perNode must be a boolean/],
    [{...small, stores: 'fast'}, /stores must be "auto", "temporal" or "nontemporal"/],
  ]
  for (const [opts, re] of cases) {
    await assert.rejects(
      addon.memBandwidth(opts as MemBwOptions),
      (e: Error) => {
        assert.match(e.message, /^memBandwidth: /)
        assert.match(e.message, re)
        assert.ok(!e.message.includes('\n'), 'one line')
        return true
      },
      `expected ${re} for ${JSON.stringify(opts)}`,
    )
  }
  await assert.rejects(addon.memBandwidth(small, 42 as unknown as () => void), /onProgress must be a function/)
})

test('TS layer: precise MoerigErrors before the addon, native errors wrapped', async () => {
  assert.throws(
    () => validateMemBwOptions({...small, nodes: []}),
    (e: MoerigError) => e.code === 'E_MEMBW_OPTIONS' && /no NUMA nodes/.test(e.message),
  )
  assert.throws(
    () => validateMemBwOptions({...small, repetitions: 1000}),
    /repetitions must be an integer 1\.\.100, got 1000/,
  )
  assert.throws(
    () =>
      validateMemBwOptions({
        ...small,
        nodes: [
          {id: 0, cpus: [0]},
          {id: 1, cpus: [0]},
        ],
      }),
    /cpu 0 is given twice/,
  )
  // Only the C++ side knows which CPUs exist.
  await assert.rejects(
    measureMemBandwidth({...small, nodes: [{id: 0, cpus: [1000]}]}),
    (e: MoerigError) => e instanceof MoerigError && e.code === 'E_MEMBW' && /cpu 1000/.test(e.message),
  )
  assertKernels(await measureMemBandwidth(small))
})

test('array size follows STREAM: one array over all threads ≥ 4 × LLC, at least 256 MiB', () => {
  assert.equal(membwArrayBytesPerThread(2, null), 128 * MiB)
  assert.equal(membwArrayBytesPerThread(112, 2 * 105 * MiB), Math.ceil((4 * 210 * MiB) / 112 / 4096) * 4096)
  assert.equal(membwArrayBytesPerThread(3, null) % 4096, 0)
})
