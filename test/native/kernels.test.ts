// The decode kernel benchmark on the real engine (native/src/engine/kernels.h through the addon,
// and through the runner child as calibrate runs it): bad options reject with the field named,
// a small case returns timings with the buffer type llama.cpp would use, a stop ends the run.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {engineBuild, loadAddon, type KernelOptions} from '../../src/engine/addon.js'
import {fitKernels, kernelCases, measureKernels, sweepCases, SWEEP_SAMPLES} from '../../src/runner/kernels.js'

const addon = loadAddon()
before(async () => {
  await addon.llamaInit(engineBuild().libDir, [])
})

const one = (over: Partial<KernelOptions['cases'][number]> = {}): KernelOptions => ({
  cases: [{type: 'Q4_K', k: 256, rows: 64, ops: 2, repeat: 2, ...over}],
  threads: [1],
  minSeconds: 0.01,
  minIters: 2,
})

test('bad options reject with the field named (never a crash)', async () => {
  await assert.rejects(addon.decodeKernels(one({type: 'Q9_Z'})), /cases\[0\]\.type: unknown ggml type "Q9_Z"/)
  await assert.rejects(addon.decodeKernels(one({k: 100})), /cases\[0\]\.k: must be a positive multiple of 256/)
  await assert.rejects(addon.decodeKernels(one({type: 'IQ2_XXS'})), /needs an importance matrix/)
  await assert.rejects(addon.decodeKernels(one({rows: 0})), /cases\[0\]\.rows: must be ≥ 1/)
  await assert.rejects(addon.decodeKernels(one({cols: 0})), /cases\[0\]\.cols: must be 1\.\.4096/)
  await assert.rejects(addon.decodeKernels(one({cols: 5000})), /cases\[0\]\.cols: must be 1\.\.4096/)
  await assert.rejects(addon.decodeKernels(one({experts: 4, used: 5})), /cases\[0\]\.used: must be 1\.\.experts \(4\)/)
  await assert.rejects(addon.decodeKernels(one({experts: 2000})), /cases\[0\]\.experts: must be 0\.\.1024/)
  await assert.rejects(addon.decodeKernels(one({heads: 2000})), /cases\[0\]\.heads: must be 0\.\.1024/)
  await assert.rejects(
    addon.decodeKernels(one({heads: 4, experts: 4})),
    /cases\[0\]\.heads: a stacked case has no experts/,
  )
  const fa = {type: 'F16', k: 64, rows: 64, cols: 64, heads: 4, kvHeads: 2, dv: 64}
  await assert.rejects(addon.decodeKernels(one({...fa, heads: 3})), /cases\[0\]\.heads: .*a multiple of kvHeads \(2\)/)
  await assert.rejects(
    addon.decodeKernels(one({...fa, experts: 4})),
    /cases\[0\]\.experts: a flash-attention case has no experts/,
  )
  await assert.rejects(
    addon.decodeKernels(one({...fa, cols: 65})),
    /cases\[0\]\.cols: the queries \(65\) .* at most rows \(64\)/,
  )
  await assert.rejects(
    addon.decodeKernels(one({...fa, latent: true})),
    /cases\[0\]\.kvHeads: a latent cache has one kv head/,
  )
  await assert.rejects(
    addon.decodeKernels(one({...fa, kvHeads: 1, latent: true, dv: 128})),
    /cases\[0\]\.dv: must be 1\.\.64 \(a latent V is part of K\)/,
  )
  await assert.rejects(addon.decodeKernels(one({dv: 64})), /cases\[0\]\.dv: only a flash-attention case/)
  await assert.rejects(addon.decodeKernels(one({...fa, latent: 1 as never})), /cases\[0\]\.latent must be a boolean/)
  await assert.rejects(addon.decodeKernels(one({ops: 100, repeat: 100})), /ops × repeat ≤ 4096/)
  await assert.rejects(addon.decodeKernels({...one(), threads: [0]}), /threads: each must be 1\.\./)
  await assert.rejects(addon.decodeKernels({...one(), cases: []}), /cases: at least one/)
  await assert.rejects(addon.decodeKernels({...one(), cases: [{type: 'Q4_K', k: 1.5, rows: 8, ops: 1, repeat: 1}]}), {
    name: 'TypeError',
    message: /cases\[0\]\.k must be an integer/,
  })
  await assert.rejects(addon.decodeKernels(null as unknown as KernelOptions), {name: 'TypeError'})
})

