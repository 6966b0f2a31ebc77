/**
 * Model shapes: the tensor list of a model from its hyper-parameters (catalog models), and the
 * hyper-parameters of a GGUF from its metadata. Shapes are ggml `ne` order (ne0 = row length),
 * exactly as llama.cpp v0.4.0's loaders create them:
 *   deepseek2  src/models/deepseek2.cpp  load_arch_tensors (MLA: attn_k_b/attn_v_b; legacy: attn_kv_b;
 *              "lite" models without q LoRA have a single attn_q)
 *   qwen3moe   src/models/qwen3moe.cpp
 *   gpt-oss    src/models/openai-moe.cpp (biases, attention sinks, post_attention_norm)
 */
import {MoerigError} from '../lib/errors.js'
import type {Hparams} from '../schemas/model.js'
import {blockOf, checkMetaInt, MAX_BLOCKS, MAX_CONTEXT, MAX_EXPERTS, MAX_WIDTH} from './consistency.js'
import type {GgufModel} from './gguf.js'

export type Arch = 'deepseek2' | 'qwen3moe' | 'gpt-oss' | string
export type Layout = 'mla' | 'legacy' | 'gqa'

export interface TensorShape {
  name: string
  shape: number[]
}

/** Hyper-parameters the planner needs, whatever the source (catalog or GGUF). */
export interface ModelShape {
  arch: Arch
  layout: Layout
  hp: Required<Pick<Hparams, 'nLayer' | 'nEmbd' | 'nVocab' | 'nHead' | 'nHeadKv' | 'contextLength'>> & Hparams
}

/** llama.cpp's weight_name_comparer (llama-model-loader.h): by block number (non-block first), then name. */
export function compareTensorNames(a: string, b: string): number {
  const la = blockOf(a) ?? -1
  const lb = blockOf(b) ?? -1
  if (la !== lb) return la - lb
  return a < b ? -1 : a > b ? 1 : 0
}

export {blockOf}

/** The tensors outside the blocks: embeddings, final norm, and the output matrix unless tied to the embeddings. */
function globalTensors(hp: Hparams, tied = hp.tiedEmbeddings): TensorShape[] {
  const out: TensorShape[] = [
    {name: 'token_embd.weight', shape: [hp.nEmbd, hp.nVocab]},
    {name: 'output_norm.weight', shape: [hp.nEmbd]},
  ]
  if (!tied) out.push({name: 'output.weight', shape: [hp.nEmbd, hp.nVocab]})
  return out
}

/** deepseek2 attention of block prefix `b`: low-rank Q (or plain Q), the KV latent, and K/V up-projections by layout. */
function deepseek2Attention(b: string, hp: Hparams, layout: 'mla' | 'legacy'): TensorShape[] {
  const E = hp.nEmbd,
    H = hp.nHead
  const qLora = hp.qLoraRank ?? 0,
    kvLora = hp.kvLoraRank ?? 512
  const rope = hp.ropeDim ?? 64,
    nope = hp.nopeDim ?? 128,
    vDim = hp.vHeadDim ?? 128
  const out: TensorShape[] = [{name: `${b}attn_norm.weight`, shape: [E]}]
  if (qLora > 0) {
    out.push({name: `${b}attn_q_a_norm.weight`, shape: [qLora]})
    out.push({name: `${b}attn_q_a.weight`, shape: [E, qLora]})
    out.push({name: `${b}attn_q_b.weight`, shape: [qLora, H * (nope + rope)]})
  } else {
    out.push({name: `${b}attn_q.weight`, shape: [E, H * (nope + rope)]})
  }
  out.push({name: `${b}attn_kv_a_norm.weight`, shape: [kvLora]})
  out.push({name: `${b}attn_kv_a_mqa.weight`, shape: [E, kvLora + rope]})
  if (layout === 'mla') {
    out.push({name: `${b}attn_k_b.weight`, shape: [nope, kvLora, H]})
    out.push({name: `${b}attn_v_b.weight`, shape: [kvLora, vDim, H]})
  } else {
    out.push({name: `${b}attn_kv_b.weight`, shape: [kvLora, H * (nope + vDim)]})
  }
  out.push({name: `${b}attn_output.weight`, shape: [H * vDim, E]})
  return out
}

