/**
 * llama-quantize's per-tensor type choice, as llama.cpp v0.4.0 `src/llama-quant.cpp` makes it
 * (tensor_allows_quantization, tensor_get_category, llama_tensor_get_type_impl,
 * tensor_type_fallback), for the ftypes people publish MoE models in. No imatrix, no overrides.
 *
 * rules "v0.4.0": the pinned release. rules "pre-mla": the early-2025 quantizer that made the
 * Jan-2025 R1 GGUFs (legacy attn_kv_b layout); its one difference for these ftypes is that
 * attn_kv_b was not an attn_v-class tensor, so it never got the attn_v bump
 * (see shared/reference/gguf_reference.md §4.2: unsloth R1 Q4_K_M = f32 361, q4_K 606, q6_K 58).
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
 * Types of all tensors of a model quantized with `ftype`, in llama-quantize's processing order
 * (the list must already be sorted like llama.cpp's weights_map: compareTensorNames).
 * `sourceType` is the type of tensors that are not quantized (norms, router, biases: F32).
 */
export function quantizeTypes(tensors: TensorShape[], ctx: QuantContext): GgmlType[] {
  const ft = ctx.ftype
  const base = ggmlType(FTYPES[ft].base)
  const f32 = ggmlType('F32')
  const isAttnV = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || (c === 'attn_kv_b' && ctx.rules === 'v0.4.0')
  const tied = !tensors.some((t) => t.name === 'output.weight')
  let nAttnWv = 0
  for (const t of tensors) if (isAttnV(category(t.name))) nAttnWv++
  let iAttnWv = 0

  const layerOf = (t: TensorShape, counter: number): number => {
    if (Math.max(1, ctx.nExpert) > 1) {
      const b = blockOf(t.name)
      if (b === null) throw new MoerigError('E_QUANT', `cannot tell the layer of tensor ${t.name}`)
      return b
    }
    return counter
  }
  let iDown = 0

  return tensors.map((t) => {
    if (!allowsQuantization(t)) return f32
    const cat = category(t.name)
    let type = base
    if (!QUANTIZED.has(base.name)) return base // F16 / BF16: no mixture rules
    const n = ctx.nLayer
    if (cat === 'output' || (tied && cat === 'token_embd')) {
      if (ft === 'MXFP4_MOE') type = ggmlType('Q8_0')
      else if (t.shape[0] % type.blockSize !== 0) type = ggmlType('Q8_0')
      else if (type.name !== 'Q8_0') type = ggmlType('Q6_K')
    } else if (ft === 'MXFP4_MOE') {
      type = (t.shape[2] ?? 1) > 1 ? ggmlType('MXFP4') : ggmlType('Q8_0')
    } else if (cat === 'token_embd') {
      // Q2_K … Q8_0 keep the default type
    } else if (isAttnV(cat)) {
      if (ft === 'Q2_K') type = ggmlType(ctx.nGqa >= 4 ? 'Q4_K' : 'Q3_K')
      else if (ft === 'Q3_K_M') type = ggmlType(iAttnWv < 2 ? 'Q5_K' : 'Q4_K')
      else if ((ft === 'Q4_K_M' || ft === 'Q5_K_M') && useMoreBits(iAttnWv, nAttnWv)) type = ggmlType('Q6_K')
      else if (ft === 'Q4_K_S' && iAttnWv < 4) type = ggmlType('Q5_K')
      if (ctx.nExpert === 8) type = ggmlType('Q8_0')
      iAttnWv++
    } else if (cat === 'attn_k') {
      if (ctx.nExpert === 8) type = ggmlType('Q8_0')
    } else if (cat === 'ffn_down') {
      const i = layerOf(t, iDown)
      if (ft === 'Q2_K') type = ggmlType('Q3_K')
      else if (ft === 'Q3_K_M')
        type = ggmlType(i < Math.trunc(n / 16) ? 'Q5_K' : 'Q4_K') // arch != FALCON
      else if (ft === 'Q4_K_M') {
        if (useMoreBits(i, n)) type = ggmlType('Q6_K')
      } else if (ft === 'Q5_K_M' && useMoreBits(i, n)) type = ggmlType('Q6_K')
      else if (ft === 'Q4_K_S' && i < Math.trunc(n / 8)) type = ggmlType('Q5_K')
      iDown++
    } else if (cat === 'attn_output') {
      if (ctx.nExpert === 8) {
        if (ft === 'Q2_K' || ft === 'Q3_K_M' || ft === 'Q4_K_S' || ft === 'Q4_K_M') type = ggmlType('Q5_K')
      } else if (ft === 'Q2_K') type = ggmlType('Q3_K')
      else if (ft === 'Q3_K_M') type = ggmlType('Q4_K')
    } else if (cat === 'attn_qkv') {
      if (ft === 'Q3_K_M') type = ggmlType('Q4_K')
      else if (ft === 'Q4_K_M') type = ggmlType('Q5_K')
      else if (ft === 'Q5_K_M') type = ggmlType('Q6_K')
    }
    return fallback(t, type)
  })
}
