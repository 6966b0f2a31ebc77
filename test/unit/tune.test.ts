/**
 * `moerig tune` search logic as pure functions (issue 14): the space, pruning by the planner's fit
 * on fake hardware with GPUs, the feedback, successive halving, the budget and stopping, with a
 * fake measurer and a fake clock.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import type {HardwareProfile} from '../../src/schemas/hardware.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {
  candidateConfigs,
  configFlags,
  configKey,
  llamaDefaults,
  placementChoices,
  spaceValues,
  threadValues,
  type TuneConfig,
} from '../../src/tune/space.js'
import {makePredictor, planFor} from '../../src/tune/predict.js'
import {
  correctedPrediction,
  search,
  type Candidate,
  type Measurer,
  type MeasureResult,
  type SearchOptions,
} from '../../src/tune/search.js'
import {planConfig, prepareCandidates, rankMeasured, winnerCommands} from '../../src/tune/tune.js'
import {tuneLines} from '../../src/tune/render.js'
import {tuneResultSchema, type TuneResult} from '../../src/schemas/tune.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const json = <T>(rel: string): T => JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as T
const r1 = catalogModel('deepseek-r1')
const rig2 = json<HardwareProfile>('../../profiles/hardware/dual-8592-2xa770.json')

test('threads: 1 … logical CPUs, physical cores first; a ladder on big machines', () => {
  assert.deepEqual(threadValues(2, 2), [2, 1])
  assert.deepEqual(threadValues(8, 4), [4, 3, 2, 1, 5, 6, 7, 8])
  const big = threadValues(256, 128, 2)
  assert.equal(big[0], 128, 'physical cores first')
  assert.ok(big.includes(64), 'one NUMA node')
  assert.ok(big.includes(256) && big.includes(1), 'big.includes(256) && big.includes(1)')
  assert.ok(big.length < 20, `a ladder, not ${big.length} counts`)
})

test('placements: CPU only without GPUs; per GPU count auto, exps=CPU, all-gpu and --n-cpu-moe steps with', () => {
  assert.deepEqual(placementChoices(0, 3, 61), [{gpus: 0, mode: 'cpu', nCpuMoe: null}])
  const two = placementChoices(2, 3, 61)
  assert.equal(two.filter((p) => p.gpus === 2 && p.mode === 'n-cpu-moe').length, 4)
  assert.ok(
    two.every((p) => p.mode !== 'n-cpu-moe' || (p.nCpuMoe! > 3 && p.nCpuMoe! < 61)),
    "two.every((p) => p.mode !== 'n-cpu-moe' || (p.nCpuMoe! > 3 && p.nCpuMoe! < 61))",
  )
  assert.ok(
    two.some((p) => p.gpus === 1 && p.mode === 'all-gpu'),
    "two.some((p) => p.gpus === 1 && p.mode === 'all-gpu')",
  )
})

test('space: NUMA modes only on multi-node machines, ubatch bounded by the prompt, ids unique', () => {
  const base = {logicalCpus: 2, physicalCores: 2, gpus: 0, firstMoeLayer: 1, nLayer: 4, nPrompt: 256}
  const one = spaceValues({...base, numaNodes: 1, cpuVariants: ['zen4', 'icelake', 'haswell']})
  assert.deepEqual(one.numa, ['disabled'])
  assert.deepEqual(one.ubatch, [128, 256])
  assert.deepEqual(one.cpuVariants, [null, 'icelake'], "ggml's pick and the next one")
  const two = spaceValues({...base, numaNodes: 2, cpuVariants: ['zen4']})
  assert.deepEqual(two.numa, ['disabled', 'distribute', 'isolate'])
  assert.deepEqual(two.cpuVariants, [null])
  assert.deepEqual(one.opOffload, [true], 'no GPU: op offload changes nothing')
  const all = candidateConfigs(one)
  assert.equal(all.length, 2 * 2 * 3 * 2 * 2 * 2)
  assert.equal(new Set(all.map(configKey)).size, all.length)
  const d = llamaDefaults({logicalCpus: 2, physicalCores: 2, gpus: 0})
  assert.deepEqual(
    [d.threads, d.nUbatch, d.nBatch, d.flashAttn, d.kvType, d.repack],
    [2, 512, 2048, 'auto', 'f16', true],
  )
  assert.equal(llamaDefaults({logicalCpus: 8, physicalCores: 4, gpus: 2}).placement.mode, 'all-gpu')
})

test('pruning on fake hardware with 2 GPUs: R1 all on two A770s does not fit, the planner placements do', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  const predictor = makePredictor({inv, profiles: [rig2], ctx: 8192, baseThreads: 64})
  const values = spaceValues({
    logicalCpus: 256,
    physicalCores: 128,
    numaNodes: 2,
    gpus: 2,
    firstMoeLayer: Math.min(...inv.moeLayers),
    nLayer: inv.shape.hp.nLayer,
    cpuVariants: ['sapphirerapids'],
    nPrompt: 512,
    threads: [32, 64],
    ubatchValues: [512],
    kvTypes: ['f16'],
  })
  values.flashAttn = ['on']
  values.repack = [true]
  values.numa = ['distribute']
  const defaults = llamaDefaults({logicalCpus: 256, physicalCores: 128, gpus: 2})
  const prep = prepareCandidates(values, [{config: defaults, tag: 'defaults'}], (c) => predictor.predict(c))
  assert.ok(prep.total > prep.candidates.length, 'something was pruned')
  assert.ok(!prep.candidates.some((c) => c.config.placement.mode === 'all-gpu'), 'all-gpu pruned')
  assert.ok(!prep.candidates.some((c) => c.tags.includes('defaults')), "llama-bench's -ngl 99 does not fit")
  assert.ok(
    Object.keys(prep.pruned).some((r) => /VRAM/.test(r)),
    JSON.stringify(prep.pruned),
  )
  const gpuAuto = prep.candidates.find((c) => c.config.placement.gpus === 2 && c.config.placement.mode === 'auto')
  assert.ok(gpuAuto, 'the planner placement on 2 GPUs fits')
  const p = predictor.predict(gpuAuto.config)
  assert.ok(p.placement.nGpuLayers > 0 && p.placement.tensorSplit.length === 2, '-ngl and -ts from the planner')
  assert.ok(
    p.placement.tensorOverrides.some((o) => o.device === 'CPU'),
    'experts to the CPU via -ot',
  )
  // more threads predict faster decode (the separable thread factor)
  const at = (t: number) => predictor.predict({...gpuAuto.config, threads: t}).decodeTps
  assert.ok(at(64) > at(32), 'at(64) > at(32)')
  // separable in threads: one call per placement at the base count, one per placement and thread count
  assert.ok(
    predictor.calls() <= values.placements.length * values.opOffload.length * (1 + values.threads.length) + 2,
    `${predictor.calls()} calls for ${prep.total}`,
  )
  // op offload is a dimension where a GPU placement keeps weights in RAM: the planner runs each side
  assert.deepEqual(values.opOffload, [true, false])
  const nopo = prep.candidates.filter((c) => c.config.opOffload === false)
  assert.ok(nopo.length > 0 && nopo.every((c) => c.config.placement.gpus > 0 && c.config.placement.mode !== 'all-gpu'))
  assert.ok(nopo.every((c) => / nopo$/.test(c.id) && /--no-op-offload/.test(configFlags(c.config))))
  const off = predictor.predict({...gpuAuto.config, opOffload: false})
  assert.notEqual(off.prefillTps, p.prefillTps, 'the CPU computing its experts predicts another prefill')
  assert.equal(
    planFor({inv, profiles: [rig2], ctx: 8192, baseThreads: 64}, {...gpuAuto.config, opOffload: false}).placement
      .opOffload,
    false,
  )
  // the plan's pick maps back onto a tune configuration
  const plan = planFor({inv, profiles: [rig2], ctx: 8192, baseThreads: 64}, gpuAuto.config)
  const pc = planConfig(plan, 256)
  assert.equal(pc.placement.gpus, 2)
  assert.equal(pc.numa, 'distribute')
})

// ------------------------------------------------------------------ fake measurer

/** A CPU-only space whose truth differs from the prediction where the planner is blind. */
function fakeSpace(): Candidate[] {
  const values = spaceValues({
    logicalCpus: 4,
    physicalCores: 4,
    numaNodes: 1,
    gpus: 0,
    firstMoeLayer: 1,
    nLayer: 4,
    cpuVariants: ['zen4', 'icelake'],
    nPrompt: 512,
    ubatchValues: [128, 512],
  })
  return candidateConfigs(values).map((config, i) => ({
    id: configKey(config),
    config,
    predicted: {decodeTps: 100 * config.threads, prefillTps: 1000 * config.threads * (config.nUbatch / 512)},
    tags: i === 0 ? ['defaults'] : [],
  }))
}

