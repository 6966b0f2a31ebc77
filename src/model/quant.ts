/**
 * llama-quantize's per-tensor type choice, as llama.cpp v0.4.0 `src/llama-quant.cpp` makes it
 * (tensor_allows_quantization, tensor_get_category, llama_tensor_get_type_impl,
 * tensor_type_fallback), for the ftypes people publish MoE models in. No imatrix, no overrides.
 *
 * rules "v0.4.0": the pinned release. rules "pre-mla": the early-2025 quantizer that made the
 * Jan-2025 R1 GGUFs (legacy attn_kv_b layout); its one difference for these ftypes is that
 * attn_kv_b was not an attn_v-class tensor, so it never got the attn_v bump
 * (docs/r1-gguf-notes.md §1: unsloth R1 Q4_K_M = f32 361, q4_K 606, q6_K 58).
 */
import {MoerigError} from '../lib/errors.js'
import {ggmlType, type GgmlType} from './ggml-types.js'
import {blockOf, type Arch, type TensorShape} from './arch.js'

export type QuantRules = 'v0.4.0' | 'pre-mla'

/** llama_ftype values (include/llama.h) and their default tensor type (llama_ftype_get_default_type). */
export const FTYPES: Record<string, {id: number; base: string}> = {
  F16: {id: 1, base: 'F16'},
  BF16: {id: 32, base: 'BF16'},
  Q8_0: {id: 7, base: 'Q8_0'},
  Q4_0: {id: 2, base: 'Q4_0'},
  Q2_K: {id: 10, base: 'Q2_K'},
  Q3_K_M: {id: 12, base: 'Q3_K'},
  Q4_K_S: {id: 14, base: 'Q4_K'},
  Q4_K_M: {id: 15, base: 'Q4_K'},
  Q5_K_M: {id: 17, base: 'Q5_K'},
  Q6_K: {id: 18, base: 'Q6_K'},
  MXFP4_MOE: {id: 38, base: 'MXFP4'},
}

export function ftypeByName(name: string): string {
  const key = name.toUpperCase()
  if (!(key in FTYPES))
    throw new MoerigError('E_QUANT', `unknown quant ${name} (known: ${Object.keys(FTYPES).join(', ')})`)
  return key
}

type Category =
  | 'output'
  | 'token_embd'
  | 'attn_qkv'
  | 'attn_kv_b'
  | 'attn_v'
  | 'attn_k'
  | 'attn_q'
  | 'attn_output'
  | 'ffn_up'
  | 'ffn_gate'
  | 'ffn_down'
  | 'other'

/** tensor_get_category: substring matches in this order. */
function category(name: string): Category {
  if (name === 'output.weight') return 'output'
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd'
  if (name.includes('attn_qkv.weight')) return 'attn_qkv'
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b'
  if (name.includes('attn_v.weight')) return 'attn_v'
  if (name.includes('attn_k.weight')) return 'attn_k'
  if (name.includes('attn_q.weight')) return 'attn_q'
  if (name.includes('attn_output.weight')) return 'attn_output'
  if (name.includes('ffn_up')) return 'ffn_up'
  if (name.includes('ffn_gate')) return 'ffn_gate'
  if (name.includes('ffn_down')) return 'ffn_down'
  return 'other'
}

/** tensor_allows_quantization (the parts that apply to LLM MoE models). */
export function allowsQuantization(t: TensorShape): boolean {
  if (t.shape.length < 2) return false
  const n = t.name
  if (!n.endsWith('weight')) return false
  if (n.includes('_norm.weight')) return false
  if (n.includes('ffn_gate_inp.weight')) return false
  return true
}

function useMoreBits(i: number, n: number): boolean {
  const n8 = Math.trunc(n / 8)
  return i < n8 || i >= Math.trunc((7 * n) / 8) || (i - n8) % 3 === 2
}

/** tensor_type_fallback: when ne0 is not a multiple of the chosen type's block. */
function fallback(t: TensorShape, target: GgmlType): GgmlType {
  const ncols = t.shape[0]
  if (ncols % target.blockSize === 0) return target
  const map: Record<string, string> = {
    IQ1_S: 'IQ4_NL',
    IQ1_M: 'IQ4_NL',
    IQ2_XXS: 'IQ4_NL',
    IQ2_XS: 'IQ4_NL',
    IQ2_S: 'IQ4_NL',
    IQ3_XXS: 'IQ4_NL',
    IQ3_S: 'IQ4_NL',
    IQ4_XS: 'IQ4_NL',
    Q2_0: 'Q4_0',
    Q2_K: 'Q4_0',
    Q3_K: 'Q4_0',
    TQ1_0: 'Q4_0',
    TQ2_0: 'Q4_0',
    Q4_K: 'Q5_0',
    Q5_K: 'Q5_1',
    Q6_K: 'Q8_0',
  }
  let ret = map[target.name] ? ggmlType(map[target.name]) : target
  if (ncols % ret.blockSize !== 0) ret = ggmlType('F16')
  return ret
}

export interface QuantContext {
  arch: Arch
  ftype: string
  rules: QuantRules
  /** n_layer_all (llama.cpp sets n_ffn_down = n_ffn_gate = n_ffn_up to it) */
  nLayer: number
  nExpert: number
  /** n_head / n_head_kv as the GGUF states them (deepseek2 MLA GGUF: head_count_kv 1) */
  nGqa: number
}

