import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync, statSync} from 'node:fs'
import {basename, join} from 'node:path'
import {readGguf, type GgufModel} from '../../src/model/gguf.js'
import {cachedSynthModel, checkModel, synthModel} from '../../src/runner/synth.js'
import {
  SYNTH_PRESETS,
  SYNTH_QUANTS,
  presetBytes,
  presetParams,
  presetTensors,
  SYNTH_VOCABS,
  type SynthQuant,
} from '../../src/model/synth-presets.js'
import {synthResultSchema} from '../../src/schemas/synth.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {tempDir} from '../support/tmp.js'

let dir = ''
before(() => {
  dir = tempDir('moerig-synth-')
})
after(() => {
  if (dir) rmSync(dir, {recursive: true, force: true})
})

/** Run the CLI; returns exit status and both streams. */
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8'})
  return {status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

const names = (m: GgufModel) => new Set(m.tensors.map((t) => t.name))
const tensor = (m: GgufModel, name: string) => {
  const t = m.tensors.find((x) => x.name === name)
  assert.ok(t, `tensor ${name} missing`)
  return t
}

test('synth tiny (CLI, --json --check): deepseek2 MLA layout, R1 routing metadata, a true Q4_K_M mix, llama.cpp decodes it', async () => {
  const out = join(dir, 'tiny.gguf')
  const r = cli('synth', '--preset', 'tiny', '-o', out, '--check', '--json')
  assert.equal(r.status, 0, r.stderr)
  const res = JSON.parse(r.stdout)
  assert.deepEqual(schemaErrors(synthResultSchema, res), [])
  assert.equal(res.arch, 'deepseek2')
  assert.equal(res.quant, 'Q4_K_M')
  assert.equal(res.kvLayout, 'mla')
  assert.equal(res.nExpert, 16)
  assert.equal(res.nExpertUsed, 4)
  assert.equal(res.check.logitsFinite, true)
  assert.ok(res.fileBytes < 32 * 1024 ** 2, `tiny is ${res.fileBytes} bytes`)

  const m = await readGguf(out)
  assert.equal(m.arch, 'deepseek2')
  assert.equal(m.fileBytes, res.fileBytes)
  assert.equal(m.tensors.length, res.tensorCount)
  const md = m.metadata
  assert.equal(md['deepseek2.block_count'], 4)
  assert.equal(md['deepseek2.leading_dense_block_count'], 1)
  assert.equal(md['deepseek2.expert_count'], 16)
  assert.equal(md['deepseek2.expert_used_count'], 4)
  assert.equal(md['deepseek2.expert_shared_count'], 1)
  assert.equal(md['deepseek2.expert_group_count'], 4)
  assert.equal(md['deepseek2.expert_group_used_count'], 2)
  assert.equal(md['deepseek2.expert_gating_func'], 2) // sigmoid
  assert.equal(md['deepseek2.expert_weights_norm'], true)
  assert.equal(md['deepseek2.attention.head_count_kv'], 1)
  assert.equal(md['deepseek2.attention.key_length_mla'], 192)
  assert.equal(md['deepseek2.attention.value_length_mla'], 128)
  assert.equal(md['deepseek2.attention.key_length'], 256 + 64)
  assert.equal(md['deepseek2.rope.scaling.type'], 'yarn')
  assert.equal(md['general.file_type'], 15) // LLAMA_FTYPE_MOSTLY_Q4_K_M
  assert.equal(md['tokenizer.ggml.model'], 'gpt2')
  assert.equal(md['tokenizer.ggml.pre'], 'deepseek-coder')
  assert.equal(md['moerig.synth.preset'], 'tiny')

  const n = names(m)
  assert.ok(n.has('blk.1.attn_k_b.weight') && n.has('blk.1.attn_v_b.weight'))
  assert.ok(!n.has('blk.1.attn_kv_b.weight'))
  assert.deepEqual(tensor(m, 'blk.1.attn_k_b.weight').shape, [128, 256, 4])
  assert.deepEqual(tensor(m, 'blk.1.attn_v_b.weight').shape, [256, 128, 4])
  // dense lead block, then MoE blocks with router, expert bias, experts and one shared expert
  assert.ok(n.has('blk.0.ffn_gate.weight') && !n.has('blk.0.ffn_gate_inp.weight'))
  assert.deepEqual(tensor(m, 'blk.1.ffn_gate_exps.weight').shape, [256, 256, 16])
  assert.deepEqual(tensor(m, 'blk.3.ffn_down_exps.weight').shape, [256, 256, 16])
  assert.deepEqual(tensor(m, 'blk.1.exp_probs_b.bias').shape, [16])
  assert.ok(n.has('blk.1.ffn_gate_shexp.weight') && n.has('blk.3.ffn_up_shexp.weight'))
  assert.deepEqual(tensor(m, 'token_embd.weight').shape, [256, 32256])
  // llama.cpp's Q4_K_M rules: Q4_K default, Q6_K for output and some ffn_down; router and norms F32;
  // attn_k_b rows (128) are not whole Q4_K blocks → Q5_0, as in real R1 files.
  const types = new Set(m.tensors.map((t) => t.typeName.toUpperCase()))
  assert.ok(types.has('Q4_K') && types.has('Q6_K'), [...types].join(','))
  assert.equal(tensor(m, 'output.weight').typeName.toUpperCase(), 'Q6_K')
  assert.equal(tensor(m, 'blk.1.ffn_gate_exps.weight').typeName.toUpperCase(), 'Q4_K')
  assert.equal(tensor(m, 'blk.1.ffn_gate_inp.weight').typeName.toUpperCase(), 'F32')
  assert.equal(tensor(m, 'blk.1.attn_k_b.weight').typeName.toUpperCase(), 'Q5_0')
  assert.ok(m.tensors.some((t) => t.name.includes('ffn_down_exps') && t.typeName.toUpperCase() === 'Q6_K'))
  assert.ok(m.tensors.some((t) => t.name.includes('ffn_down_exps') && t.typeName.toUpperCase() === 'Q4_K'))
})

test('synth tiny with the legacy KV layout: attn_kv_b, per-head K/V keys, loads and decodes', async () => {
  const out = join(dir, 'tiny-legacy.gguf')
  const res = await synthModel({preset: 'tiny', kvLayout: 'legacy', output: out})
  assert.equal(res.kvLayout, 'legacy')
  const m = await readGguf(out)
  const n = names(m)
  assert.ok(n.has('blk.0.attn_kv_b.weight') && n.has('blk.3.attn_kv_b.weight'))
  assert.ok(!n.has('blk.0.attn_k_b.weight') && !n.has('blk.0.attn_v_b.weight'))
  assert.deepEqual(tensor(m, 'blk.2.attn_kv_b.weight').shape, [256, 4 * (128 + 128)])
  assert.equal(m.metadata['deepseek2.attention.key_length_mla'], undefined)
  assert.equal(m.metadata['deepseek2.attention.head_count_kv'], 4)
  assert.equal(m.metadata['deepseek2.attention.key_length'], 192)
  assert.equal(m.tensors.length, res.tensorCount)
  assert.equal(res.tensorCount, 70 - 4) // one attention tensor fewer per block
  const c = await checkModel(out)
  assert.equal(c.logitsFinite, true)
  assert.equal(c.nLayer, 4)
  // a real BPE vocabulary: English words are single tokens, not bytes
  assert.ok(c.nTokens <= 13, `prompt took ${c.nTokens} tokens`)
  // the preset alias gives the same layout
  assert.equal(SYNTH_PRESETS['tiny-legacy'].hparams.kvLayout, 'legacy')
})

test('synth qwen3moe-tiny: qwen3moe tensors, qwen2 vocabulary, loads and decodes', async () => {
  const out = join(dir, 'qwen.gguf')
  const res = await synthModel({preset: 'qwen3moe-tiny', quant: 'q8_0', output: out})
  assert.equal(res.arch, 'qwen3moe')
  assert.equal(res.quant, 'Q8_0')
  assert.equal(res.kvLayout, null)
  const m = await readGguf(out)
  assert.equal(m.arch, 'qwen3moe')
  assert.equal(m.metadata['qwen3moe.expert_count'], 16)
  assert.equal(m.metadata['qwen3moe.expert_used_count'], 4)
  assert.equal(m.metadata['tokenizer.ggml.pre'], 'qwen2')
  const n = names(m)
  for (const t of [
    'attn_q',
    'attn_k',
    'attn_v',
    'attn_q_norm',
    'attn_k_norm',
    'ffn_gate_inp',
    'ffn_gate_exps',
    'ffn_up_exps',
    'ffn_down_exps',
  ]) {
    assert.ok(n.has(`blk.3.${t}.weight`), t)
  }
  assert.ok(![...n].some((x) => x.includes('shexp')))
  assert.equal(res.params, presetParams(SYNTH_PRESETS['qwen3moe-tiny'].hparams, SYNTH_VOCABS.qwen2.tokens))
  const c = await checkModel(out)
  assert.equal(c.logitsFinite, true)
  assert.equal(c.nVocab, 151936)
})

test('same preset and seed give identical bytes; --force overwrites, a new seed changes the weights', async () => {
  const a = join(dir, 'a.gguf')
  const b = join(dir, 'b.gguf')
  const ra = await synthModel({preset: 'tiny', quant: 'F16', output: a, seed: 7})
  await synthModel({preset: 'tiny', quant: 'F16', output: b, seed: 7})
  assert.deepEqual(ra.typeCounts, {f16: 47, f32: 23})
  assert.equal(ra.params, presetParams(SYNTH_PRESETS.tiny.hparams, SYNTH_VOCABS['deepseek-coder'].tokens))
  const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex')
  assert.equal(sha(a), sha(b))
  await synthModel({preset: 'tiny', quant: 'F16', output: b, seed: 8, force: true})
  assert.notEqual(sha(a), sha(b))
  // no temp files left next to the outputs
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-') || f.includes('.f16-')),
    [],
  )
  // the cache helper makes a file once and then hands back the same path; making it removes an
  // older version of the same model (another hash), not other models nor other files
  const cache = join(dir, 'cache')
  mkdirSync(cache)
  const keep = [
    'tiny-F16-s7-0123456789ab.gguf.tmp-1',
    'tiny-deep16-F16-s7-0123456789ab.gguf',
    'tiny-F16-s8-0123456789ab.gguf',
  ]
  for (const f of [...keep, 'tiny-F16-s7-0123456789ab.gguf']) writeFileSync(join(cache, f), 'old')
  const c1 = await cachedSynthModel({preset: 'tiny', quant: 'F16', seed: 7}, cache)
  assert.deepEqual(readdirSync(cache).sort(), [...keep, basename(c1)].sort())
  const mtime = statSync(c1).mtimeMs
  assert.equal(await cachedSynthModel({preset: 'tiny', quant: 'F16', seed: 7}, cache), c1)
  assert.equal(statSync(c1).mtimeMs, mtime)
  assert.equal(sha(c1), sha(a))
})

