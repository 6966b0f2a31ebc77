// The runner on a synthetic `tiny` model: load, generate, routing trace, memory, placement options,
// errors from the engine as one line, a crashing child as one clear error.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {runPrompt} from '../../src/runner/run.js'
import {runBench} from '../../src/runner/bench.js'
import {openTrace} from '../../src/trace/trace.js'
import {readGguf} from '../../src/model/gguf.js'
import {MoerigError} from '../../src/lib/errors.js'
import {runResultSchema} from '../../src/schemas/run.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {listEngineDevices} from '../../src/runner/checkplan.js'
import {tempDir, synthTiny} from '../support/runner-helpers.js'

let dir = ''
let model = ''

before(() => {
  dir = tempDir()
  model = synthTiny(dir)
})

test('run generates text, times prefill and decode, and writes a routing trace of every token (MoE layers only)', async () => {
  const tracePath = join(dir, 'hello.moetrace')
  const pieces: string[] = []
  const r = await runPrompt(
    {
      path: model,
      prompt: 'The quick brown fox jumps over the lazy dog',
      nPredict: 6,
      threads: 1,
      nCtx: 256,
      tracePath,
      runsDir: join(dir, 'runs'),
    },
    {onText: (t) => pieces.push(t)},
  )
  assert.deepEqual(schemaErrors(runResultSchema, r), [])
  assert.equal(r.nGen, 6)
  assert.equal(r.stopReason, 'length')
  assert.equal(r.text, pieces.join(''))
  assert.ok(r.nPrompt >= 8, `prompt tokenized into ${r.nPrompt} tokens`)
  assert.ok(r.prefill.tps! > 0 && r.decode.tps! > 0)
  assert.ok(r.savedTo && existsSync(r.savedTo))

  const g = await readGguf(model)
  const nLayer = Number(g.metadata['deepseek2.block_count'])
  const nExpert = Number(g.metadata['deepseek2.expert_count'])
  const k = Number(g.metadata['deepseek2.expert_used_count'])
  const lead = Number(g.metadata['deepseek2.leading_dense_block_count'] ?? 0)
  const norm = g.metadata['deepseek2.expert_weights_norm'] === true
  const scale = Number(g.metadata['deepseek2.expert_weights_scale'] ?? 1)
  const src = openTrace(tracePath)
  const h = src.header
  assert.deepEqual(
    h.moeLayers,
    Array.from({length: nLayer - lead}, (_, i) => lead + i),
    'MoE layers only',
  )
  assert.equal(h.k, k)
  assert.equal(h.nExpert, nExpert)
  assert.equal(h.nTokens, r.nPrompt + r.nGen, 'prompt + generated tokens')
  assert.equal(h.hasWeights, true)
  let seen = 0
  for await (const c of src.chunks()) {
    for (let t = 0; t < c.nTokens; t++) {
      for (let l = 0; l < h.moeLayers.length; l++) {
        const off = (t * h.moeLayers.length + l) * k
        const ids = [...c.ids.subarray(off, off + k)]
        assert.ok(
          ids.every((e) => e < nExpert),
          `ids in range: ${ids}`,
        )
        assert.equal(new Set(ids).size, k, 'k distinct experts per token and layer')
        const w = [...c.weights!.subarray(off, off + k)]
        assert.ok(w.every((x) => Number.isFinite(x) && x > 0))
        // the final gate weights: normalised, then scaled by expert_weights_scale
        if (norm) assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - scale) < 1e-3, `weights ${w} sum to ${scale}`)
      }
    }
    seen += c.nTokens
  }
  assert.equal(seen, h.nTokens)
  assert.deepEqual(r.trace, {path: tracePath, nTokens: h.nTokens, moeLayers: h.moeLayers, k, nExpert, hasWeights: true})
})

test('greedy generation is deterministic; memory is reported per device from the log', async () => {
  const a = await runPrompt({path: model, prompt: 'Hello world', nPredict: 5, threads: 1, nCtx: 128, runsDir: null})
  const b = await runPrompt({path: model, prompt: 'Hello world', nPredict: 5, threads: 1, nCtx: 128, runsDir: null})
  assert.equal(a.text, b.text)
  const cpu = a.memory.devices.find((d) => d.device === 'CPU')!
  assert.ok(
    cpu.weightsBytes > 0.5 * a.model.sizeBytes && cpu.weightsBytes < 2 * a.model.fileBytes,
    `weights ${cpu.weightsBytes} vs model ${a.model.sizeBytes}`,
  )
  assert.ok(cpu.kvBytes > 0 && cpu.computeBytes > 0)
  assert.ok(a.memory.buffers.some((x) => x.kind === 'weights' && /^CPU/.test(x.buffer)))
})