/** Truth: threads help decode until 3 (the 4th is contended); --no-repack doubles decode; icelake is slower. */
function truth(c: TuneConfig): {decode: number; prefill: number} {
  const t = Math.min(c.threads, 3) - (c.threads === 4 ? 0.5 : 0)
  const decode = 40 * t * (c.repack ? 1 : 2) * (c.cpuVariant === 'icelake' ? 0.8 : 1)
  const prefill = 400 * c.threads * (c.nUbatch / 512) * (c.flashAttn === 'off' ? 0.9 : 1)
  return {decode, prefill}
}

function fakeMeasurer(clock: {t: number}, opts: {noise?: number; fail?: (c: Candidate) => boolean} = {}) {
  const calls: Array<{id: string; reps: number}> = []
  let seed = 7
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 2
  const m: Measurer = {
    async measure(c, reps): Promise<MeasureResult> {
      calls.push({id: c.id, reps})
      const tr = truth(c.config)
      const seconds = 2 + (reps + 1) * (512 / tr.prefill + 64 / tr.decode)
      clock.t += seconds
      if (opts.fail?.(c)) return {decode: [], prefill: [], seconds, error: 'llama.cpp engine was killed by SIGABRT'}
      const n = opts.noise ?? 0
      return {
        decode: Array.from({length: reps}, () => tr.decode * (1 + n * rnd())),
        prefill: Array.from({length: reps}, () => tr.prefill * (1 + n * rnd())),
        seconds,
      }
    },
  }
  return {m, calls}
}