const QUANTIZED = new Set(['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'MXFP4'])

/**
 * llama_tensor_get_type's state over one model: the counters of attn_v-like and ffn_down tensors
 * seen so far (its qs.i_attention_wv, qs.i_ffn_down) and the totals they are compared with.
 */
interface QuantState {
  ctx: QuantContext
  base: GgmlType
  nAttnWv: number
  iAttnWv: number
  iDown: number
}

/** output.weight (or token_embd when tied): Q6_K unless the base is Q8_0; Q8_0 for MXFP4_MOE or odd rows. */
function outputType(t: TensorShape, s: QuantState): GgmlType {
  if (s.ctx.ftype === 'MXFP4_MOE') return ggmlType('Q8_0')
  if (t.shape[0] % s.base.blockSize !== 0) return ggmlType('Q8_0')
  return s.base.name !== 'Q8_0' ? ggmlType('Q6_K') : s.base
}

/** attn_v (and attn_qkv, attn_kv_b under v0.4.0 rules): more bits for the first or every third layer. */
function attnVType(s: QuantState): GgmlType {
  const {ftype: ft, nGqa, nExpert} = s.ctx
  const i = s.iAttnWv++
  let type = s.base
  if (ft === 'Q2_K') type = ggmlType(nGqa >= 4 ? 'Q4_K' : 'Q3_K')
  else if (ft === 'Q3_K_M') type = ggmlType(i < 2 ? 'Q5_K' : 'Q4_K')
  else if ((ft === 'Q4_K_M' || ft === 'Q5_K_M') && useMoreBits(i, s.nAttnWv)) type = ggmlType('Q6_K')
  else if (ft === 'Q4_K_S' && i < 4) type = ggmlType('Q5_K')
  return nExpert === 8 ? ggmlType('Q8_0') : type
}

/** The layer of an ffn_down tensor: its block in MoE models, else the running count. */
function downLayer(t: TensorShape, s: QuantState): number {
  if (Math.max(1, s.ctx.nExpert) <= 1) return s.iDown
  const b = blockOf(t.name)
  if (b === null) throw new MoerigError('E_QUANT', `cannot tell the layer of tensor ${t.name}`)
  return b
}

/** ffn_down: more bits in the first and last eighths and every third layer between (K_M quants). */
function ffnDownType(t: TensorShape, s: QuantState): GgmlType {
  const {ftype: ft, nLayer: n} = s.ctx
  const i = downLayer(t, s)
  s.iDown++
  if (ft === 'Q2_K') return ggmlType('Q3_K')
  if (ft === 'Q3_K_M') return ggmlType(i < Math.trunc(n / 16) ? 'Q5_K' : 'Q4_K') // arch != FALCON
  if ((ft === 'Q4_K_M' || ft === 'Q5_K_M') && useMoreBits(i, n)) return ggmlType('Q6_K')
  if (ft === 'Q4_K_S' && i < Math.trunc(n / 8)) return ggmlType('Q5_K')
  return s.base
}

/** attn_output: Q5_K for 8-expert models at low quants, one step up for Q2_K and Q3_K_M otherwise. */
function attnOutputType(s: QuantState): GgmlType {
  const ft = s.ctx.ftype
  if (s.ctx.nExpert === 8)
    return ft === 'Q2_K' || ft === 'Q3_K_M' || ft === 'Q4_K_S' || ft === 'Q4_K_M' ? ggmlType('Q5_K') : s.base
  if (ft === 'Q2_K') return ggmlType('Q3_K')
  if (ft === 'Q3_K_M') return ggmlType('Q4_K')
  return s.base
}

/** attn_qkv (fused): one step up for the K_M quants. */
function attnQkvType(s: QuantState): GgmlType {
  const ft = s.ctx.ftype
  if (ft === 'Q3_K_M') return ggmlType('Q4_K')
  if (ft === 'Q4_K_M') return ggmlType('Q5_K')
  if (ft === 'Q5_K_M') return ggmlType('Q6_K')
  return s.base
}

/**
 * Types of all tensors of a model quantized with `ftype`, in llama-quantize's processing order
 * (the list must already be sorted like llama.cpp's weights_map: compareTensorNames).
 * Tensors that are not quantized (norms, router, biases) stay F32. The branches follow
 * llama_tensor_get_type (src/llama-quant.cpp) in its order; the first that matches decides.
 */
export function quantizeTypes(tensors: TensorShape[], ctx: QuantContext): GgmlType[] {
  const base = ggmlType(FTYPES[ctx.ftype].base)
  const f32 = ggmlType('F32')
  const isAttnV = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || (c === 'attn_kv_b' && ctx.rules === 'v0.4.0')
  const tied = !tensors.some((t) => t.name === 'output.weight')
  const s: QuantState = {
    ctx,
    base,
    nAttnWv: tensors.filter((t) => isAttnV(category(t.name))).length,
    iAttnWv: 0,
    iDown: 0,
  }
  const typeOf = (t: TensorShape, cat: Category): GgmlType => {
    if (cat === 'output' || (tied && cat === 'token_embd')) return outputType(t, s)
    if (ctx.ftype === 'MXFP4_MOE') return (t.shape[2] ?? 1) > 1 ? ggmlType('MXFP4') : ggmlType('Q8_0')
    if (cat === 'token_embd') return base // Q2_K … Q8_0 keep the default type
    if (isAttnV(cat)) return attnVType(s)
    if (cat === 'attn_k') return ctx.nExpert === 8 ? ggmlType('Q8_0') : base
    if (cat === 'ffn_down') return ffnDownType(t, s)
    if (cat === 'attn_output') return attnOutputType(s)
    if (cat === 'attn_qkv') return attnQkvType(s)
    return base
  }
  return tensors.map((t) => {
    if (!allowsQuantization(t)) return f32
    if (!QUANTIZED.has(base.name)) return base // F16 / BF16: no mixture rules
    return fallback(t, typeOf(t, category(t.name)))
  })
}