/** deepseek2 FFN of block i: dense in the leading blocks, else router, routed and shared experts. */
function deepseek2Ffn(b: string, hp: Hparams, i: number): TensorShape[] {
  const E = hp.nEmbd
  const nExp = hp.nExpert ?? 0,
    ffExp = hp.nFfExp ?? 0,
    nShared = hp.nExpertShared ?? 0
  const out: TensorShape[] = [{name: `${b}ffn_norm.weight`, shape: [E]}]
  if (i < (hp.nLayerDenseLead ?? 0)) {
    out.push({name: `${b}ffn_gate.weight`, shape: [E, hp.nFf ?? 0]})
    out.push({name: `${b}ffn_down.weight`, shape: [hp.nFf ?? 0, E]})
    out.push({name: `${b}ffn_up.weight`, shape: [E, hp.nFf ?? 0]})
    return out
  }
  out.push({name: `${b}ffn_gate_inp.weight`, shape: [E, nExp]})
  // e_score_correction_bias: V3/R1/Kimi (noaux_tc routing); V2 and V2-Lite have none.
  if (hp.expertGating === 'sigmoid') out.push({name: `${b}exp_probs_b.bias`, shape: [nExp]})
  out.push({name: `${b}ffn_down_exps.weight`, shape: [ffExp, E, nExp]})
  out.push({name: `${b}ffn_gate_exps.weight`, shape: [E, ffExp, nExp]})
  out.push({name: `${b}ffn_up_exps.weight`, shape: [E, ffExp, nExp]})
  if (nShared > 0) {
    out.push({name: `${b}ffn_gate_shexp.weight`, shape: [E, ffExp * nShared]})
    out.push({name: `${b}ffn_down_shexp.weight`, shape: [ffExp * nShared, E]})
    out.push({name: `${b}ffn_up_shexp.weight`, shape: [E, ffExp * nShared]})
  }
  return out
}

function deepseek2(hp: Hparams, layout: 'mla' | 'legacy'): TensorShape[] {
  const out = globalTensors(hp)
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`
    out.push(...deepseek2Attention(b, hp, layout), ...deepseek2Ffn(b, hp, i))
  }
  return out
}

function qwen3moe(hp: Hparams): TensorShape[] {
  const E = hp.nEmbd,
    hd = hp.headDim ?? E / hp.nHead
  const nExp = hp.nExpert ?? 0,
    ffExp = hp.nFfExp ?? 0
  const out = globalTensors(hp)
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`
    out.push(
      {name: `${b}attn_norm.weight`, shape: [E]},
      {name: `${b}attn_q.weight`, shape: [E, hd * hp.nHead]},
      {name: `${b}attn_k.weight`, shape: [E, hd * hp.nHeadKv]},
      {name: `${b}attn_v.weight`, shape: [E, hd * hp.nHeadKv]},
      {name: `${b}attn_output.weight`, shape: [hd * hp.nHead, E]},
      {name: `${b}attn_k_norm.weight`, shape: [hd]},
      {name: `${b}attn_q_norm.weight`, shape: [hd]},
      {name: `${b}ffn_norm.weight`, shape: [E]},
      {name: `${b}ffn_gate_inp.weight`, shape: [E, nExp]},
      {name: `${b}ffn_gate_exps.weight`, shape: [E, ffExp, nExp]},
      {name: `${b}ffn_down_exps.weight`, shape: [ffExp, E, nExp]},
      {name: `${b}ffn_up_exps.weight`, shape: [E, ffExp, nExp]},
    )
  }
  return out
}