const opts = (clock: {t: number}, extra: Partial<SearchOptions> = {}): SearchOptions => ({
  objective: 'decode',
  budgetS: 600,
  now: () => clock.t,
  tests: {nPrompt: 512, nGen: 64},
  ...extra,
})

const bestTrue = (cands: Candidate[], f: (c: TuneConfig) => number) => Math.max(...cands.map((c) => f(c.config)))

test('search: the feedback finds what the planner cannot see (--no-repack), confirmed with full repetitions', async () => {
  const cands = fakeSpace()
  const clock = {t: 0}
  const {m, calls} = fakeMeasurer(clock)
  const r = await search(cands, m, opts(clock))
  assert.equal(r.stop, 'done')
  const w = cands.find((c) => c.id === r.winner)!
  assert.equal(
    truth(w.config).decode,
    bestTrue(cands, (c) => truth(c).decode),
    `winner ${r.winner}`,
  )
  assert.equal(w.config.repack, false, 'learnt from measurements: the planner predicts repack on and off alike')
  assert.equal(w.config.threads, 3, 'the planner prefers 4 threads; the measurement says 3')
  // seeds first, with short runs
  assert.equal(calls[0].id, cands[0].id)
  assert.equal(r.path[0].phase, 'seed')
  // successive halving: full repetitions for the confirmed top three only
  const full = r.measured.filter((x) => x.decode.length === 5)
  assert.ok(full.length >= 1 && full.length <= 3, `${full.length} with 5 reps`)
  assert.ok(
    full.some((x) => x.id === r.winner),
    'full.some((x) => x.id === r.winner)',
  )
  // plan-guided, not a grid: far fewer measured than the space
  assert.ok(r.measured.length < cands.length / 2, `${r.measured.length} of ${cands.length} measured`)
  // the path records the best so far, never getting worse
  const bests = r.path.map((p) => p.bestScore ?? 0)
  assert.ok(bests.length === r.path.length, 'bests.length === r.path.length')
  assert.ok(
    r.path.every((p) => p.atS >= 0),
    'r.path.every((p) => p.atS >= 0)',
  )
})

