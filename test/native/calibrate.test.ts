/**
 * `moerig calibrate` (src/runner/calibrate.ts, issue 13 item 2): the fit as pure functions (fake
 * measurements made from known overheads, throughputs and bandwidth come back out, schema-valid),
 * the flag parsers, the overwrite rule, and one real short calibrate on tiny models whose saved
 * profile validates and makes `plan` say it uses the calibration.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {hardwareProfileSchema, type HardwareProfile} from '../../src/schemas/hardware.js'
import {calibrateResultSchema} from '../../src/schemas/calibrate.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {
  cpuOnly,
  fitCacheSplit,
  fitCalibration,
  fitGpu,
  fitOverheads,
  GPU_BYTES_SHARE_MAX,
  GPU_SAMPLE_MARGIN,
  GPU_SAMPLE_SPARE_BYTES,
  gpuSampleModel,
  parseBudget,
  parseThreadList,
  runCalibrate,
  type ModelTerms,
  type Sample,
} from '../../src/runner/calibrate.js'
import {solve3} from '../../src/runner/stats.js'
import {GPU_LAYER_S} from '../../src/planner/speed.js'
import {cli, cliUntilSignal, synthTiny, tempDir} from '../support/runner-helpers.js'
import {rig} from '../fixtures/plan/rigs.js'

const terms = (
  name: string,
  layers: number,
  costFlops: number,
  bytes: number,
  prefillFlops = costFlops,
  nPrompt = 0,
): ModelTerms => ({name, layers, costFlops, bytes, attnS: 0, cacheS: 0, prefillFlops, nPrompt})
const shallow = terms('tiny', 4, 34e6, 12e6)
const deep = terms('tiny-deep16', 16, 77e6, 28e6)
const compute = terms('r1-mini', 12, 596e6, 198e6, 741e6)
const dram = terms('r1-dram', 24, 5.2e9, 1.55e9)
// the truth the fake measurements are made from
const G = {1: 20e9, 2: 80e9} as Record<number, number>
const PP = {1: 100e9, 2: 190e9} as Record<number, number>
const LAYER_S = 50e-6,
  TOKEN_S = 0.3e-3,
  BW = 20e9
const tokenTime = (t: ModelTerms, threads: number) =>
  Math.max(t.bytes / BW, t.costFlops / G[threads]) + t.layers * LAYER_S + TOKEN_S
const cacheTime = (t: ModelTerms, threads: number) => t.costFlops / G[threads] + t.layers * LAYER_S + TOKEN_S // cache-resident: compute only
const sample = (role: Sample['role'], t: ModelTerms, threads: number, pre = false): Sample => ({
  role,
  terms: t,
  threads,
  decodeTps: 1 / (role === 'dram' ? tokenTime(t, threads) : cacheTime(t, threads)),
  prefillTps: pre ? PP[threads] / t.prefillFlops : null,
})
const meta = {
  measuredAt: '2026-01-02T03:04:05.000Z',
  llamaCppRelease: 'v0.4.0',
  cpuVariant: 'sapphirerapids',
  models: ['synth tiny Q4_K_M'],
}
const close = (a: number | undefined, b: number, rel = 1e-3) =>
  assert.ok(a !== undefined && Math.abs(a - b) <= Math.abs(b) * rel + 1e-9, `${a} vs ${b}`)

test('fit: known overheads, throughputs and bandwidth come back out of fake measurements; the section is schema-valid', () => {
  const samples = [
    sample('shallow', shallow, 1),
    sample('deep', deep, 1),
    sample('compute', compute, 1, true),
    sample('compute', compute, 2, true),
    sample('dram', dram, 2),
  ]
  const cal = fitCalibration(samples, meta)
  close(cal.layerOverheadUs, LAYER_S * 1e6)
  close(cal.tokenOverheadMs, TOKEN_S * 1e3)
  close(cal.cpuThroughput![0].decodeGflops, 20)
  close(cal.cpuThroughput![1].decodeGflops, 80)
  close(cal.cpuThroughput![0].prefillGflops, 100)
  close(cal.cpuThroughput![1].prefillGflops, 190)
  close(cal.decodeBandwidthGBs, 20)
  assert.equal(cal.decodeThreads, 2)
  assert.equal(cal.provenance, 'measured')
  assert.equal(cal.cpuVariant, 'sapphirerapids')
  assert.deepEqual(cal.gpus, [])
  assert.equal(cal.partial, undefined)
  const profile: HardwareProfile = {...rig({sockets: 1, gpus: 0}), calibration: cal}
  assert.deepEqual(schemaErrors(hardwareProfileSchema, profile), [])
  assert.ok(!cal.notes!.some((n) => /lower bound/.test(n)), 'memory-bound at 2 threads: not a lower bound')
})

test('fit: prefill throughput excludes one graph evaluation overhead per ubatch (pp = ubatch)', () => {
  // a small model's 64-token ubatch: compute at PP[1] (3.8 ms) plus the overheads once (0.9 ms)
  const c64 = terms('r1-mini', 12, 596e6, 198e6, 6e6, 64)
  const samples = [sample('shallow', shallow, 1), sample('deep', deep, 1), sample('compute', c64, 1)]
  samples[2].prefillTps = 64 / ((64 * c64.prefillFlops) / PP[1] + c64.layers * LAYER_S + TOKEN_S)
  const cal = fitCalibration(samples, meta)
  close(cal.cpuThroughput![0].prefillGflops, 100)
  // the same measurement read without the overhead would be ≈ 19 % slower
  const naive = (c64.prefillFlops * samples[2].prefillTps!) / 1e9
  assert.ok(naive < 85, `${naive}`)
})

test("fit: with prefill kernels the prefill throughput is the geometric mean of r1-mini's and tiny's prompts; without, r1-mini's alone", () => {
  const c = terms('r1-mini', 12, 596e6, 198e6, 6e6, 64)
  const t = terms('tiny', 4, 34e6, 12e6, 28e6, 64)
  const at = (x: ModelTerms, pp: number) => 64 / ((64 * x.prefillFlops) / pp + x.layers * LAYER_S + TOKEN_S)
  const samples = [sample('shallow', t, 1), sample('deep', deep, 1), sample('compute', c, 1)]
  samples[2].prefillTps = at(c, 100e9)
  samples[0].prefillTps = at(t, 121e9) // tiny's prompt 21 % faster per weighed FLOP
  const prefill = [{type: 'Q4_K', buffer: 'CPU_REPACK', k: 2048, threads: 1, gflops: 140}]
  const joint = fitCalibration(samples, meta, {kernels: [], ops: [], overheads: [], prefill})
  close(joint.cpuThroughput![0].prefillGflops, Math.sqrt(100 * 121), 2e-3)
  close(fitCalibration(samples, meta).cpuThroughput![0].prefillGflops, 100, 2e-3)
})

test("fit: a thread count slower than the one before (contention) keeps the fewer threads' throughput, with a note", () => {
  const samples = [sample('shallow', shallow, 1), sample('deep', deep, 1), sample('compute', compute, 1, true)]
  const slow = sample('compute', compute, 2, true)
  slow.decodeTps = samples[2].decodeTps! / 10
  slow.prefillTps = samples[2].prefillTps! / 10
  const cal = fitCalibration([...samples, slow], meta)
  close(cal.cpuThroughput![1].decodeGflops, cal.cpuThroughput![0].decodeGflops!)
  close(cal.cpuThroughput![1].prefillGflops, 100)
  assert.equal(cal.notes!.filter((n) => /contention on a shared machine/.test(n)).length, 2)
})

test('fit: a DRAM model whose token time gives under 0.001 GB/s records no bandwidth (never 0), with a note', () => {
  const base = [sample('shallow', shallow, 1), sample('deep', deep, 1), sample('compute', compute, 1, true)]
  // 100 kB per token at 1 t/s: 0.0001 GB/s, which rounds to 0
  const slow: Sample = {...sample('dram', terms('tiny', 4, 34e6, 1e5), 1), decodeTps: 1}
  const cal = fitCalibration([...base, slow], meta)
  assert.equal(cal.decodeBandwidthGBs, undefined)
  assert.ok(cal.notes!.some((n) => /tiny: the token time left after the overheads gives under 0\.001 GB\/s/.test(n)))
  const profile: HardwareProfile = {...rig({sockets: 1, gpus: 0}), calibration: cal}
  assert.deepEqual(schemaErrors(hardwareProfileSchema, profile), [])
})

test('fit: cached vs streamed decode compute — known rates and per-layer cost come back out; the section carries both', () => {
  const GC = 100e9,
    GD = 20e9,
    L_S = 80e-6
  const tiny = {...shallow, costFlopsCache: shallow.costFlops}
  const deep16 = {...deep, costFlopsCache: deep.costFlops * 0.6}
  const mini = {...compute, costFlopsCache: compute.costFlops * 0.02}
  const time = (t: ModelTerms) => t.costFlopsCache! / GC + (t.costFlops - t.costFlopsCache!) / GD + t.layers * L_S
  const mk = (role: Sample['role'], t: ModelTerms, threads = 1): Sample => ({
    role,
    terms: t,
    threads,
    decodeTps: 1 / time(t),
    prefillTps: null,
  })
  const o = fitCacheSplit(mk('shallow', tiny), mk('deep', deep16), mk('compute', mini))!
  close(1 / o.gCache, GC)
  close(1 / o.gDram, GD)
  close(o.layerS, L_S)
  const cal = fitCalibration([mk('shallow', tiny), mk('deep', deep16), mk('compute', mini)], meta)
  close(cal.cpuThroughput![0].decodeCacheGflops, 100)
  close(cal.cpuThroughput![0].decodeGflops, 20)
  close(cal.layerOverheadUs, 80)
  assert.equal(cal.tokenOverheadMs, 0)
  // the deep model inconsistent (noise): the shallow/compute pair with the prior per-layer cost
  const noisy = mk('deep', deep16)
  noisy.decodeTps! *= 3
  const cal2 = fitCalibration([mk('shallow', tiny), noisy, mk('compute', mini)], meta)
  assert.ok(cal2.cpuThroughput![0].decodeCacheGflops! > 0 && cal2.cpuThroughput![0].decodeGflops! > 0)
  assert.equal(cal2.layerOverheadUs, 20.3)
  assert.ok(
    cal2.notes!.some((n) => /no positive solution \(noise\)/.test(n)),
    cal2.notes!.join('\n'),
  )
  // no split when the pair is not cache-resident (the former 3-model fit then applies)
  assert.equal(fitCacheSplit(mk('shallow', shallow), mk('deep', deep), mk('compute', compute)), null)
})

test('fit: a DRAM model that was compute-bound says its bandwidth is a lower bound; partial is kept; GPUs are per index', () => {
  const slow = {...G, 2: 30e9}
  const s = [sample('shallow', shallow, 1), sample('deep', deep, 1), sample('compute', compute, 2, true)]
  s[2].decodeTps = 1 / (compute.costFlops / slow[2] + compute.layers * LAYER_S + TOKEN_S)
  const d: Sample = {
    role: 'dram',
    terms: dram,
    threads: 2,
    decodeTps: 1 / (dram.costFlops / slow[2] + dram.layers * LAYER_S + TOKEN_S),
    prefillTps: null,
  }
  const g: Sample = {
    role: 'gpu',
    terms: gpuTerms,
    threads: 2,
    decodeTps: 500,
    prefillTps: 4000,
    gpuIndex: 0,
    gpuName: 'NVIDIA H200',
    backend: 'CUDA',
    gpuSpecBw: 3648e9,
  }
  const cal = fitCalibration([...s, d, g], {...meta, partial: true, notes: ['stopped']})
  assert.equal(cal.partial, true)
  assert.ok(
    cal.notes!.some((n) => /compute-bound .* lower bound/.test(n)),
    cal.notes!.join('\n'),
  )
  // the GPU entry is fitGpu's, at the CPU's per-token cost of this calibration
  const {note, ...want} = fitGpu(g, (cal.tokenOverheadMs ?? 0) * 1e-3)
  assert.deepEqual(cal.gpus, [{index: 0, name: 'NVIDIA H200', ...want, backend: 'CUDA'}])
  assert.ok(cal.notes!.includes(note))
  assert.deepEqual(schemaErrors(hardwareProfileSchema, {...rig({sockets: 1, gpus: 1}), calibration: cal}), [])
})

// r1-dram fully offloaded as gpuModelTerms counts it: 24 layers + the output, 1.54 GB a token
const gpuTerms: ModelTerms = {
  name: 'r1-dram',
  layers: 25,
  bytes: 1.54e9,
  costFlops: 0,
  attnS: 20e-6,
  cacheS: 0,
  prefillFlops: 5.1e9,
  nPrompt: 512,
}

test('GPU sample: the per-layer cost comes back out where the bytes are a small share of the token; a slow GPU fits its bandwidth instead', () => {
  const LAYER = 130e-6,
    BWS = 3648e9,
    RATE = 60e12,
    TOK = 0.2e-3
  const fast: Sample = {
    role: 'gpu',
    terms: gpuTerms,
    threads: 16,
    decodeTps: 1 / (gpuTerms.bytes / BWS + 25 * LAYER + gpuTerms.attnS + TOK),
    prefillTps: 512 / ((gpuTerms.prefillFlops * 512) / RATE + 25 * LAYER + TOK),
    gpuIndex: 0,
    gpuSpecBw: BWS,
  }
  const f = fitGpu(fast, TOK)
  close(f.layerUs, LAYER * 1e6, 1e-3)
  close(f.prefillTflops, RATE / 1e12, 1e-3)
  assert.equal(f.bandwidthGBs, undefined, 'the spec × η stays the bandwidth')
  assert.match(f.note, /the rest 130 µs per layer \(25 with the output\)/)
  // an iGPU at 60 GB/s: the bytes are most of the token (≥ GPU_BYTES_SHARE_MAX), so its bandwidth
  // is fitted with the planner's per-layer prior
  const slowBw = 60e9
  const slow: Sample = {
    ...fast,
    gpuSpecBw: 80e9,
    decodeTps: 1 / (gpuTerms.bytes / slowBw + 25 * GPU_LAYER_S.mid + gpuTerms.attnS + TOK),
  }
  assert.ok(gpuTerms.bytes / 80e9 >= GPU_BYTES_SHARE_MAX / slow.decodeTps!)
  const sf = fitGpu(slow, TOK)
  close(sf.bandwidthGBs, slowBw / 1e9, 1e-3)
  assert.equal(sf.layerUs, undefined)
  // a token faster than its own terms fits nothing, and says so
  const none = fitGpu({...fast, decodeTps: 1e5, prefillTps: null}, TOK)
  assert.deepEqual(Object.keys(none), ['note'])
  assert.match(none.note, /nothing fitted/)
})

test("GPU sample's model: the DRAM model where it fits the GPU's free memory with a margin, else the compute model", () => {
  const dir = tempDir('gpu-sample')
  const big = join(dir, 'r1-dram.gguf')
  writeFileSync(big, Buffer.alloc(1 << 20))
  const need = (1 << 20) * GPU_SAMPLE_MARGIN + GPU_SAMPLE_SPARE_BYTES
  assert.equal(gpuSampleModel(big, 'mini', need), big)
  assert.equal(gpuSampleModel(big, 'mini', need - 1), 'mini')
  assert.equal(gpuSampleModel(null, 'mini', 1e12), 'mini')
  assert.equal(gpuSampleModel(join(dir, 'gone.gguf'), 'mini', 1e12), 'mini')
  assert.equal(gpuSampleModel(big, 'mini', 0), 'mini', 'free memory unknown')
})

test('overheads: small layers faster per FLOP than the compute model (cache) fall back to the shallow/deep pair; no pair, compute only', () => {
  const fast = (t: ModelTerms) => 1 / (t.costFlops / 200e9 + t.layers * LAYER_S + TOKEN_S)
  const s = (role: Sample['role'], t: ModelTerms, tps: number): Sample => ({
    role,
    terms: t,
    threads: 1,
    decodeTps: tps,
    prefillTps: null,
  })
  const o = fitOverheads(
    s('shallow', shallow, fast(shallow)),
    s('deep', deep, fast(deep)),
    s('compute', compute, 1 / cacheTime(compute, 1)),
  )
  close(o.layerS, LAYER_S + (deep.costFlops - shallow.costFlops) / 200e9 / 12)
  assert.match(o.how, /upper bound/)
  const only = fitOverheads(undefined, undefined, s('compute', compute, 10))
  assert.equal(only.layerS, 0)
  assert.equal(only.tokenS, 0)
  close(only.g, 0.1 / compute.costFlops)
  // stopped after the pair: overheads from the pair alone, nothing else
  const pairOnly = fitCalibration([sample('shallow', shallow, 1), sample('deep', deep, 1)], {...meta, partial: true})
  close(pairOnly.layerOverheadUs, (LAYER_S + (deep.costFlops - shallow.costFlops) / G[1] / 12) * 1e6)
  assert.equal(pairOnly.cpuThroughput, undefined)
  assert.equal(pairOnly.decodeBandwidthGBs, undefined)
  assert.deepEqual(schemaErrors(hardwareProfileSchema, {...rig({sockets: 1, gpus: 0}), calibration: pairOnly}), [])
  assert.deepEqual(
    solve3(
      [
        [1, 0, 0],
        [0, 2, 0],
        [0, 0, 4],
      ],
      [1, 2, 4],
    ),
    [1, 1, 1],
  )
  assert.equal(
    solve3(
      [
        [1, 1, 1],
        [1, 1, 1],
        [0, 0, 1],
      ],
      [1, 2, 3],
    ),
    null,
  )
})

test('flags: --budget durations and --threads lists', () => {
  assert.equal(parseBudget('5m'), 300)
  assert.equal(parseBudget('90s'), 90)
  assert.equal(parseBudget('1m30s'), 90)
  assert.equal(parseBudget('45'), 45)
  for (const bad of ['', 'soon', '0', '-5m', '25h'])
    assert.throws(() => parseBudget(bad), /--budget must be a duration/)
  assert.deepEqual(parseThreadList(undefined, 8, 4), [1, 2, 3, 4])
  assert.deepEqual(parseThreadList('4,1,2-3', 8, 4), [1, 2, 3, 4])
  assert.throws(() => parseThreadList('0', 8, 4), /1\.\.8/)
  assert.throws(() => parseThreadList('9', 8, 4), /1\.\.8/)
  assert.throws(() => parseThreadList('a', 8, 4), /--threads must be/)
})

test(
  'calibrate on tiny models: the saved profile validates and plan says it uses the calibration; a hand-written profile is not overwritten without --force',
  {timeout: 120_000},
  () => {
    const dir = tempDir('moerig-calibrate-')
    const model = synthTiny(dir)
    const ref = join(dir, 'reference.json')
    writeFileSync(ref, JSON.stringify(rig({sockets: 1, gpus: 0})))
    const refused = cli(['calibrate', '--hardware', ref, '--budget', '40s', '--threads', '1', '--model', model])
    assert.equal(refused.status, 1, refused.stderr)
    assert.match(refused.stderr, /already exists and was not written by moerig; pass --force/)
    const out = join(dir, 'hw.json')
    const t0 = Date.now()
    const r = cli([
      'calibrate',
      '--save',
      out,
      '--budget',
      '40s',
      '--threads',
      '1',
      '--model',
      model,
      '-r',
      '2',
      '--json',
    ])
    assert.equal(r.status, 0, r.stderr + r.stdout)
    assert.ok(Date.now() - t0 < 90_000, `calibrate took ${Date.now() - t0} ms`)
    const res = JSON.parse(r.stdout)
    assert.deepEqual(schemaErrors(calibrateResultSchema, res), [])
    const saved = JSON.parse(readFileSync(out, 'utf8')) as HardwareProfile
    assert.deepEqual(schemaErrors(hardwareProfileSchema, saved), [])
    const c = saved.calibration!
    assert.equal(c.provenance, 'measured')
    assert.ok(c.llamaCppRelease && c.cpuVariant, 'release and CPU variant recorded')
    // a host slow enough that the budget ends before the compute model's rounds (a busy shared guest, the
    // suite's other files beside it: seen once) saves a partial calibration that says so, without them
    const cut =
      res.partial === true && c.partial === true && c.notes!.some((n) => /^budget of \d+ s spent after/.test(n))
    const tp = c.cpuThroughput?.[0]
    assert.ok((tp?.prefillGflops ?? 0) > 0 || cut, JSON.stringify(c))
    // on a loaded machine a tiny "DRAM" model can be slower than the overheads fitted on its twin: then a note says so
    assert.ok(
      c.decodeBandwidthGBs! > 0 ||
        c.notes!.some((n) => /: (overheads exceed the token time|the token time left).*; no bandwidth/.test(n)),
      JSON.stringify(c),
    )
    assert.ok(
      (tp?.decodeGflops ?? 0) > 0 || c.notes!.some((n) => /no decode throughput/.test(n)) || cut,
      JSON.stringify(c),
    )
    assert.ok(c.tokenOverheadMs !== undefined && c.layerOverheadUs !== undefined)
    assert.ok(c.notes!.some((n) => /no GPU seen by the runner/.test(n)) || cut)
    const p = cli(['plan', model, '--hardware', out, '--threads', '1', '--json'])
    assert.equal(p.status, 0, p.stderr)
    const plan = JSON.parse(p.stdout)
    assert.equal(plan.prediction.speedModel.source, 'calibration')
    assert.match(plan.prediction.assumptions.join('\n'), /calibration of .* \(measured, llama\.cpp /)
    const text = cli(['plan', model, '--hardware', out, '--threads', '1'])
    assert.match(text.stdout, /calibration of /)
    // a profile calibrate wrote (origin probe) is replaced without --force
    const again = cli([
      'calibrate',
      '--hardware',
      out,
      '--budget',
      '1s',
      '--threads',
      '1',
      '--model',
      model,
      '-r',
      '1',
      '--json',
    ])
    assert.equal(again.status, 0, again.stderr + again.stdout)
    assert.equal(JSON.parse(again.stdout).savedTo, out)
  },
)

test(
  "calibrate's extra rounds: the caller's tests run in the calibration models' rounds (a model calibrate already loads is not loaded twice) and come back, never fitted",
  {timeout: 120_000},
  async () => {
    const dir = tempDir('moerig-calibrate-extra-')
    const model = synthTiny(dir)
    const extra: Array<{rounds: unknown[]; nGen: number; model: number}> = []
    const loads: string[] = []
    const r = await runCalibrate(
      {
        profile: rig({sockets: 1, gpus: 0}) as HardwareProfile,
        savePath: null,
        threads: [1],
        budgetS: 20,
        model,
        extraRounds: {
          // the --model file again (calibrate loads it without mmap and with no offload device: same
          // placement, one load) and tiny 8 tokens
          models: [{path: model, placement: cpuOnly({mmap: false})}],
          tests: [{model: 0, threads: 1, nPrompt: 0, nGen: 8, reps: 1}],
        },
      },
      {onExtraRounds: (tests) => extra.push(...tests), onStep: (l) => loads.push(l)},
    )
    assert.equal(extra.length, 1)
    assert.equal(extra[0].nGen, 8)
    assert.ok(extra[0].rounds.length >= 1)
    // models: tiny, tiny-deep16, r1-mini, the --model file; the extra test runs on the last
    assert.equal(extra[0].model, 3)
    // the extra test is no measurement of the calibration
    assert.ok(!r.measurements.some((m) => m.test === 'tg8' && m.role !== 'dram'), JSON.stringify(r.measurements))
  },
)

test(
  'Ctrl-C during the calibration rounds: exit 130, the rounds that finished are fitted and saved as partial',
  {timeout: 120_000},
  async () => {
    const dir = tempDir('moerig-calibrate-int-')
    const model = synthTiny(dir)
    const out = join(dir, 'hw.json')
    // 50 s: no kernel benchmark (under 60 s); the runner child loads four small models, then rounds
    const {code, out: stdout} = await cliUntilSignal(
      ['calibrate', '--save', out, '--budget', '50s', '--threads', '1', '--model', model, '--json'],
      'SIGINT',
      15_000,
    )
    assert.equal(code, 130, stdout)
    const r = JSON.parse(stdout)
    if (r.error) {
      // a machine loaded enough that the models were still loading: nothing measured, nothing written
      assert.equal(r.error.code, 'E_INTERRUPTED', stdout)
      assert.ok(!existsSync(out))
      return
    }
    assert.equal(r.partial, true, stdout)
    assert.equal(r.stoppedBy, 'SIGINT')
    assert.ok(r.measurements.length > 0 && r.measurements.every((m: {rounds: number}) => m.rounds >= 1), stdout)
    const saved = JSON.parse(readFileSync(out, 'utf8')) as HardwareProfile
    assert.deepEqual(schemaErrors(hardwareProfileSchema, saved), [])
    assert.equal(saved.calibration!.partial, true)
  },
)