test('bad inputs: one line, non-zero exit, existing files untouched', async () => {
  // through the CLI: the one-line error path, text and --json
  const r1 = cli('synth', '--preset', 'huge', '-o', join(dir, 'x.gguf'))
  assert.notEqual(r1.status, 0)
  assert.match(
    r1.stderr,
    /^moerig: error: unknown preset "huge"; presets: tiny, tiny-legacy, r1-mini, r1-dram, qwen3moe-tiny\n$/,
  )

  const existing = join(dir, 'keep.gguf')
  writeFileSync(existing, 'precious')
  const r2 = cli('synth', '--preset', 'tiny', '-o', existing, '--json')
  assert.notEqual(r2.status, 0)
  assert.deepEqual(JSON.parse(r2.stdout).error, {
    code: 'E_EXISTS',
    message: `output ${existing} already exists; use --force to overwrite it`,
  })
  assert.equal(readFileSync(existing, 'utf8'), 'precious')

  // the same module the command calls: each a MoerigError with one line
  const bad = async (opts: Parameters<typeof synthModel>[0], re: RegExp) => {
    await assert.rejects(
      synthModel(opts),
      (e: Error) => e.name === 'MoerigError' && re.test(e.message) && !e.message.includes('\n'),
    )
  }
  await bad(
    {preset: 'tiny', quant: 'Q4_K_X', output: join(dir, 'x.gguf')},
    /^unknown quant "Q4_K_X"; synth writes Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, Q8_0, F16$/,
  )
  await bad(
    {preset: 'qwen3moe-tiny', kvLayout: 'legacy', output: join(dir, 'x.gguf')},
    /--kv-layout applies to deepseek2 presets only/,
  )
  await bad(
    {preset: 'tiny', kvLayout: 'mha', output: join(dir, 'x.gguf')},
    /unknown KV layout "mha"; use mla or legacy/,
  )
  await bad(
    {preset: 'tiny', pipeline: 'fast' as 'direct', output: join(dir, 'x.gguf')},
    /^unknown pipeline "fast"; use one of direct, quantize, header$/,
  )
  await bad({preset: 'tiny', output: dir}, /is a directory/)
  await bad(
    {preset: 'tiny', output: join(existing, 'sub.gguf')},
    /cannot create folder .*: a file of that name is in the way/,
  )
  assert.ok(!existsSync(join(dir, 'x.gguf')))
})