test('search: a dimension the planner gets backwards (one thread 10× faster on an oversubscribed machine) is found', async () => {
  const cands = fakeSpace()
  const clock = {t: 0}
  const calls: string[] = []
  const contended = (c: TuneConfig) => (c.threads === 1 ? 400 : 40) * (c.repack ? 1 : 1.1)
  const m: Measurer = {
    async measure(c, reps) {
      calls.push(c.id)
      const d = contended(c.config)
      const seconds = 2 + (reps + 1) * (64 / d)
      clock.t += seconds
      return {decode: Array(reps).fill(d), prefill: Array(reps).fill(1000), seconds}
    },
  }
  const r = await search(cands, m, opts(clock, {budgetS: 120}))
  const w = cands.find((c) => c.id === r.winner)!
  assert.equal(w.config.threads, 1, `winner ${r.winner} after ${calls.length} measurements`)
  assert.ok(r.measured.length < cands.length / 4, 'r.measured.length < cands.length / 4')
})

test('search: the predicted/measured ratio of similar measured configurations corrects the rest', () => {
  const [a, b] = fakeSpace()
  const far = {...b, config: {...b.config, threads: 1, nUbatch: 128, repack: false, cpuVariant: 'icelake'}}
  const obs = [
    {config: a.config, predicted: {decodeTps: 10, prefillTps: 100}, decodeTps: 5, prefillTps: 100},
    {config: far.config, predicted: {decodeTps: 10, prefillTps: 100}, decodeTps: 20, prefillTps: 100},
  ]
  const near = correctedPrediction({config: a.config, predicted: {decodeTps: 10, prefillTps: 50}}, obs)
  assert.ok(near.decodeTps < 6, `near a: ${near.decodeTps}`)
  assert.equal(Math.round(near.prefillTps), 50)
  const nearFar = correctedPrediction({config: far.config, predicted: {decodeTps: 10, prefillTps: 50}}, obs)
  assert.ok(nearFar.decodeTps > 15, `near far: ${nearFar.decodeTps}`)
  assert.deepEqual(correctedPrediction({config: a.config, predicted: {decodeTps: 3, prefillTps: 4}}, []), {
    decodeTps: 3,
    prefillTps: 4,
  })
})

test('search: stops at the budget (no measurement starts that would not fit it)', async () => {
  const cands = fakeSpace()
  let cut = 0
  for (let budget = 10; budget <= 80; budget += 5) {
    const clock = {t: 0}
    const {m} = fakeMeasurer(clock)
    const r = await search(cands, m, opts(clock, {budgetS: budget}))
    const longest = Math.max(...r.path.map((p) => p.seconds))
    // the estimate comes from the measurements so far: at most one measurement past the budget
    assert.ok(clock.t <= budget + longest, `budget ${budget}: spent ${clock.t} s`)
    assert.ok(r.winner !== null, `budget ${budget}: a winner`)
    if (r.stop === 'budget') cut++
    else assert.equal(r.stop, 'done')
  }
  assert.ok(cut >= 3, `${cut} budgets cut the search`)
  // a budget smaller than one measurement still measures the seeds' first
  const c2 = {t: 0}
  const tiny = await search(cands, fakeMeasurer(c2).m, opts(c2, {budgetS: 1}))
  assert.equal(tiny.measured.length, 1)
  assert.equal(tiny.stop, 'budget')
})

test('search: a stop request (Ctrl-C) ends it after the current measurement and keeps what was measured', async () => {
  const cands = fakeSpace()
  const clock = {t: 0}
  const {m, calls} = fakeMeasurer(clock)
  const r = await search(cands, m, opts(clock, {stopRequested: () => calls.length >= 4}))
  assert.equal(r.stop, 'signal')
  assert.equal(r.measured.length, 4)
  assert.equal(r.path.length, 4)
  assert.ok(r.winner, 'r.winner')
})

