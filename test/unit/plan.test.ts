/**
 * Planner tests: the R1 inventory against the published files, KV bytes per token per layout and
 * engine, compute buffers against logged sizes, context limits, placement, speed against the
 * worked example, verdicts and fixes, RPC. Published numbers are from docs/r1-gguf-notes.md
 * (file sizes, roles, KV per layout, compute buffers) and docs/expert-reuse.md (the worked example),
 * each with its public source there, copied here as constants.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import type {ModelProfile} from '../../src/schemas/model.js'
import {planSchema} from '../../src/schemas/plan.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {kvModel} from '../../src/planner/kv.js'
import {computeBytes, attnHeadDims} from '../../src/planner/memory.js'
import {makePlan} from '../../src/planner/plan.js'
import {splitLayers} from '../../src/planner/placement.js'
import {planHosts} from '../../src/planner/hardware.js'
import {catalogModel, loadCatalog} from '../../src/profiles/catalog.js'
import {describeModel} from '../../src/planner/models.js'
import {rig} from '../fixtures/plan/rigs.js'

const MiB = 1024 ** 2
const GiB = 1024 ** 3
const model = (id: string): ModelProfile => catalogModel(id)
const r1 = model('deepseek-r1')
const counts = (inv: ReturnType<typeof inventoryFromCatalog>) =>
  Object.fromEntries(Object.entries(inv.byType).map(([k, v]) => [k, v.count]))

test('R1 Q4_K_M, legacy layout (the unsloth files): 1025 tensors, f32 361 / q4_K 606 / q6_K 58, 376.650 GiB', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy'})
  assert.equal(inv.tensors.length, 1025)
  assert.deepEqual(counts(inv), {F32: 361, Q4_K: 606, Q6_K: 58})
  assert.equal(inv.params, 671_026_419_200) // "model params = 671.026 B"
  assert.equal(inv.totalBytes, 404_424_884_224) // llama.cpp: 376.650 GiB
  assert.equal((inv.totalBytes / GiB).toFixed(3), '376.650')
  // published: 9 splits summing to 404.3 GB (each rounded to 0.1 GB)
  assert.ok(Math.abs(inv.fileBytes / 1e9 - 404.3) / 404.3 < 0.005)
  // roles (docs/r1-gguf-notes.md §2): routed experts 393.98 GB, attention 6.42, shared 1.54, dense 0.77
  assert.equal((inv.byRole.routed_experts / 1e9).toFixed(2), '393.98')
  assert.equal((inv.byRole.attention / 1e9).toFixed(2), '6.42')
  assert.equal((inv.byRole.shared_experts / 1e9).toFixed(2), '1.54')
  assert.equal((inv.byRole.dense_ffn / 1e9).toFixed(2), '0.77')
  assert.deepEqual(
    inv.moeLayers,
    Array.from({length: 58}, (_, i) => i + 3),
  )
})

test('R1 Q4_K_M, MLA layout (current converter): 1086 tensors, attn_k_b falls back to Q5_0, 376.710 GiB', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  assert.equal(inv.layout, 'mla')
  assert.equal(inv.tensors.length, 1086)
  assert.deepEqual(counts(inv), {F32: 361, Q4_K: 606, Q5_0: 61, Q6_K: 58})
  assert.equal((inv.totalBytes / GiB).toFixed(3), '376.710')
  assert.equal(inv.tensors.find((t) => t.name === 'blk.7.attn_k_b.weight')!.typeName, 'Q5_0')
  // use_more_bits(i, 61): layers 0–6, 9, 12 … 51, 53–60 get Q6_K ffn_down
  const q6 = inv.tensors
    .filter((t) => t.name.endsWith('ffn_down_exps.weight') && t.typeName === 'Q6_K')
    .map((t) => t.layer)
  assert.deepEqual(
    q6,
    [3, 4, 5, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48, 51, 53, 54, 55, 56, 57, 58, 59, 60],
  )
})

test('R1 catalog sizes land within 0.5 % of the published files (Q2_K 244.0, Q3_K_M 319.2, Q4_K_M 404.3 GB)', () => {
  const m = describeModel(r1)
  const pub = m.quants.filter((q) => q.publishedGB !== null)
  assert.equal(pub.length, 3)
  for (const q of pub) assert.ok(Math.abs(q.deltaPercent!) < 0.5, `${q.quant} ${q.deltaPercent} %`)
  // and the v0.4.0 rules on a legacy file bump attn_kv_b (576 / 88), as the reference predicts
  const now = inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy', rules: 'v0.4.0'})
  assert.deepEqual(counts(now), {F32: 361, Q4_K: 576, Q6_K: 88})
  // sizes grow with the quant
  const sizes = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0'].map(
    (q) => inventoryFromCatalog(r1, {quant: q}).totalBytes,
  )
  assert.deepEqual(
    [...sizes].sort((a, b) => a - b),
    sizes,
  )
})

test('every catalog model validates and its parameter count matches the model card', () => {
  const cat = loadCatalog()
  assert.deepEqual(cat.map((m) => m.id).sort(), [
    'deepseek-r1',
    'deepseek-v2-lite',
    'deepseek-v3',
    'gpt-oss-120b',
    'kimi-k2',
    'qwen3-235b-a22b',
  ])
  for (const m of cat) {
    const d = describeModel(m)
    assert.ok(Math.abs(d.params / m.published!.paramsTotal! - 1) < 0.03, `${m.id} params ${d.params}`)
    assert.ok(Math.abs(d.activeParams / m.published!.paramsActive! - 1) < 0.05, `${m.id} active ${d.activeParams}`)
  }
})

test('rows not divisible by 256 fall back like llama.cpp (DeepSeek-V2-Lite: n_ff_exp 1408, n_ff 10944)', () => {
  const lite = model('deepseek-v2-lite')
  const inv = inventoryFromCatalog(lite, {quant: 'Q4_K_M'})
  const t = (n: string) => inv.tensors.find((x) => x.name === n)!.typeName
  assert.equal(t('blk.1.ffn_down_exps.weight'), 'Q8_0') // use_more_bits → Q6_K → Q8_0
  assert.equal(t('blk.4.ffn_down_exps.weight'), 'Q5_0') // Q4_K → Q5_0
  assert.equal(t('blk.1.ffn_gate_exps.weight'), 'Q4_K') // ne0 = 2048
  assert.equal(t('blk.0.ffn_down.weight'), 'Q8_0')
  assert.equal(t('blk.0.attn_q.weight'), 'Q4_K') // lite: no q LoRA
  assert.ok(!inv.tensors.some((x) => x.name.includes('exp_probs_b'))) // softmax router, no bias
})

test('KV bytes per token per layout and engine (docs/r1-gguf-notes.md §4)', () => {
  const mla = inventoryFromCatalog(r1, {quant: 'Q4_K_M'}).shape
  const legacy = inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy'}).shape
  assert.equal(kvModel(mla, 'llama.cpp', 'f16').bytesPerToken, 70_272) // V-less MLA cache
  assert.equal(kvModel(mla, 'llama.cpp', 'q8_0').bytesPerToken, 37_332)
  assert.equal(kvModel(mla, 'llama.cpp', 'q4_0').bytesPerToken, 19_764)
  assert.equal(kvModel(legacy, 'llama.cpp', 'f16').bytesPerToken, 4_997_120) // per-head 128·192 + 128·128
  assert.equal(kvModel(legacy, 'llama.cpp', 'q8_0').bytesPerToken, 2_654_720)
  assert.equal(kvModel(mla, 'ktransformers', 'bf16').bytesPerToken, 70_272)
  // FlashMoE: per-head i8 whatever the file; its log: K 5856 + V 3904 MiB at n_ctx 4096
  const fm = kvModel(mla, 'flashmoe', 'q8_0')
  assert.equal(fm.layout, 'per-head')
  assert.equal(fm.bytesAt(4096, 512) / MiB, 9760)
  // llama.cpp: 8192 × f16 legacy = 39040 MiB (ollama log); MLA K-only 32k f16 = 2196 MiB
  assert.equal(kvModel(legacy, 'llama.cpp', 'f16').bytesAt(8192, 512) / MiB, 39040)
  assert.equal(kvModel(mla, 'llama.cpp', 'f16').bytesAt(32768, 512) / MiB, 2196)
  // n_ctx pads to 256 cells
  assert.equal(kvModel(mla, 'llama.cpp', 'f16').bytesAt(1000, 512), 1024 * 70_272)
  // GQA with sliding windows (gpt-oss): 18 of 36 layers keep 128 + ubatch tokens
  const oss = inventoryFromCatalog(model('gpt-oss-120b'), {quant: 'MXFP4_MOE'}).shape
  const k = kvModel(oss, 'llama.cpp', 'f16')
  assert.equal(k.bytesPerToken, 36 * 2 * 8 * 64 * 2)
  assert.equal(k.bytesAt(65536, 512), 18 * 65536 * 2048 + 18 * 768 * 2048)
})

test('compute buffers: published R1 logs of other builds within 10 % (llvmpipe measurements: test/native/checkplan-vulkan.test.ts)', () => {
  const legacy = inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy'}).shape
  // ik_llama.cpp #389: CPU only, n_ctx 8192, fa, ub 512 → 266.50 MiB (our model: logits + final norm + output buffer, 281.0)
  const cpu = computeBytes(
    {
      shape: legacy,
      ctx: 8192,
      ubatch: 512,
      flashAttention: true,
      attnHeadDims: attnHeadDims(legacy, 'per-head'),
      attention: true,
      ffn: true,
      output: true,
    },
    false,
  )
  assert.equal((cpu / MiB).toFixed(2), '280.99')
  assert.ok(Math.abs(cpu / MiB / 266.5 - 1) < 0.1)
  // 8 × MI250X (llm-setonix): n_ctx 8192, no FA, ub 512 → 2322.01 MiB per GPU
  const gpu = computeBytes(
    {
      shape: legacy,
      ctx: 8192,
      ubatch: 512,
      flashAttention: false,
      attnHeadDims: attnHeadDims(legacy, 'per-head'),
      attention: true,
      ffn: true,
      output: false,
      vElemsPerLayer: 128 * 128,
    },
    true,
  )
  assert.ok(Math.abs(gpu / MiB / 2322.01 - 1) < 0.1, `${gpu / MiB} MiB`)
})

test('llama.cpp layer split: -ngl counts the output layer, -ts proportions, first GPU first', () => {
  const [host] = planHosts([rig({gpus: 2})])
  const d = splitLayers(61, 62, host.gpus, [1, 1])
  assert.equal(d.length, 62)
  assert.equal(d.filter((x) => x === 'GPU0').length, 31)
  assert.equal(d[61], 'GPU1') // output
  const part = splitLayers(61, 10, host.gpus, [1, 1])
  assert.equal(part.filter((x) => x === 'CPU').length, 52) // layers 0–51 stay on the CPU
})

const ctx1 = (p: ReturnType<typeof makePlan>, n: number) =>
  p.maxContext.byGpuCount.find((b) => b.gpus === n)!.maxContext

test('context limits: R1 Q4_K_M on one A770 16 GB — MLA llama.cpp ~80k, FlashMoE ~1k (its guide: -c 1024)', () => {
  const hw = [rig({gpus: 2})]
  const mla = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), hw, {ctx: 8192, engine: 'llama.cpp'})
  assert.deepEqual(schemaErrors(planSchema, mla), [])
  // (16 GiB − 9.3 GiB of non-expert weights − 1 GiB headroom − compute) / (68.6 KiB per token
  // of KV + 1 KiB of F16 KQ mask per token in the compute buffer); the compute buffer holds the
  // op-offload copy of the largest expert matrix in RAM (blk.3.ffn_down_exps Q6_K, 2.87 GiB,
  // memory.ts): 81664 tokens without it
  assert.equal(ctx1(mla, 1), 39168)
  assert.equal(ctx1(mla, 2), 163840) // both A770s: the trained context
  assert.equal(ctx1(mla, 0), 163840) // RAM-only: 1 TiB
  const fm = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy'}), hw, {
    ctx: 4096,
    engine: 'flashmoe',
    gpus: 1,
  })
  assert.ok(ctx1(fm, 1) >= 1024 && ctx1(fm, 1) < 4096, `FlashMoE 1 GPU: ${ctx1(fm, 1)}`)
  assert.equal(fm.fits, false) // the default -c 4096 does not fit one A770
  assert.equal(fm.verdict.binding, 'VRAM')
  assert.match(fm.verdict.fixes[0], /-c \d+/)
  // legacy file in llama.cpp: per-head f16 KV, 4.77 MiB/token → only ~1k on one 16 GB card
  const leg = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M', layout: 'legacy'}), hw, {
    ctx: 2048,
    engine: 'llama.cpp',
  })
  assert.ok(ctx1(leg, 1) > 0 && ctx1(leg, 1) <= 1536, `legacy llama.cpp: ${ctx1(leg, 1)}`)
  assert.ok(ctx1(leg, 1) * 60 < ctx1(mla, 1), 'the MLA latent cache holds ~70× more context')
})

test('speed: the worked example (R1 Q4_K_M, dual 8 ch DDR5-4800, one A770) predicts 7–11 tok/s mid, under the 26.5 ceiling', () => {
  const p = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), [rig({gpus: 1})], {
    ctx: 4096,
    engine: 'llama.cpp',
    gpus: 1,
  })
  const r = p.prediction.decodeRange!
  assert.ok(r.low < r.mid && r.mid < r.high)
  assert.ok(r.mid >= 7 && r.mid <= 11, `mid ${r.mid}`)
  assert.ok(r.high < 26.5)
  // only 8 of 256 routed experts count as read: ~12.3 GB from RAM per token, ~10 GB on the GPU
  assert.ok(Math.abs(p.prediction.bytesPerToken!.CPU / 1e9 - 12.31) < 0.05)
  assert.ok(p.prediction.assumptions.length >= 5)
  assert.ok(p.prediction.prefillTps > 0)
})

test('placement: spare VRAM takes whole layers of routed experts (--n-cpu-moe), last layers first', () => {
  const hw = [rig({gpus: 1, gpuName: 'NVIDIA GeForce RTX 4090', vramGiB: 48, gpuBw: 1008})]
  const p = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), hw, {ctx: 8192, engine: 'llama.cpp'})
  const pl = p.placement
  assert.equal(pl.nGpuLayers, 62)
  assert.ok(pl.nCpuMoe !== null && pl.nCpuMoe > 3 && pl.nCpuMoe < 61, `n-cpu-moe ${pl.nCpuMoe}`)
  const gpu = p.devices.find((d) => d.id === 'GPU0')!
  assert.deepEqual(
    gpu.expertLayers,
    Array.from({length: 61 - pl.nCpuMoe!}, (_, i) => pl.nCpuMoe! + i),
  )
  assert.ok(gpu.totalBytes <= gpu.capacityBytes)
  assert.match(p.commands.llamaServer, new RegExp(`--n-cpu-moe ${pl.nCpuMoe}`))
  assert.match(p.commands.llamaBench, /-ncmoe/)
  assert.deepEqual(pl.tensorOverrides.at(-1), {pattern: '\\.ffn_(up|down|gate)_exps', device: 'CPU'})
})

test('verdict: RAM-bound rig gets "smaller quant" and "more RAM" fixes; ktransformers NUMA replication doubles RAM', () => {
  const small = [rig({sockets: 1, ramGiB: 256, gpus: 1})]
  const p = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), small, {
    ctx: 8192,
    engine: 'llama.cpp',
    otherQuants: ['Q2_K', 'Q3_K_M'].map((q) => ({quant: q, inv: () => inventoryFromCatalog(r1, {quant: q})})),
  })
  assert.equal(p.fits, false)
  assert.equal(p.verdict.binding, 'RAM')
  assert.match(p.verdict.fixes.join('\n'), /smaller quant: Q2_K/)
  assert.match(p.verdict.fixes.join('\n'), /more RAM/)
  assert.match(p.verdict.headline, /^does not fit/)
  // dual socket, 2 × 320 GiB (ktransformers #637): llama.cpp interleaves and fits; USE_NUMA needs 2 copies
  const dual = [rig({sockets: 2, ramGiB: 640, gpus: 1})]
  const lc = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), dual, {ctx: 8192, engine: 'llama.cpp'})
  assert.equal(lc.fits, true)
  assert.equal(lc.numa!.mode, 'interleave')
  const kt = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), dual, {ctx: 8192, engine: 'ktransformers'})
  assert.equal(kt.numa!.mode, 'replicate')
  assert.equal(kt.fits, false)
  const cpu = kt.devices.find((d) => d.id === 'CPU')!
  assert.ok(cpu.weightsBytes > 2 * 360 * GiB)
  assert.match(kt.verdict.fixes.join('\n'), /USE_NUMA/)
  assert.match(kt.commands.ktransformers!.yaml, /KTransformersExperts/)
  assert.match(kt.commands.ktransformers!.yaml, /generate_device: "xpu:0"/)
})

test('several machines plan llama.cpp RPC: rpc-server lines and --rpc with -ts', () => {
  const a = rig({id: 'box-a', sockets: 1, ramGiB: 256, gpus: 1, hostname: 'box-a'})
  const b = rig({id: 'box-b', sockets: 1, ramGiB: 256, gpus: 0, hostname: 'box-b'})
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  assert.equal(makePlan(inv, [a], {ctx: 8192, engine: 'llama.cpp'}).fits, false)
  const p = makePlan(inv, [a, b], {ctx: 8192, engine: 'llama.cpp'})
  assert.deepEqual(schemaErrors(planSchema, p), [])
  assert.equal(p.fits, true, p.verdict.headline)
  assert.equal(p.commands.rpc!.servers.length, 1)
  assert.match(p.commands.rpc!.servers[0].command, /^rpc-server -H 0\.0\.0\.0 -p 50052/)
  assert.match(p.commands.rpc!.main, /--rpc box-b:50052/)
  assert.match(p.commands.rpc!.main, /-ts /)
  const remote = p.devices.find((d) => d.id.startsWith('RPC0'))!
  assert.ok(remote.weightsBytes > 100 * GiB && remote.fits)
  assert.throws(() => makePlan(inv, [a, b], {ctx: 8192, engine: 'flashmoe'}), /RPC/)
})

test('bad requests are one-line MoerigErrors', () => {
  const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
  assert.throws(
    () => makePlan(inv, [rig({gpus: 1})], {ctx: 8192, engine: 'llama.cpp', gpus: 3}),
    /--gpus 3: .* has 1 GPU$/,
  )
  assert.throws(() => makePlan(inv, [rig({gpus: 1})], {ctx: 200000, engine: 'llama.cpp'}), /trained context of 163840/)
  assert.throws(() => makePlan(inv, [rig({gpus: 0})], {ctx: 8192, engine: 'ktransformers'}), /needs at least one GPU/)
  assert.throws(
    () => inventoryFromCatalog(model('kimi-k2'), {quant: 'Q4_K_M', layout: 'legacy'}),
    /not published in the legacy layout/,
  )
  assert.throws(() => inventoryFromCatalog(r1, {quant: 'Q9_X'}), /unknown quant Q9_X/)
})

test("speed: KTransformers' published rig (2 × Xeon 6454S, 8 ch DDR5-4800 each, RTX 4090D) — its 12.2 tok/s lies in the range", () => {
  const hw = [
    rig({sockets: 2, cores: 64, ramGiB: 1024, gpus: 1, gpuName: 'NVIDIA GeForce RTX 4090 D', vramGiB: 24, gpuBw: 1008}),
  ]
  const p = makePlan(inventoryFromCatalog(r1, {quant: 'Q4_K_M'}), hw, {ctx: 8192, engine: 'ktransformers'})
  assert.equal(p.fits, true)
  assert.equal(p.kv.layout, 'mla-latent')
  const r = p.prediction.decodeRange!
  assert.ok(r.low <= 12.2 && 12.2 <= r.high, `range ${r.low}–${r.high}`)
})

test('placementFlags (planner/emit.ts) renders a placement as check-plan and the report did', async () => {
  const {placementFlags} = await import('../../src/planner/emit.js')
  const p = {
    nGpuLayers: 99,
    nCpuMoe: 2,
    tensorOverrides: [{pattern: 'blk\\.[01]\\.ffn_.*_exps', device: 'CPU'}],
    tensorSplit: [1, 1],
  }
  assert.equal(placementFlags(p), '-ngl 99 --n-cpu-moe 2 -ot blk\\.[01]\\.ffn_.*_exps=CPU -ts 1,1')
  assert.equal(placementFlags(p, {result: true}), '-ngl 99 -ot blk\\.[01]\\.ffn_.*_exps=CPU --n-cpu-moe 2 -ts 1,1')
  const cpu = {nGpuLayers: 0, nCpuMoe: 0, tensorOverrides: [], tensorSplit: []}
  assert.equal(placementFlags(cpu), '-ngl 0')
  assert.equal(placementFlags(cpu, {result: true}), 'CPU only')
  // compact (plan text): --n-cpu-moe or else the overrides in one comma-joined -ot
  assert.equal(placementFlags(p, {compact: true}), '-ngl 99 --n-cpu-moe 2 -ts 1,1')
  const two = {
    nGpuLayers: 62,
    nCpuMoe: null,
    tensorOverrides: [
      {pattern: 'blk\\.(3|4)\\.ffn_(up|down|gate)_exps', device: 'GPU0'},
      {pattern: '\\.ffn_(up|down|gate)_exps', device: 'CPU'},
    ],
    tensorSplit: [],
  }
  assert.equal(
    placementFlags(two, {compact: true}),
    '-ngl 62 -ot blk\\.(3|4)\\.ffn_(up|down|gate)_exps=GPU0,\\.ffn_(up|down|gate)_exps=CPU',
  )
  assert.equal(placementFlags({...two, tensorOverrides: []}, {compact: true}), '-ngl 62')
})