test('the native side re-checks what TS validated', async () => {
  const {loadAddon} = await import('../../src/engine/addon.js')
  const spec = {
    ...SYNTH_PRESETS.tiny.hparams,
    name: 'bad',
    preset: 'bad',
    quant: 'F16',
    seed: 1,
    vocabPath: join('build', 'llama-src', 'models', SYNTH_VOCABS['deepseek-coder'].file),
    outPath: join(dir, 'bad.gguf'),
  }
  await assert.rejects(loadAddon().synth({...spec, nGroup: 3}), /expert_group_count must divide n_expert/)
  await assert.rejects(loadAddon().synth({...spec, nExpertUsed: 17}), /n_expert_used must be <= n_expert/)
  await assert.rejects(loadAddon().synth({...spec, nLayer: 27}), /lite model/)
  await assert.rejects(
    loadAddon().synth({...spec, pipeline: 'fast'} as unknown as typeof spec),
    /^Error: unknown pipeline "fast" \(direct, quantize, header\)$/,
  )
  // a quantized file needs the work path the type probe goes to
  await assert.rejects(loadAddon().synth({...spec, quant: 'Q4_K_M'}), /quantized files need a separate work path/)
  await assert.rejects(loadAddon().synth({...spec, vocabPath: join(dir, 'nope.gguf')}), /cannot read vocabulary GGUF/)
  assert.ok(!existsSync(join(dir, 'bad.gguf')))
  // a file llama.cpp cannot load is an error, not a crash
  const junk = join(dir, 'junk.gguf')
  writeFileSync(junk, 'GGUF but not really')
  await assert.rejects(checkModel(junk), /could not load/)
})