test('search: a measurement llama.cpp refuses is recorded and the search goes on', async () => {
  const cands = fakeSpace()
  const clock = {t: 0}
  const {m} = fakeMeasurer(clock, {fail: (c) => c.config.flashAttn === 'off'})
  const r = await search(cands, m, opts(clock, {objective: 'prefill'}))
  const failed = r.measured.filter((x) => x.errors.length > 0)
  assert.ok(failed.length >= 1, 'failed.length >= 1')
  assert.ok(r.winner && !failed.some((f) => f.id === r.winner), 'r.winner && !failed.some((f) => f.id === r.winner)')
  assert.ok(
    r.path.some((p) => p.error),
    'r.path.some((p) => p.error)',
  )
  assert.ok(
    truth(cands.find((c) => c.id === r.winner)!.config).prefill >= 0.95 * 400 * 4,
    'truth(cands.find((c) => c.id === r.winner)!.config).prefill >= 0.95 * 400 * 4',
  )
})

test('search: under noise, the winner is still within 10 % of the true best (halving averages repetitions)', async () => {
  const cands = fakeSpace()
  const clock = {t: 0}
  const {m} = fakeMeasurer(clock, {noise: 0.15})
  const r = await search(cands, m, opts(clock))
  const w = truth(cands.find((c) => c.id === r.winner)!.config).decode
  assert.ok(w >= 0.9 * bestTrue(cands, (c) => truth(c).decode), `winner decodes ${w}`)
})

/** A plan's placement with everything on the CPU (llama.cpp's defaults, no GPU). */
const CPU_PLACEMENT = {
  nGpuLayers: 0,
  splitMode: 'layer' as const,
  mainGpu: 0,
  tensorSplit: [],
  tensorOverrides: [],
  nCpuMoe: 0,
  mmap: true,
  mlock: false,
  numa: 'disabled' as const,
}

test('ranked result: ratios to the defaults and the plan pick; winner commands carry what the planner does not say', async () => {
  const cands = fakeSpace()
  cands[5].tags.push('plan')
  const clock = {t: 0}
  const {m} = fakeMeasurer(clock)
  const r = await search(cands, m, opts(clock))
  const predictions = new Map(
    cands.map((c) => [
      c.id,
      {
        fits: true,
        reason: null,
        decodeTps: c.predicted.decodeTps,
        prefillTps: c.predicted.prefillTps,
        devices: [],
        placement: {...CPU_PLACEMENT, repack: c.config.repack},
      },
    ]),
  )
  const rows = rankMeasured({candidates: cands, predictions}, r, 'decode', () => [{device: 'CPU', totalBytes: 1}])
  assert.equal(rows[0].id, rows.find((x) => x.score === Math.max(...rows.map((y) => y.score ?? 0)))!.id)
  const d = rows.find((x) => x.tags.includes('defaults'))!
  assert.equal(d.vsDefaults, 1)
  const w = rows.find((x) => x.tags.includes('winner'))!
  assert.ok(w.vsDefaults! > 1.5, `winner vs defaults ${w.vsDefaults}`)
  assert.ok(
    w.flags.includes('--no-repack') && w.flags.includes('CPU only'),
    "w.flags.includes('--no-repack') && w.flags.includes('CPU only')",
  )
  assert.ok(
    w.decode!.sd >= 0 && w.decode!.samples.length === w.reps,
    'w.decode!.sd >= 0 && w.decode!.samples.length === w.reps',
  )

  const server = 'llama-server -m m.gguf -c 8192 -ngl 0 -t 3 -ctk f16 -fa on -ub 512 -b 2048 --host 0.0.0.0 --port 8080'
  const bench = 'llama-bench -m m.gguf -ngl 0 -t 3 -ctk f16 -fa 1 -ub 512 -b 2048 -p 512 -n 128 -r 5 -o json'
  const cmds = winnerCommands(
    {...w.config, flashAttn: 'auto', numa: 'isolate', cpuVariant: 'icelake'},
    {llamaServer: server, llamaBench: bench, flashMoe: 'flash-moe', ktransformers: null, rpc: null},
  )
  assert.match(cmds.llamaServer, / -fa auto /)
  assert.match(cmds.llamaServer, / --no-repack --host /)
  assert.match(cmds.llamaServer, / -t 3 --numa isolate /)
  assert.match(cmds.llamaBench, / -nr 1 -p 512/)
  assert.equal(cmds.flashMoe, null, 'no GPU: no FlashMoE line')
  assert.ok(
    cmds.notes.some((n) => /libggml-cpu-icelake/.test(n)),
    'cmds.notes.some((n) => /libggml-cpu-icelake/.test(n))',
  )
})