function gptOss(hp: Hparams): TensorShape[] {
  const E = hp.nEmbd,
    hd = hp.headDim ?? 64
  const nExp = hp.nExpert ?? 0,
    ff = hp.nFfExp ?? 0
  const q = hd * hp.nHead,
    kv = hd * hp.nHeadKv
  // gpt-oss always has its own output matrix
  const out = globalTensors(hp, false)
  for (let i = 0; i < hp.nLayer; i++) {
    const b = `blk.${i}.`
    out.push(
      {name: `${b}attn_norm.weight`, shape: [E]},
      {name: `${b}post_attention_norm.weight`, shape: [E]},
      {name: `${b}attn_q.weight`, shape: [E, q]},
      {name: `${b}attn_k.weight`, shape: [E, kv]},
      {name: `${b}attn_v.weight`, shape: [E, kv]},
      {name: `${b}attn_q.bias`, shape: [q]},
      {name: `${b}attn_k.bias`, shape: [kv]},
      {name: `${b}attn_v.bias`, shape: [kv]},
      {name: `${b}attn_output.weight`, shape: [q, E]},
      {name: `${b}attn_output.bias`, shape: [E]},
      {name: `${b}attn_sinks.weight`, shape: [hp.nHead]},
      {name: `${b}ffn_gate_inp.weight`, shape: [E, nExp]},
      {name: `${b}ffn_gate_inp.bias`, shape: [nExp]},
      {name: `${b}ffn_gate_exps.weight`, shape: [E, ff, nExp]},
      {name: `${b}ffn_down_exps.weight`, shape: [ff, E, nExp]},
      {name: `${b}ffn_up_exps.weight`, shape: [E, ff, nExp]},
      {name: `${b}ffn_gate_exps.bias`, shape: [ff, nExp]},
      {name: `${b}ffn_down_exps.bias`, shape: [E, nExp]},
      {name: `${b}ffn_up_exps.bias`, shape: [ff, nExp]},
    )
  }
  return out
}

/** The tensor list llama.cpp would load for this model, in llama-quantize's processing order. */
export function buildTensorShapes(shape: ModelShape): TensorShape[] {
  let list: TensorShape[]
  switch (shape.arch) {
    case 'deepseek2':
      list = deepseek2(shape.hp, shape.layout === 'legacy' ? 'legacy' : 'mla')
      break
    case 'qwen3moe':
      list = qwen3moe(shape.hp)
      break
    case 'gpt-oss':
      list = gptOss(shape.hp)
      break
    default:
      throw new MoerigError('E_ARCH', `architecture ${shape.arch} has no shape model in moerig's catalog`)
  }
  return list.sort((a, b) => compareTensorNames(a.name, b.name))
}

/** A metadata value, or the first element of a per-layer array (as llama.cpp reads arrays). */
function meta(m: Record<string, unknown>, key: string): unknown {
  const v = m[key]
  return Array.isArray(v) ? v[0] : v
}

/** Bounds of each hyper-parameter key (consistency.ts names where the caps come from). */
const META_BOUNDS: Record<string, [number, number]> = {
  block_count: [1, MAX_BLOCKS],
  context_length: [1, MAX_CONTEXT],
  embedding_length: [1, MAX_WIDTH],
  feed_forward_length: [0, MAX_WIDTH],
  'attention.head_count': [1, MAX_WIDTH],
  'attention.head_count_kv': [1, MAX_WIDTH],
  'attention.key_length': [1, MAX_WIDTH],
  'attention.value_length': [1, MAX_WIDTH],
  'attention.key_length_mla': [1, MAX_WIDTH],
  'attention.value_length_mla': [1, MAX_WIDTH],
  'attention.q_lora_rank': [0, MAX_WIDTH],
  'attention.kv_lora_rank': [1, MAX_WIDTH],
  'attention.sliding_window': [0, MAX_CONTEXT],
  'rope.dimension_count': [0, MAX_WIDTH],
  leading_dense_block_count: [0, MAX_BLOCKS],
  expert_count: [0, MAX_EXPERTS],
  expert_used_count: [0, MAX_EXPERTS],
  expert_shared_count: [0, MAX_EXPERTS],
  expert_feed_forward_length: [0, MAX_WIDTH],
  vocab_size: [1, 2 ** 31 - 1],
}

