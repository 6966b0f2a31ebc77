/**
 * plan --op-offload (src/planner/evaluate.ts): llama.cpp's op offload copies the weights in RAM to
 * the first GPU for every prefill ubatch ≥ 32 tokens; --no-op-offload leaves them to the CPU. auto
 * picks the faster prefill (mid) and says why; on/off force it; the commands and the memory follow.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import type {ModelProfile} from '../../src/schemas/model.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {makePlan, type OpOffloadMode} from '../../src/planner/plan.js'
import {
  OP_OFFLOAD_TIE,
  prefersNoOpOffload,
  UBATCH_HINT,
  UBATCH_HINT_GAIN,
  type Evaluated,
} from '../../src/planner/evaluate.js'
import {rig} from '../fixtures/plan/rigs.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const r1: ModelProfile = catalogModel('deepseek-r1')
const inv = inventoryFromCatalog(r1, {quant: 'Q4_K_M'})
// the docs' worked example: dual Xeon, 16 × DDR5-4800, one Arc A770 16 GB on PCIe 4.0 x16
const hw = [rig({gpus: 1})]
const plan = (opOffload: OpOffloadMode, ubatch = 512, engine: 'llama.cpp' | 'ktransformers' = 'llama.cpp') =>
  makePlan(inv, hw, {ctx: 8192, engine, ubatch, batch: Math.max(ubatch, 2048), opOffload})

test('auto at -ub 512: R1 copies its ≈ 380 GB of experts in RAM for each ubatch; the CPU computing them is faster, so --no-op-offload', () => {
  const on = plan('on'),
    off = plan('off'),
    auto = plan('auto')
  assert.equal(on.placement.opOffload, true)
  assert.equal(off.placement.opOffload, false)
  assert.ok(off.prediction.prefillTps > on.prediction.prefillTps * (1 + OP_OFFLOAD_TIE))
  assert.equal(auto.placement.opOffload, false)
  assert.equal(auto.prediction.prefillTps, off.prediction.prefillTps)
  assert.equal(auto.prediction.decodeTps, off.prediction.decodeTps)
  // the commands say it; with nothing copied the mapping stays (no --no-mmap)
  assert.match(auto.commands.llamaServer, / --no-op-offload/)
  assert.match(auto.commands.llamaBench, / -nopo 1/)
  assert.doesNotMatch(auto.commands.llamaServer, /--no-mmap/)
  assert.doesNotMatch(on.commands.llamaServer, /op-offload/)
  assert.doesNotMatch(on.commands.llamaBench, /-nopo/)
  // and why, in the plan's own numbers
  const note = auto.notes!.find((n) => n.startsWith('--no-op-offload'))
  assert.ok(note, auto.notes!.join('\n'))
  // (the note rounds the unrounded figure the plan reports to 2 places: compare numbers, not strings)
  const said = Number(/([\d.]+) with llama\.cpp's op offload/.exec(note)?.[1])
  assert.ok(Math.abs(said - on.prediction.prefillTps) <= 0.051, `${said} vs ${on.prediction.prefillTps}`)
  assert.match(note, /copies ≈ \d+ GB of weights in RAM/)
  assert.ok(!on.notes!.some((n) => n.startsWith('--no-op-offload')))
  assert.match(auto.prediction.assumptions.join('\n'), /--no-op-offload: nothing copied over PCIe/)
})

test('memory follows: without op offload the GPU holds no copy of an expert matrix, the CPU computes the FFN', () => {
  const gpu = (p: ReturnType<typeof plan>) => p.devices.find((d) => d.id === 'GPU0')!
  const cpu = (p: ReturnType<typeof plan>) => p.devices.find((d) => d.id === 'CPU')!
  const biggest = Math.max(...inv.tensors.filter((t) => t.role === 'routed_experts').map((t) => t.bytes))
  const on = plan('on'),
    off = plan('off')
  // the offload phase (copy + FFN activations) gave way to the larger of attention and FFN
  assert.ok(gpu(on).computeBytes - gpu(off).computeBytes > 0.9 * biggest, 'the copy buffer is gone')
  assert.ok(gpu(off).computeBytes < biggest / 4)
  assert.ok(cpu(off).computeBytes > cpu(on).computeBytes, "the host's FFN activations are back")
})

test('auto keeps llama.cpp op offload where a big ubatch spreads the copies (the GPU wins), and nothing applies on CPU-only plans', () => {
  const on = plan('on', 8192),
    off = plan('off', 8192)
  assert.ok(
    on.prediction.prefillTps > off.prediction.prefillTps,
    `${on.prediction.prefillTps} vs ${off.prediction.prefillTps}`,
  )
  const auto = plan('auto', 8192)
  assert.equal(auto.placement.opOffload, true)
  assert.doesNotMatch(auto.commands.llamaServer, /op-offload/)
  const cpuOnly = makePlan(inv, [rig({gpus: 0})], {ctx: 8192, engine: 'llama.cpp'})
  assert.equal(cpuOnly.placement.opOffload, true)
  assert.doesNotMatch(cpuOnly.commands.llamaServer, /op-offload/)
})

test('--op-offload off is llama.cpp’s flag: other engines refuse it in one line; on is accepted everywhere', () => {
  assert.throws(
    () => plan('off', 512, 'ktransformers'),
    /--op-offload off is llama.cpp's --no-op-offload; ktransformers/,
  )
  assert.equal(plan('on', 512, 'ktransformers').placement.opOffload, true)
})

test('prefersNoOpOffload: fits first, then prefill by more than the tie, never at decode’s cost', () => {
  const ev = (fits: boolean, prefill: number, decode = 10) =>
    ({
      fits,
      speed: {prefill: {low: prefill, mid: prefill, high: prefill}, decode: {low: decode, mid: decode, high: decode}},
    }) as unknown as Evaluated
  assert.equal(prefersNoOpOffload(ev(true, 10), ev(false, 100)), false, 'off does not fit')
  assert.equal(prefersNoOpOffload(ev(false, 100), ev(true, 10)), true, 'only off fits')
  assert.equal(prefersNoOpOffload(ev(true, 10), ev(true, 10 * (1 + OP_OFFLOAD_TIE))), false, 'a tie keeps the default')
  assert.equal(prefersNoOpOffload(ev(true, 10), ev(true, 12)), true)
  assert.equal(prefersNoOpOffload(ev(true, 10), ev(true, 12, 9)), false, 'slower decode')
})

test('a larger ubatch is suggested where it spreads the copies enough (UBATCH_HINT_GAIN), with its cost; not past the context, not without a GPU', () => {
  const p = plan('auto')
  const hint = p.notes!.find((n) => n.startsWith(`prefill: --ubatch ${UBATCH_HINT} --batch ${UBATCH_HINT}`))
  assert.ok(hint, p.notes!.join('\n'))
  // the figure is the plan at that ubatch with op offload on
  const big = plan('on', UBATCH_HINT)
  assert.match(
    hint,
    new RegExp(
      `predicts ${big.prediction.prefillTps.toFixed(1)} t/s against ${p.prediction.prefillTps.toFixed(1)} at 512`,
    ),
  )
  assert.ok(big.prediction.prefillTps >= p.prediction.prefillTps * UBATCH_HINT_GAIN)
  assert.match(
    hint,
    /pays for prompts of 4096 tokens or more.* GiB more compute buffer on the first GPU; decode [0-9.]+ t\/s$/,
  )
  // a context below the batch (llama.cpp caps n_batch at n_ctx), a CPU-only plan, a plan already at it: no hint
  const short = makePlan(inv, hw, {ctx: 2048, engine: 'llama.cpp'})
  assert.ok(!short.notes!.some((n) => n.startsWith('prefill: --ubatch')))
  const cpu = makePlan(inv, [rig({gpus: 0})], {ctx: 8192, engine: 'llama.cpp'})
  assert.ok(!cpu.notes!.some((n) => n.startsWith('prefill: --ubatch')))
  assert.ok(!big.notes!.some((n) => n.startsWith('prefill: --ubatch')))
  assert.ok(!plan('off').notes!.some((n) => n.startsWith('prefill: --ubatch')), '--op-offload off asked for no copies')
})
