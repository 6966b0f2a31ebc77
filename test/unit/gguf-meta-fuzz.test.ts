/**
 * Fuzz of GGUF metadata VALUES (test/unit/gguf.test.ts fuzzes the header bytes): well-formed GGUFs of
 * catalog models whose hyper-parameters are changed to random numbers that contradict each other
 * or the tensor table, and whose tensor tables lose blocks, experts or everything. Every case must
 * end in one clear MoerigError line or a sane plan: finite, non-negative numbers, ordered ranges,
 * a positive speed when it fits, no NaN/Infinity in the text. Never a crash or a hang.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {MoerigError} from '../../src/lib/errors.js'
import {ggmlTypeByName} from '../../src/model/ggml-types.js'
import {inventoryFromCatalog} from '../../src/model/inventory.js'
import {renderPlan} from '../../src/planner/render.js'
import {runPlan} from '../../src/planner/run.js'
import type {ModelProfile} from '../../src/schemas/model.js'
import type {Plan} from '../../src/schemas/plan.js'
import {ggufMetadata} from '../fixtures/gguf/model.js'
import {type KvValue, type TensorSpec, writeGguf} from '../fixtures/gguf/writer.js'
import {rig} from '../fixtures/plan/rigs.js'
import {tempDir} from '../support/tmp.js'
import {catalogModel} from '../../src/profiles/catalog.js'

const dir = tempDir('moerig-meta-fuzz-')

function catalog(id: string): ModelProfile {
  return catalogModel(id)
}

interface Base {
  label: string
  profile: ModelProfile
  kv: Record<string, KvValue>
  specs: TensorSpec[]
}

function base(id: string, layout?: 'mla' | 'legacy'): Base {
  const profile = catalog(id)
  const inv = inventoryFromCatalog(profile, {quant: 'Q4_K_M', layout})
  const specs = inv.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    type: ggmlTypeByName.get(t.typeName)!.id,
    bytes: t.bytes,
  }))
  return {label: `${id}${layout ? `-${layout}` : ''}`, profile, kv: ggufMetadata(profile, inv), specs}
}

/** mulberry32: a small seeded generator, so a failure reproduces from its case number. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The hyper-parameter keys the planner reads (without the "<arch>." prefix). */
const KEYS = [
  'block_count',
  'context_length',
  'embedding_length',
  'feed_forward_length',
  'attention.head_count',
  'attention.head_count_kv',
  'expert_count',
  'expert_used_count',
  'expert_shared_count',
  'expert_feed_forward_length',
  'leading_dense_block_count',
  'attention.kv_lora_rank',
  'attention.q_lora_rank',
  'rope.dimension_count',
  'attention.key_length',
  'attention.value_length',
  'attention.key_length_mla',
  'attention.value_length_mla',
  'attention.sliding_window',
  'vocab_size',
]

/** A value that contradicts the original one in one of the ways corrupt or hand-edited headers do. */
function mutateValue(r: () => number, v: number): KvValue {
  const pick = Math.floor(r() * 16)
  switch (pick) {
    case 0:
      return {type: 'u32', value: 0}
    case 1:
      return {type: 'u32', value: 1}
    case 2:
      return {type: 'u32', value: Math.max(0, v - 1)}
    case 3:
      return {type: 'u32', value: v + 1}
    case 4:
      return {type: 'u32', value: v * 2}
    case 5:
      return {type: 'u32', value: Math.floor(v / 2)}
    case 6:
      return {type: 'u32', value: 1_000_000}
    case 7:
      return {type: 'u32', value: 2 ** 31}
    case 8:
      return {type: 'u32', value: 2 ** 32 - 1}
    case 9:
      return {type: 'i32', value: -1}
    case 10:
      return {type: 'f32', value: v + 0.5}
    case 11:
      return {type: 'u64', value: 2n ** 53n + 1n}
    case 12:
      return {type: 'f64', value: Number.NaN}
    case 13:
      return {type: 'string', value: String(v)}
    case 14:
      return {type: 'u32', value: 255}
    default:
      return {type: 'u32', value: Math.floor(r() * (2 * v + 2))}
  }
}

/** Tensor-table damage: a block lost, the experts gone, one tensor gone, or nothing at all. */
function mutateTensors(r: () => number, specs: TensorSpec[]): TensorSpec[] {
  const pick = Math.floor(r() * 8)
  const blocks = Math.max(...specs.map((t) => Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1)))
  switch (pick) {
    case 0:
      return specs.filter((t) => !t.name.startsWith(`blk.${blocks}.`))
    case 1:
      return specs.filter((t) => !t.name.startsWith(`blk.${Math.floor(r() * blocks)}.`))
    case 2:
      return specs.filter((t) => !/_exps\./.test(t.name))
    case 3:
      return specs.filter((_, i) => i !== Math.floor(r() * specs.length))
    case 4:
      return []
    default:
      return specs
  }
}