/** Hyper-parameter readers over a GGUF's metadata: `k` (undefined when absent) and `req` (throws). */
function metaReader(g: GgufModel): {k: (s: string) => number | undefined; req: (s: string) => number} {
  const a = g.arch
  // Every number the planner uses is a whole number in range (a corrupt header says 2^31 blocks).
  const k = (s: string): number | undefined => {
    const v = meta(g.metadata, `${a}.${s}`)
    if (v === undefined) return undefined
    const [min, max] = META_BOUNDS[s] ?? [0, MAX_WIDTH]
    return checkMetaInt(g.path, `${a}.${s}`, v, min, max)
  }
  const req = (s: string): number => {
    const v = k(s)
    if (v === undefined) throw new MoerigError('E_GGUF_META', `${g.path}: metadata key ${a}.${s} is missing`)
    return v
  }
  return {k, req}
}

/** deepseek2 heads: MLA or legacy layout (llama.cpp: is_mla = key_length_mla && value_length_mla), head dims. */
function deepseek2Heads(
  g: GgufModel,
  hp: ModelShape['hp'],
  {k, req}: ReturnType<typeof metaReader>,
  kl: number | undefined,
  vl: number | undefined,
): Layout {
  hp.qLoraRank = k('attention.q_lora_rank') ?? 0
  hp.kvLoraRank = req('attention.kv_lora_rank')
  hp.ropeDim = k('rope.dimension_count') ?? 64
  const kMla = k('attention.key_length_mla')
  const vMla = k('attention.value_length_mla')
  // otherwise the legacy attn_kv_b path
  const layout: Layout = kMla && vMla ? 'mla' : 'legacy'
  const kHead = layout === 'mla' ? kMla! : (kl ?? 192)
  hp.nopeDim = kHead - hp.ropeDim
  hp.vHeadDim = layout === 'mla' ? vMla! : (vl ?? 128)
  if (layout === 'legacy' && g.tensors.some((t) => t.name === 'blk.0.attn_k_b.weight')) return 'mla'
  return layout
}

/**
 * Hyper-parameters from a GGUF's metadata (llama-arch.cpp LLM_KV_NAMES, "%s." = arch) and, where
 * the metadata is silent, from the tensor shapes. Throws when a key the planner needs is missing.
 */
export function shapeFromGguf(g: GgufModel): ModelShape {
  const a = g.arch
  const m = g.metadata
  const r = metaReader(g)
  const {k, req} = r
  const find = (name: string) => g.tensors.find((t) => t.name === name)
  const nVocab =
    k('vocab_size') ??
    (m['tokenizer.ggml.tokens'] as {length?: number} | undefined)?.length ??
    find('token_embd.weight')?.shape[1]
  if (!nVocab)
    throw new MoerigError(
      'E_GGUF_META',
      `${g.path}: cannot tell the vocabulary size (no ${a}.vocab_size, tokens or token_embd)`,
    )
  const nLayer = req('block_count')
  const nHead = req('attention.head_count')
  const hp: ModelShape['hp'] = {
    nLayer,
    nEmbd: req('embedding_length'),
    nVocab,
    nHead,
    nHeadKv: k('attention.head_count_kv') ?? nHead,
    contextLength: k('context_length') ?? 4096,
    nFf: k('feed_forward_length') ?? 0,
    nLayerDenseLead: k('leading_dense_block_count') ?? 0,
    nExpert: k('expert_count') ?? 0,
    nExpertUsed: k('expert_used_count') ?? 0,
    nExpertShared: k('expert_shared_count') ?? 0,
    nFfExp: k('expert_feed_forward_length') ?? 0,
    tiedEmbeddings: !find('output.weight'),
  }
  const kl = k('attention.key_length')
  const vl = k('attention.value_length')
  let layout: Layout = 'gqa'
  if (a === 'deepseek2') layout = deepseek2Heads(g, hp, r, kl, vl)
  else hp.headDim = kl ?? hp.nEmbd / nHead
  const swa = k('attention.sliding_window')
  if (swa) {
    hp.slidingWindow = swa
    hp.swaLayers = a === 'gpt-oss' ? 'even' : 'none'
  }
  if (nLayer < 1 || hp.nEmbd < 1 || nHead < 1)
    throw new MoerigError(
      'E_GGUF_META',
      `${g.path}: implausible hyper-parameters (block_count ${nLayer}, embedding_length ${hp.nEmbd}, head_count ${nHead})`,
    )
  return {arch: a, layout, hp}
}
