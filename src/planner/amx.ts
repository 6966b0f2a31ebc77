/**
 * What llama.cpp's AMX extra buffer type does to a weight's size on an AMX CPU (ggml picks its
 * sapphirerapids variant there, and llama.cpp's loader offers AMX every weight it can take before
 * the plain CPU buffer). Source: ggml/src/ggml-cpu/amx/amx.cpp (supports_op) and mmq.cpp
 * (ggml_backend_amx_get_alloc_size, get_row_size) of the pinned release, v0.4.0 in
 * node-llama-cpp@3.21.1. CPU_REPACK (ggml-cpu/repack.cpp) interleaves blocks without changing
 * their size, so only AMX changes the bytes a CPU weight needs.
 *
 * AMX takes a weight when: its op is a plain matmul (not the experts' MUL_MAT_ID, not the
 * embeddings' GET_ROWS) and it is 2-D (moerig's engine keeps the 3-D MLA attn_k_b/attn_v_b out
 * of AMX: native/src/engine/engine.cpp, AMX guard); its type has an AMX kernel; its rows (ne0) are a
 * multiple of the type's alignment; its output width (ne1) is a multiple of 2 × TILE_N = 32.
 */

/** ggml-cpu/amx/common.h: TILE_N 16, TILE_K 32; supports_op needs op->ne[0] % (TILE_N * 2) == 0. */
const AMX_OUTPUT_MULTIPLE = 32
/**
 * Per type: ne0 alignment supports_op asks for, and the bytes get_row_size adds per block
 * (int32 compensation for Q8_0; 4 bytes of unpacked scales for Q4_K/Q5_K; 2 for IQ4_XS).
 */
const AMX_TYPES: Record<string, {align: number; extraPerBlock: number}> = {
  Q4_0: {align: 32, extraPerBlock: 0},
  Q4_1: {align: 32, extraPerBlock: 0},
  Q8_0: {align: 32, extraPerBlock: 4},
  Q4_K: {align: 256, extraPerBlock: 4},
  Q5_K: {align: 256, extraPerBlock: 4},
  Q6_K: {align: 256, extraPerBlock: 0},
  IQ4_XS: {align: 256, extraPerBlock: 2},
  F16: {align: 16, extraPerBlock: 0},
}
/** Elements per block of the AMX types (ggml's QK4_0/QK8_0 = 32, QK_K = 256; F16 is unpacked). */
const BLOCK_ELEMS: Record<string, number> = {
  Q4_0: 32,
  Q4_1: 32,
  Q8_0: 32,
  Q4_K: 256,
  Q5_K: 256,
  Q6_K: 256,
  IQ4_XS: 256,
  F16: 1,
}

export interface AmxTensor {
  shape: number[]
  typeName: string
  bytes: number
  elements: number
  role: string
}

/** Does the AMX buffer type take this weight (when it lives in CPU memory)? */
export function amxTakes(t: AmxTensor): boolean {
  const ty = AMX_TYPES[t.typeName.toUpperCase()]
  if (!ty || t.shape.length !== 2) return false
  if (t.role === 'routed_experts' || t.role === 'embeddings' || t.role === 'norms') return false
  const [ne0, ne1] = t.shape
  return ne0 % ty.align === 0 && ne1 % AMX_OUTPUT_MULTIPLE === 0
}

/** Bytes of a weight once AMX has packed it (types without an AMX kernel keep their size). */
export function amxPackedBytes(typeName: string, bytes: number, elements: number): number {
  const name = typeName.toUpperCase()
  const ty = AMX_TYPES[name]
  return ty ? bytes + (elements / BLOCK_ELEMS[name]) * ty.extraPerBlock : bytes
}

/** Bytes the weight needs on an AMX CPU: packed size where AMX takes it, else its own bytes. */
export function amxBytes(t: AmxTensor): number {
  return amxTakes(t) ? amxPackedBytes(t.typeName, t.bytes, t.elements) : t.bytes
}