test('a tune result from the search validates against the schema and renders the ranked table and the winner', async () => {
  const cands = fakeSpace()
  const clock = {t: 0}
  const {m} = fakeMeasurer(clock)
  const s = await search(cands, m, opts(clock, {budgetS: 600}))
  const placement = CPU_PLACEMENT
  const predictions = new Map(
    cands.map((c) => [c.id, {fits: true, reason: null, ...c.predicted, devices: [], placement}]),
  )
  const measured = rankMeasured({candidates: cands, predictions}, s, 'decode', () => [
    {device: 'CPU', totalBytes: 32 * 2 ** 20},
  ])
  const winner = cands.find((c) => c.id === s.winner)!
  const result: TuneResult = {
    schemaVersion: 1,
    kind: 'tune',
    partial: false,
    stop: s.stop,
    objective: 'decode',
    budgetS: 600,
    context: 4096,
    tests: {nPrompt: 512, nGen: 64},
    model: {path: '/m/tiny.gguf', name: 'tiny', fileBytes: 1},
    hardware: {id: 'probe', name: 'fake', logicalCpus: 4, physicalCores: 4, numaNodes: 1, gpus: []},
    space: {
      threads: [4, 3, 2, 1],
      ubatch: [128, 512],
      flashAttn: ['auto', 'on', 'off'],
      kvTypes: ['f16', 'q8_0'],
      repack: [true, false],
      cpuVariants: [null, 'icelake'],
      numa: ['disabled'],
      placements: ['CPU only'],
      candidates: cands.length,
      fitting: cands.length,
      pruned: {},
      plannerCalls: 3,
    },
    defaultsId: cands[0].id,
    planId: null,
    winnerId: s.winner,
    measured,
    path: s.path,
    ratio: s.ratio,
    commands: winnerCommands(winner.config, {
      llamaServer:
        'llama-server -m m.gguf -c 4096 -ngl 0 -t 3 -ctk f16 -fa on -ub 512 -b 2048 --host 0.0.0.0 --port 8080',
      llamaBench: 'llama-bench -m m.gguf -ngl 0 -t 3 -ctk f16 -fa 1 -ub 512 -b 2048 -p 512 -n 128 -r 5 -o json',
      flashMoe: null,
      ktransformers: null,
      rpc: null,
    }),
    seconds: clock.t,
    measureSeconds: s.measureSeconds,
    notes: [],
    provenance: {
      moerigVersion: '0.1.0',
      llamaRelease: 'v0.4.0',
      cpu: 'fake',
      cpuVariant: 'zen4',
      time: new Date(0).toISOString(),
      loadAverage: {start: [0, 0, 0], end: [0, 0, 0]},
    },
  }
  assert.deepEqual(schemaErrors(tuneResultSchema, result), [])
  const text = tuneLines(result).join('\n')
  assert.match(text, /\| +# \| config +\| +pp512 t\/s \| +tg64 t\/s \|/)
  assert.match(text, /winner: -t 3 .*--no-repack CPU only — pp [\d.]+ ± [\d.]+ t\/s, tg 240\.00 ± 0\.00 t\/s/)
  assert.match(text, /×2\.\d\d llama\.cpp's defaults/)
  assert.match(text, /--no-repack --host/)
  // a measured row per configuration, the winner's row tagged
  assert.ok(text.split('\n').filter((l) => /^\| +\d+ \|/.test(l)).length >= Math.min(15, measured.length), 'rows')
  assert.ok(
    text.split('\n').some((l) => /^\| +1 \|.*winner/.test(l)),
    "text.split('\\n').some((l) => /^\\| +1 \\|.*winner/.test(l))",
  )
})