test('bench: pp and tg tests with repetitions, raw samples, memory, provenance, saved and schema-valid', async () => {
  const reps: string[] = []
  const r = await runBench(
    {path: model, nPrompt: [32], nGen: [8], reps: 2, threads: 1, runsDir: join(dir, 'runs')},
    {onRep: (t, i) => reps.push(`${t}#${i}`)},
  )
  assert.deepEqual(
    r.results.map((x) => x.test),
    ['pp32', 'tg8'],
  )
  assert.deepEqual(reps, ['pp32#0', 'pp32#1', 'tg8#0', 'tg8#1'])
  for (const x of r.results) {
    assert.equal(x.samples.length, 2)
    assert.equal(x.samplesNs.length, 2)
    assert.ok(x.tps.mean > 0 && x.tps.sd >= 0)
    assert.ok(Math.abs(x.samples[0] - ((x.nPrompt + x.nGen) * 1e9) / x.samplesNs[0]) < 1e-6 * x.samples[0])
    assert.equal(x.nCtx >= x.nPrompt + x.nGen, true)
  }
  assert.equal(r.partial, false)
  assert.equal(r.provenance.backend, 'CPU')
  assert.equal(r.provenance.llamaRelease, 'v0.4.0')
  assert.equal(r.config.threads, 1)
  const saved = JSON.parse(readFileSync(r.savedTo!, 'utf8'))
  assert.deepEqual(saved.results, r.results)
})

/** One pp8 repetition of the tiny model on one thread, no warm-up, not saved; `extra` adds or replaces options. */
function pp8(extra: Partial<Parameters<typeof runBench>[0]> = {}) {
  return runBench({path: model, nPrompt: [8], nGen: [0], reps: 1, threads: 1, warmup: false, runsDir: null, ...extra})
}

test('placement options: -ot patterns and devices, n-cpu-moe, no-mmap load; a bad device or regex is one error line', async () => {
  const ok = await pp8({
    placement: {tensorOverrides: [{pattern: 'ffn_.*_exps', device: 'CPU'}], nCpuMoe: 2, mmap: false, nGpuLayers: 0},
  })
  assert.equal(ok.results.length, 1)
  // without mmap the weights are a plain CPU buffer, not CPU_Mapped
  assert.ok(ok.memory.buffers.every((b) => b.buffer !== 'CPU_Mapped'))
  await assert.rejects(
    pp8({placement: {tensorOverrides: [{pattern: 'exps', device: 'Vulkan7'}]}}),
    (e: MoerigError) =>
      e.code === 'E_ENGINE' && /unknown device "Vulkan7".*available: CPU/.test(e.message) && !e.message.includes('\n'),
  )
  // --device none: no offload device (calibrate's CPU samples), recorded in the result's placement
  const none = await pp8({placement: {devices: []}})
  assert.deepEqual(none.config.placement.devices, [])
  await assert.rejects(
    pp8({placement: {devices: ['CPU']}}),
    (e: MoerigError) => e.code === 'E_ENGINE' && /unknown offload device "CPU"/.test(e.message),
  )
  await assert.rejects(
    pp8({placement: {tensorOverrides: [{pattern: '(unclosed', device: 'CPU'}]}}),
    /not a valid regex/,
  )
})

test('a child that dies (native abort) becomes one clear error, and the CLI process lives on', async () => {
  await assert.rejects(
    runPrompt({
      path: model,
      prompt: 'x',
      nPredict: 2,
      threads: 1,
      runsDir: null,
      childEnv: {MOERIG_TEST_CRASH: 'load'},
    }),
    (e: MoerigError) =>
      e.code === 'E_ENGINE_CRASH' &&
      /engine was killed by SIGABRT while creating the context: moerig test hook: simulated native abort at load/.test(
        e.message,
      ),
  )
})

test('an abort with extra buffer types on runs again once with them off, says so, and records it', async () => {
  const engine = await listEngineDevices()
  const lines: string[] = []
  const run = runBench(
    {
      path: model,
      nPrompt: [8],
      nGen: [2],
      reps: 1,
      threads: 1,
      warmup: false,
      runsDir: null,
      childEnv: {MOERIG_TEST_CRASH: 'context-extra-bufts'},
    },
    {onFallback: (l) => lines.push(l)},
  )
  if (engine.cpuExtraBufferTypes.length === 0) {
    // nothing to turn off on this CPU variant: the abort is the answer
    await assert.rejects(run, /simulated native abort at context-extra-bufts/)
    return
  }
  const r = await run
  assert.equal(lines.length, 1)
  assert.match(
    lines[0],
    /^llama\.cpp aborted with extra buffer types on \(.+\) while creating the context; ran again with them off \(--no-repack\)$/,
  )
  assert.equal(r.provenance.extraBufferFallback, lines[0])
  assert.deepEqual(r.provenance.extraBufferTypes, [])
  assert.equal(r.config.placement.repack, true) // what was asked for
  assert.equal(r.results.length, 2)
  assert.ok(r.memory.buffers.every((b) => b.buffer !== 'AMX' && b.buffer !== 'CPU_REPACK'))
})