/** name → [type, shape] of a GGUF's tensors (type names upper-cased like the planner's). */
async function layout(path: string) {
  const m = await readGguf(path)
  return {
    m,
    types: Object.fromEntries(m.tensors.map((t) => [t.name, t.typeName.toUpperCase()])),
    shapes: Object.fromEntries(m.tensors.map((t) => [t.name, t.shape])),
  }
}

const vocabOf = (preset: string) => SYNTH_VOCABS[SYNTH_PRESETS[preset].vocab].tokens

test('direct writer: every tensor type = a real llama_model_quantize of the same model (and the planner table); every quant decodes to finite logits', async () => {
  const cases: Array<[string, SynthQuant[]]> = [
    ['tiny', [...SYNTH_QUANTS]],
    ['tiny-legacy', ['Q3_K_M', 'Q4_K_M']],
    ['qwen3moe-tiny', ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q6_K']],
  ]
  const seen = new Set<string>()
  for (const [preset, quants] of cases) {
    for (const quant of quants) {
      const direct = join(dir, `eq-${preset}-${quant}.gguf`)
      const reference = join(dir, `eq-${preset}-${quant}-ref.gguf`)
      const rd = await synthModel({preset, quant, output: direct, threads: 2})
      const rq = await synthModel({preset, quant, output: reference, pipeline: 'quantize'})
      const d = await layout(direct)
      const q = await layout(reference)
      const what = `${preset} ${quant}`
      assert.deepEqual(d.types, q.types, `${what}: direct types vs llama_model_quantize`)
      assert.deepEqual(d.shapes, q.shapes, `${what}: shapes`)
      assert.deepEqual(rd.typeCounts, rq.typeCounts, what)
      assert.equal(rd.fileBytes, rq.fileBytes, `${what}: file size`)
      assert.equal(d.m.metadata['general.file_type'], q.m.metadata['general.file_type'], what)
      assert.equal(d.m.metadata['general.quantization_version'], q.m.metadata['general.quantization_version'], what)
      // the planner's port of the same rules (pure function) agrees too
      assert.deepEqual(
        d.types,
        presetBytes(SYNTH_PRESETS[preset].hparams, vocabOf(preset), quant).types,
        `${what}: planner table`,
      )
      for (const t of Object.values(d.types)) seen.add(t)
      // random blocks with positive f16 scales: llama.cpp runs every type to finite logits
      const c = await checkModel(direct)
      assert.equal(c.logitsFinite, true, `${what}: logits`)
      rmSync(reference)
    }
  }
  // the mixes use every block type the writer has a template for, except Q4_1 and IQ4_NL
  assert.deepEqual([...seen].sort(), [
    'F16',
    'F32',
    'Q2_K',
    'Q3_K',
    'Q4_0',
    'Q4_K',
    'Q5_0',
    'Q5_1',
    'Q5_K',
    'Q6_K',
    'Q8_0',
  ])
})

test('r1-dram spec (pure function): at least 1 GiB of weights read per decoded token, a file that fits 24 GB of RAM with room', () => {
  const p = SYNTH_PRESETS['r1-dram']
  const h = p.hparams
  const nVocab = vocabOf('r1-dram')
  const b = presetBytes(h, nVocab, 'Q4_K_M')
  const GiB = 1024 ** 3
  assert.ok(b.activePerToken >= GiB, `active ${(b.activePerToken / GiB).toFixed(2)} GiB per token`)
  // ≥ 4× a large server's last-level cache (this project's machine reports 480 MiB)
  assert.ok(b.activePerToken >= 2 * 480 * 1024 ** 2)
  assert.ok(b.weights >= 8e9 && b.weights <= 12e9, `weights ${(b.weights / 1e9).toFixed(2)} GB`)
  assert.equal(Math.round((b.activePerToken / GiB) * 100) / 100, 1.43) // as the description says
  assert.match(p.description, /1\.43 GiB of weights read per decoded token/)
  assert.match(p.description, /≈9\.0 GB at Q4_K_M/)
  assert.equal(Math.round(b.weights / 1e8) / 10, 9.0)
  // R1's structure: MLA, R1's head geometry and latent, sigmoid group-limited routing, shared expert
  assert.equal(h.arch, 'deepseek2')
  assert.equal(h.kvLayout, 'mla')
  assert.deepEqual(
    [h.kvLoraRank, h.ropeDim, h.nopeDim, h.vHeadDim, h.gatingFunc, h.nExpertShared],
    [512, 64, 128, 128, 2, 1],
  )
  assert.ok(h.nDenseLead! >= 1 && h.nGroup! > 1)
  // every row a whole number of K-quant blocks except attn_k_b (nope 128), as in R1
  for (const t of presetTensors(h, nVocab))
    if (t.shape.length > 1 && !t.name.includes('attn_k_b')) assert.equal(t.shape[0] % 256, 0, t.name)
  assert.equal(
    presetParams(h, nVocab),
    presetTensors(h, nVocab).reduce((n, t) => n + t.shape.reduce((a, x) => a * x, 1), 0),
  )
  // the other presets are cache-sized: r1-mini reads well under 480 MiB per token
  assert.ok(
    presetBytes(SYNTH_PRESETS['r1-mini'].hparams, vocabOf('r1-mini'), 'Q4_K_M').activePerToken < 480 * 1024 ** 2,
  )
})

test('r1-dram and r1-mini headers (no data written): the rule types llama.cpp gives and sizes = the pure-function table', async () => {
  for (const preset of ['r1-dram', 'r1-mini']) {
    const out = join(dir, `${preset}-header.gguf`)
    const res = await synthModel({preset, quant: 'Q4_K_M', output: out, pipeline: 'header'})
    const {m, types} = await layout(out)
    const b = presetBytes(SYNTH_PRESETS[preset].hparams, vocabOf(preset), 'Q4_K_M')
    assert.deepEqual(types, b.types, preset)
    assert.equal(
      m.tensors.reduce((n, t) => n + t.bytes, 0),
      b.weights,
      `${preset} weight bytes`,
    )
    assert.equal(res.params, presetParams(SYNTH_PRESETS[preset].hparams, vocabOf(preset)))
    const st = statSync(out)
    assert.equal(st.size, res.fileBytes)
    assert.ok(st.blocks * 512 < 64 * 1024 ** 2, `${preset}: ${st.blocks * 512} bytes on disk`) // a hole, not data
    rmSync(out)
  }
})

test('deterministic for a seed whatever the thread count; progress per tensor; MB/s in the summary line', async () => {
  const a = join(dir, 'det-a.gguf')
  const b = join(dir, 'det-b.gguf')
  const updates: Array<{phase: string; done: number; total: number}> = []
  const ra = await synthModel({
    preset: 'qwen3moe-tiny',
    quant: 'Q4_K_M',
    output: a,
    seed: 3,
    threads: 1,
    onProgress: (p) => updates.push(p),
  })
  await synthModel({preset: 'qwen3moe-tiny', quant: 'Q4_K_M', output: b, seed: 3, threads: 2})
  const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex')
  assert.equal(sha(a), sha(b))
  assert.ok(updates.length > 0 && updates.every((u) => u.phase === 'write' && u.total === ra.tensorCount))
  assert.equal(updates.at(-1)!.done, ra.tensorCount)
  assert.ok(ra.mbPerSecond > 0 && Math.abs(ra.mbPerSecond - ra.fileBytes / 1e6 / ra.seconds) < 1e-6)
  await synthModel({preset: 'qwen3moe-tiny', quant: 'Q4_K_M', output: b, seed: 4, threads: 2, force: true})
  assert.notEqual(sha(a), sha(b))

  const out = join(dir, 'det-cli.gguf')
  const r = cli('synth', '--preset', 'qwen3moe-tiny', '--quant', 'Q6_K', '-o', out, '-t', '2')
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /\n {2}written in \d+\.\d s \(\d+ MB\/s, measured\)\n/)
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-') || f.includes('.f16-')),
    [],
  )
})

test('SIGINT in the middle of writing r1-mini: exit 130, one line, no temp file, no output', async () => {
  const sub = mkdtempSync(join(dir, 'sig-'))
  const out = join(sub, 'r1.gguf')
  const child = spawn(process.execPath, ['bin/run.js', 'synth', '--preset', 'r1-mini', '-o', out, '-t', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
  let seen = false
  for (let i = 0; i < 6000 && child.exitCode === null; i++) {
    // the data file (not just the type probe) exists and has data in it
    const tmp = readdirSync(sub).find((f) => f.includes('.tmp-'))
    if (tmp && statSync(join(sub, tmp), {throwIfNoEntry: false})?.blocks) {
      seen = true
      await new Promise((r) => setTimeout(r, 100))
      child.kill('SIGINT')
      break
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  const status = await closed
  assert.ok(seen, `no temp file seen (exit ${status}: ${stderr})`)
  assert.equal(status, 130, stderr)
  assert.match(stderr, /^moerig: interrupted; nothing written\n$/)
  assert.deepEqual(readdirSync(sub), [])
})
