/**
 * GGUF metadata against its own tensor table, before anything is planned from it.
 *
 * The header reader (gguf.ts) checks bytes, counts and offsets; it cannot know that a
 * `block_count` of 2^31 or an `expert_used_count` above `expert_count` is nonsense. The planner
 * loops over blocks and divides by experts, so such numbers become a V8 fatal error, NaN, or a
 * confident "FITS". llama.cpp's loader refuses the same files (create_tensor: "wrong number of
 * tensors", n_expert_used ≤ n_expert asserts in llama-model.cpp), so we refuse them here with one
 * line naming the key, its value and what the tensors say.
 */
import {MoerigError} from '../lib/errors.js'
import type {ModelShape} from './arch.js'
import type {GgufModel} from './gguf.js'

/**
 * Ours: plausibility caps on hyper-parameters (anything above is a corrupt header, not a model).
 * Largest published values: 126 blocks (Llama 3.1 405B), 384 experts (Kimi K2), 10 M tokens of
 * context (Llama 4 Scout), 163 840-wide FFNs are unheard of; caps leave a wide margin.
 */
export const MAX_BLOCKS = 4096
export const MAX_EXPERTS = 65536
export const MAX_CONTEXT = 1 << 28
export const MAX_WIDTH = 1 << 24

/** Block of a tensor name ("blk.12.ffn_up.weight" → 12); null outside the blocks. arch.ts re-exports it. */
export function blockOf(name: string): number | null {
  const m = /^blk\.(\d+)\./.exec(name)
  return m ? Number(m[1]) : null
}

/** Routed-expert weight tensors: [.., .., n_expert] (biases are [.., n_expert]). */
const EXPS_WEIGHT = /^blk\.\d+\.ffn_(gate|up|down)_exps\.weight$/

/**
 * A hyper-parameter as read from metadata must be a whole number in range; a u64 beyond 2^53
 * arrives as a decimal string, a float key as a fraction.
 */
export function checkMetaInt(path: string, key: string, v: unknown, min: number, max: number): number {
  const shown = typeof v === 'string' ? v : JSON.stringify(v)
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new MoerigError('E_GGUF_META', `${path}: metadata ${key} is ${shown}; allowed: a whole number ${min}–${max}`)
  }
  return v
}

function fail(path: string, what: string): never {
  throw new MoerigError('E_GGUF_META', `${path}: ${what}`)
}

/** "0–26" or "0–3, 5–26" from sorted block numbers. */
function ranges(xs: number[]): string {
  const out: string[] = []
  for (let i = 0; i < xs.length;) {
    let j = i
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++
    out.push(i === j ? String(xs[i]) : `${xs[i]}–${xs[j]}`)
    i = j + 1
  }
  return out.length > 3 ? `${out.slice(0, 3).join(', ')}, …` : out.join(', ')
}

/** What every check needs: the file (for messages), the metadata key prefix, the hyper-parameters. */
interface Check {
  g: GgufModel
  hp: ModelShape['hp']
  path: string
  key: (s: string) => string
}

/** Blocks: block_count must be exactly the blocks the tensors use, with none missing. */
function checkBlocks({g, hp, path, key}: Check): void {
  const blocks = [...new Set(g.tensors.map((t) => blockOf(t.name)).filter((b): b is number => b !== null))].sort(
    (x, y) => x - y,
  )
  if (blocks.length === 0)
    fail(path, `metadata ${key('block_count')} is ${hp.nLayer} but no tensor belongs to a block (no blk.N.* names)`)
  const last = blocks[blocks.length - 1]
  if (hp.nLayer !== last + 1) {
    fail(
      path,
      `metadata ${key('block_count')} is ${hp.nLayer} but the tensors have blocks ${ranges(blocks)} (${last + 1} blocks)`,
    )
  }
  if (blocks.length !== last + 1) {
    const have = new Set(blocks)
    const missing = Array.from({length: last + 1}, (_, i) => i).filter((i) => !have.has(i))
    fail(
      path,
      `metadata ${key('block_count')} is ${hp.nLayer} but block${missing.length > 1 ? 's' : ''} ${ranges(missing)} ha${missing.length > 1 ? 've' : 's'} no tensors`,
    )
  }
}

/** Embeddings: width and vocabulary as token_embd stores them ([n_embd, n_vocab]). */
function checkEmbeddings({g, hp, path, key}: Check): void {
  const embd = g.tensors.find((t) => t.name === 'token_embd.weight')
  if (!embd || embd.shape.length !== 2) return
  if (embd.shape[0] !== hp.nEmbd)
    fail(
      path,
      `metadata ${key('embedding_length')} is ${hp.nEmbd} but token_embd.weight rows are ${embd.shape[0]} wide`,
    )
  if (embd.shape[1] !== hp.nVocab)
    fail(path, `the vocabulary has ${hp.nVocab} tokens but token_embd.weight has ${embd.shape[1]} rows`)
}