test('a small case times at each thread count, with the buffer llama.cpp would put the weights in', async () => {
  const rs = await addon.decodeKernels({
    ...one(),
    threads: [1, 2],
    cases: [one().cases[0], {type: 'q6_k', k: 256, rows: 16, ops: 1, repeat: 1}],
  })
  assert.equal(rs.length, 2)
  assert.equal(rs[0].type, 'q4_K')
  assert.equal(rs[1].type, 'q6_K')
  for (const r of rs) {
    assert.deepEqual(
      r.timings.map((t) => t.threads),
      [1, 2],
    )
    for (const t of r.timings) assert.ok(t.bestS > 0 && t.medianS >= t.bestS && t.iters >= 2, JSON.stringify(t))
    assert.match(r.buffer, /^(CPU|CPU_REPACK|AMX)$/)
  }
  // Q6_K has no x86 repack in this release: the plain CPU buffer
  assert.equal(rs[1].buffer, 'CPU')
  assert.equal(rs[0].weightBytes, 2 * 64 * 144) // two 64-row matrices of one Q4_K block per row
  assert.equal(rs[0].cols, 1)
})

test('prefill cases: a ubatch of columns per product; the same weights take longer with more columns', async () => {
  const c = {type: 'Q4_K', k: 256, rows: 256, ops: 1, repeat: 1}
  const rs = await addon.decodeKernels({...one(), minIters: 3, cases: [c, {...c, cols: 64}]})
  assert.deepEqual(
    rs.map((r) => r.cols),
    [1, 64],
  )
  assert.equal(rs[1].weightBytes, rs[0].weightBytes)
  assert.ok(rs[1].timings[0].bestS > rs[0].timings[0].bestS, JSON.stringify(rs.map((r) => r.timings[0])))
})

test('a stop requested right after the run was queued ends it with what finished', async () => {
  // each case long enough (1000 graphs of a 9 MB product, about a second) that a JS thread
  // descheduled between the two calls on a busy machine cannot see more than one case finish
  const big = one({k: 4096, rows: 4096, ops: 1, repeat: 1}).cases[0]
  const p = addon.decodeKernels({...one(), minSeconds: 5, cases: Array(4).fill(big)})
  addon.decodeKernelsStop()
  const t0 = Date.now()
  const rs = await p
  assert.ok(Date.now() - t0 < 4000, `stopped after ${Date.now() - t0} ms`)
  assert.ok(rs.length <= 1, `${rs.length} cases`)
})

test(
  'through the runner child (as calibrate runs it): every case comes back and fits',
  {timeout: 120_000},
  async () => {
    const r = await measureKernels({threads: [1], l3Bytes: 2 * 2 ** 20, minSeconds: 0.005})
    assert.equal(r.stopped, false)
    const fit = fitKernels(r.results)
    assert.ok(fit.kernels.some((k) => k.type === 'Q4_K' && k.residency === 'dram'))
    assert.ok(fit.kernels.every((k) => k.nsPerRow >= 0 && k.nsPerWeight >= 0))
    assert.equal(fit.ops!.length, 2)
    // the sweep samples come back apart from the main cases, each the whole sweep with its references
    const sweep = sweepCases(2 * 2 ** 20)
    assert.equal(r.sweeps.length, SWEEP_SAMPLES)
    for (const s of r.sweeps)
      assert.deepEqual(
        s.map((x) => [x.k, x.rows, x.ops, x.repeat]),
        sweep.map((c) => [c.k, c.rows, c.ops, c.repeat]),
      )
    // … and the main results are kernelCases in order (then the plain-buffer reruns)
    const main = kernelCases(2 * 2 ** 20)
    assert.deepEqual(
      r.results.slice(0, main.length).map((x) => [x.k, x.rows, x.ops, x.repeat]),
      main.map((c) => [c.k, c.rows, c.ops, c.repeat]),
    )
    assert.ok(fitKernels(r.results, r.sweeps).kernels.length === fit.kernels.length)
  },
)