test('--no-repack keeps every weight out of the extra buffer types; provenance names the CPU variant', async () => {
  const engine = await listEngineDevices()
  const on = await pp8()
  const off = await pp8({placement: {repack: false}})
  for (const r of [on, off]) {
    assert.equal(r.provenance.cpuVariant, engine.cpuVariant)
    assert.equal(r.provenance.cpuVariantBest, engine.cpuVariantBest)
  }
  assert.deepEqual(on.provenance.extraBufferTypes, engine.cpuExtraBufferTypes)
  assert.deepEqual(off.provenance.extraBufferTypes, [])
  assert.equal(off.config.placement.repack, false)
  assert.equal(off.provenance.amxGuardedTensors, 0)
  assert.ok(off.memory.buffers.every((b) => b.buffer !== 'AMX' && b.buffer !== 'CPU_REPACK'))
  // with mmap the CPU weights are the resident need, the same figure either way within the AMX packing (±10 %)
  const w = (r: typeof on) => r.memory.devices.find((d) => d.device === 'CPU')!.weightsBytes
  assert.ok(Math.abs(w(on) - w(off)) / w(off) < 0.1, `resident CPU weights ${w(on)} vs ${w(off)}`)
})

test('--cpu-variant loads the named variant; an unknown or foreign one is one error line', async () => {
  const engine = await listEngineDevices()
  const other = engine.cpuVariants.filter((v) => v.loadable).at(-1)!
  const r = await pp8({cpuVariant: other.name})
  assert.equal(r.provenance.cpuVariant, other.name)
  await assert.rejects(
    pp8({cpuVariant: 'nosuchcpu'}),
    (e: MoerigError) =>
      /unknown CPU variant "nosuchcpu" \(this CPU runs: /.test(e.message) && !e.message.includes('\n'),
  )
  const foreign = engine.cpuVariants.find((v) => !v.loadable)
  if (foreign) {
    await assert.rejects(
      pp8({cpuVariant: foreign.name}),
      new RegExp(`CPU variant "${foreign.name}" uses instructions this CPU lacks`),
    )
  }
})

test('decode counts the same tokens with and without --trace (the trace-only last step is not timed)', async () => {
  const plain = await runPrompt({path: model, prompt: 'one two three', nPredict: 6, threads: 1, runsDir: null})
  const traced = await runPrompt({
    path: model,
    prompt: 'one two three',
    nPredict: 6,
    threads: 1,
    runsDir: null,
    tracePath: join(dir, 'count.moetrace'),
  })
  assert.equal(plain.nGen, 6)
  assert.equal(traced.nGen, 6)
  assert.equal(plain.decode.tokens, 5)
  assert.equal(traced.decode.tokens, plain.decode.tokens)
  // …while the trace still covers the prompt and every generated token
  assert.equal(traced.trace!.nTokens, traced.nPrompt + traced.nGen)
})

test('a context too small for the prompt is a one-line error', async () => {
  await assert.rejects(
    runPrompt({path: model, prompt: 'word '.repeat(600), nPredict: 2, threads: 1, nCtx: 16, runsDir: null}),
    (e: MoerigError) => /the prompt has \d+ tokens; the context holds/.test(e.message),
  )
})

test('qwen3moe (softmax gating, every block MoE) traces too', async () => {
  const q = synthTiny(dir, 'qwen3moe-tiny')
  const tracePath = join(dir, 'q.moetrace')
  const r = await runPrompt({
    path: q,
    prompt: 'Hello there',
    nPredict: 3,
    threads: 1,
    nCtx: 128,
    tracePath,
    runsDir: null,
  })
  const h = openTrace(tracePath).header
  assert.equal(h.arch, 'qwen3moe')
  assert.deepEqual(
    h.moeLayers,
    Array.from({length: h.nLayer}, (_, i) => i),
  )
  assert.equal(h.nTokens, r.nPrompt + r.nGen)
  assert.equal(h.hasWeights, true)
})