/** Experts: the last dimension of every routed-expert weight is n_expert; used and width agree. */
function checkExperts({hp, path, key}: Check, exps: GgufModel['tensors']): void {
  const nExp = hp.nExpert ?? 0
  const used = hp.nExpertUsed ?? 0
  if (exps.length === 0) {
    if (nExp > 0)
      fail(
        path,
        `metadata ${key('expert_count')} is ${nExp} but no tensor holds routed experts (no blk.N.ffn_*_exps.weight)`,
      )
    if (used > 0)
      fail(
        path,
        `metadata ${key('expert_used_count')} is ${used} but ${key('expert_count')} is 0 and no tensor holds routed experts`,
      )
    return
  }
  const t = exps.find((x) => x.shape.length !== 3 || x.shape[2] !== nExp)
  if (t)
    fail(
      path,
      `metadata ${key('expert_count')} is ${nExp} but ${t.name} holds ${t.shape.length === 3 ? t.shape[2] : `a ${t.shape.length}-D array, not`} experts`,
    )
  if (used < 1 || used > nExp)
    fail(
      path,
      `metadata ${key('expert_used_count')} is ${used}; allowed: 1–${nExp} (the experts per layer, ${key('expert_count')})`,
    )
  const ffExp = hp.nFfExp ?? 0
  const gate = exps.find((x) => /_gate_exps/.test(x.name))
  if (ffExp > 0 && gate && gate.shape[1] !== ffExp) {
    fail(path, `metadata ${key('expert_feed_forward_length')} is ${ffExp} but ${gate.name} is ${gate.shape[1]} wide`)
  }
}

/** Dense lead (deepseek2): the first blocks without routed experts. */
function checkDenseLead({g, hp, path, key}: Check, exps: GgufModel['tensors']): void {
  const moeBlocks = [...new Set(exps.map((t) => blockOf(t.name)!))].sort((x, y) => x - y)
  const lead = hp.nLayerDenseLead ?? 0
  if (lead > hp.nLayer)
    fail(path, `metadata ${key('leading_dense_block_count')} is ${lead}, more than the ${hp.nLayer} blocks`)
  if (g.arch === 'deepseek2' && moeBlocks.length > 0 && lead !== moeBlocks[0]) {
    fail(
      path,
      `metadata ${key('leading_dense_block_count')} is ${lead} but the tensors have routed experts from block ${moeBlocks[0]} on (blocks ${ranges(moeBlocks)})`,
    )
  }
}

/** deepseek2 attention: the latent rank and head count as blk.0's tensors carry them. */
function checkMlaHeads({g, hp, path, key}: Check): void {
  const kvNorm = g.tensors.find((t) => t.name === 'blk.0.attn_kv_a_norm.weight')
  if (kvNorm && kvNorm.shape[0] !== hp.kvLoraRank)
    fail(
      path,
      `metadata ${key('attention.kv_lora_rank')} is ${hp.kvLoraRank} but blk.0.attn_kv_a_norm.weight has ${kvNorm.shape[0]} elements`,
    )
  const kb = g.tensors.find((t) => t.name === 'blk.0.attn_k_b.weight')
  if (kb && kb.shape.length === 3 && kb.shape[2] !== hp.nHead)
    fail(
      path,
      `metadata ${key('attention.head_count')} is ${hp.nHead} but blk.0.attn_k_b.weight has ${kb.shape[2]} heads`,
    )
  if (hp.nopeDim !== undefined && hp.nopeDim < 0)
    fail(path, `metadata key length is smaller than ${key('rope.dimension_count')} (${hp.ropeDim})`)
}

/** Heads: head_count_kv must divide head_count (GQA groups), and the attention weights agree. */
function checkHeads(c: Check): void {
  const {g, hp, path, key} = c
  if (hp.nHeadKv < 1 || hp.nHeadKv > hp.nHead || hp.nHead % hp.nHeadKv !== 0) {
    fail(
      path,
      `metadata ${key('attention.head_count_kv')} is ${hp.nHeadKv}; allowed: a divisor of ${key('attention.head_count')} (${hp.nHead})`,
    )
  }
  if (g.arch === 'deepseek2') return checkMlaHeads(c)
  const q = g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')
  const hd = hp.headDim ?? hp.nEmbd / hp.nHead
  if (q && q.shape.length === 2 && q.shape[1] !== hd * hp.nHead) {
    fail(
      path,
      `metadata ${key('attention.head_count')} is ${hp.nHead} (× head size ${hd} = ${hd * hp.nHead}) but blk.0.attn_q.weight is ${q.shape[1]} wide`,
    )
  }
}

/**
 * Cross-check the hyper-parameters the planner uses against the tensors that carry them.
 * Throws one E_GGUF_META line at the first contradiction.
 */
export function checkGgufConsistency(g: GgufModel, shape: ModelShape): void {
  const c: Check = {g, hp: shape.hp, path: g.path, key: (s: string) => `${g.arch}.${s}`}
  if (g.tensors.length === 0) fail(g.path, 'the header lists no tensors (nothing to plan)')
  checkBlocks(c)
  checkEmbeddings(c)
  const exps = g.tensors.filter((t) => EXPS_WEIGHT.test(t.name))
  checkExperts(c, exps)
  checkDenseLead(c, exps)
  checkHeads(c)
}