function* numbers(x: unknown, path = ''): Generator<[string, number]> {
  if (typeof x === 'number') yield [path, x]
  else if (Array.isArray(x)) for (let i = 0; i < x.length; i++) yield* numbers(x[i], `${path}/${i}`)
  else if (x && typeof x === 'object') for (const [k, v] of Object.entries(x)) yield* numbers(v, `${path}/${k}`)
}

function assertSanePlan(plan: Plan, what: string): void {
  for (const [p, n] of numbers(plan)) {
    assert.ok(Number.isFinite(n), `${what}: ${p} is ${n}`)
    assert.ok(n >= 0, `${what}: ${p} is negative (${n})`)
  }
  for (const r of [plan.prediction.decodeRange, plan.prediction.prefillRange]) {
    assert.ok(r && r.low <= r.mid && r.mid <= r.high, `${what}: range ${JSON.stringify(r)} out of order`)
  }
  if (plan.fits) {
    assert.ok(
      plan.prediction.decodeTps > 0 && plan.prediction.prefillTps > 0,
      `${what}: fits but predicts ${plan.prediction.decodeTps}/${plan.prediction.prefillTps} tok/s`,
    )
  }
  for (const b of plan.maxContext.byGpuCount)
    assert.ok(
      plan.maxContext.trained !== undefined && b.maxContext <= plan.maxContext.trained,
      `${what}: max context ${b.maxContext} > trained ${plan.maxContext.trained}`,
    )
  const text = renderPlan(plan, {emit: true})
  assert.doesNotMatch(text, /NaN|Infinity|undefined/, `${what}: rendered plan says NaN/Infinity/undefined`)
}

const CASES = 240

test(`GGUF metadata fuzz: ${CASES} well-formed headers with contradicting numbers → one line or a sane plan`, async (t) => {
  const bases = [base('deepseek-v2-lite', 'mla'), base('deepseek-v2-lite', 'legacy'), base('gpt-oss-120b')]
  const profiles = [rig({id: 'fuzz-rig', gpus: 2})]
  const outcome = {plans: 0, errors: 0}
  const codes = new Map<string, number>()
  for (let i = 0; i < CASES; i++) {
    const r = rng(1000 + i)
    const b = bases[i % bases.length]
    const kv: Record<string, KvValue> = {...b.kv}
    const arch = b.profile.arch
    const nKeys = 1 + Math.floor(r() * 3)
    const changed: string[] = []
    for (let j = 0; j < nKeys; j++) {
      const key = `${arch}.${KEYS[Math.floor(r() * KEYS.length)]}`
      const old = kv[key]
      const v = old && typeof old.value === 'number' && Number.isInteger(old.value) && old.value >= 0 ? old.value : 64
      kv[key] = mutateValue(r, v)
      changed.push(`${key}=${String(kv[key].value)}`)
    }
    const specs = r() < 0.3 ? mutateTensors(r, b.specs) : b.specs
    const what = `case ${i} (${b.label}; ${changed.join(', ')}; ${specs.length}/${b.specs.length} tensors)`
    const path = join(dir, `case-${i % 4}.gguf`)
    writeGguf(path, kv, specs)
    let plan: Plan
    try {
      plan = await runPlan({model: path, hardware: 'fuzz-rig', engine: 'llama.cpp', profiles})
    } catch (e) {
      assert.ok(e instanceof MoerigError, `${what}: not a MoerigError: ${(e as Error).stack}`)
      assert.ok(!e.message.includes('\n'), `${what}: message has several lines`)
      // a NaN the header holds may be quoted ("is NaN"), a computed one may not
      assert.doesNotMatch(
        e.message.replace(/ is NaN;/, ''),
        /NaN|undefined|Infinity|Cannot read|is not a function/,
        `${what}: ${e.message}`,
      )
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
      outcome.errors++
      continue
    }
    assertSanePlan(plan, what)
    outcome.plans++
  }
  t.diagnostic(
    `plans ${outcome.plans}, errors ${outcome.errors}: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`,
  )
  // Both outcomes happen (the fuzz is not all-reject), and the rejections are the metadata check's.
  assert.ok(
    outcome.plans > 10 && outcome.errors > CASES / 3,
    JSON.stringify({...outcome, codes: Object.fromEntries(codes)}),
  )
})