test('routed experts: a MUL_MAT_ID case over expert stacks, each column routed to `used` of them', async () => {
  const rs = await addon.decodeKernels({
    ...one(),
    threads: [1, 2],
    cases: [{type: 'Q4_K', k: 256, rows: 64, ops: 1, repeat: 1, cols: 16, experts: 4, used: 2}],
  })
  assert.equal(rs[0].experts, 4)
  assert.equal(rs[0].used, 2)
  assert.equal(rs[0].weightBytes, 4 * 64 * 144) // four experts of 64 rows of one Q4_K block
  for (const t of rs[0].timings) assert.ok(t.bestS > 0 && t.iters >= 2, JSON.stringify(t))
  assert.match(rs[0].buffer, /^(CPU|CPU_REPACK)$/) // AMX takes no MUL_MAT_ID
})

test('stacked: a 3-D MUL_MAT, one matrix per head times its head of a permuted view (MLA); plain CPU buffer', async () => {
  const rs = await addon.decodeKernels({
    ...one(),
    threads: [1, 2],
    cases: [
      {type: 'Q5_0', k: 128, rows: 64, ops: 2, repeat: 2, heads: 4},
      {type: 'Q5_0', k: 128, rows: 256, ops: 2, repeat: 2},
    ],
  })
  assert.equal(rs[0].heads, 4)
  assert.equal(rs[1].heads, undefined)
  assert.equal(rs[0].weightBytes, 4 * 64 * 4 * 22 * 2) // 2 ops × 4 heads × 64 rows × 4 blocks of 22 bytes
  assert.equal(rs[0].weightBytes, rs[1].weightBytes)
  assert.equal(rs[0].buffer, 'CPU') // CPU_REPACK and AMX take 2-D weights only
  for (const t of rs[0].timings) assert.ok(t.bestS > 0 && t.iters >= 2, JSON.stringify(t))
})

test('flash attention: a FLASH_ATTN_EXT over a causal F16 cache (GQA and MLA latent), timed per thread count; more keys take longer', async () => {
  const c = {type: 'F16', k: 64, ops: 1, repeat: 1, heads: 4, kvHeads: 2, dv: 64}
  const rs = await addon.decodeKernels({
    ...one(),
    threads: [1, 2],
    minIters: 3,
    cases: [
      {...c, rows: 128, cols: 128},
      {...c, rows: 1024, cols: 128},
      {type: 'F16', k: 320, dv: 256, heads: 4, kvHeads: 1, latent: true, rows: 128, cols: 128, ops: 1, repeat: 1},
    ],
  })
  // one query over 1024 keys: ggml splits the keys over the threads (decode at depth)
  const [dec] = await addon.decodeKernels({...one(), threads: [1, 2], cases: [{...c, rows: 1024, cols: 1, ops: 3}]})
  assert.equal(dec.cols, 1)
  for (const t of dec.timings) assert.ok(t.bestS > 0 && t.iters >= 2, JSON.stringify(t))
  assert.equal(rs.length, 3)
  assert.equal(rs[0].kvHeads, 2)
  assert.equal(rs[0].dv, 64)
  assert.equal(rs[0].latent, false)
  assert.equal(rs[2].latent, true)
  assert.equal(rs[0].weightBytes, 2 * 128 * 64 * 2 * 2) // K and V: 2 kv heads × 128 keys × 64 dims × 2 bytes
  assert.equal(rs[2].weightBytes, 128 * 320 * 2) // V is part of K
  for (const r of rs) for (const t of r.timings) assert.ok(t.bestS > 0 && t.iters >= 3, JSON.stringify(t))
  // the 128 queries see 897…1024 keys instead of 1…128: ≈ 15 × the pairs
  assert.ok(rs[1].timings[0].bestS > 3 * rs[0].timings[0].bestS, JSON.stringify(rs.map((r) => r.timings[0])))
})
