/**
 * ggml tensor types as llama.cpp v0.4.0 (the pinned release) defines them.
 *
 * Sources: `ggml/include/ggml.h` enum ggml_type (ids; GGML_TYPE_COUNT = 43), `ggml/src/ggml-common.h`
 * block_* structs + static_asserts (QK_K = 256, K_SCALE_SIZE = 12), `ggml/src/ggml.c` type_traits[]
 * (blck_size, type_size). Ids 4, 5 (Q4_2, Q4_3), 31–33 (Q4_0_x_x) and 36–38 (IQ4_NL_x_x) were removed
 * from GGUF files and are rejected like llama.cpp's gguf.cpp rejects them (type_size 0).
 *
 * Row bytes = ne0 / blockSize × bytesPerBlock; ne0 must be a multiple of blockSize.
 */

export interface GgmlType {
  /** enum ggml_type value */
  id: number
  /** ggml_type_name(), upper-case as in our tables ("Q4_K") */
  name: string
  /** elements per block (blck_size) */
  blockSize: number
  /** bytes per block (type_size) */
  bytesPerBlock: number
}

//                               name       id  block  bytes
const TABLE: Array<[string, number, number, number]> = [
  ['F32', 0, 1, 4],
  ['F16', 1, 1, 2],
  ['Q4_0', 2, 32, 18], //   half d; u8 qs[16]
  ['Q4_1', 3, 32, 20], //   half d, m; u8 qs[16]
  ['Q5_0', 6, 32, 22], //   half d; u8 qh[4]; u8 qs[16]
  ['Q5_1', 7, 32, 24], //   half d, m; u8 qh[4]; u8 qs[16]
  ['Q8_0', 8, 32, 34], //   half d; i8 qs[32]
  ['Q8_1', 9, 32, 36], //   half d, s; i8 qs[32]   (dot-product intermediate)
  ['Q2_K', 10, 256, 84], // u8 scales[16]; u8 qs[64]; half d, dmin
  ['Q3_K', 11, 256, 110], // u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d
  ['Q4_K', 12, 256, 144], // half d, dmin; u8 scales[12]; u8 qs[128]
  ['Q5_K', 13, 256, 176], // half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
  ['Q6_K', 14, 256, 210], // u8 ql[128]; u8 qh[64]; i8 scales[16]; half d
  ['Q8_K', 15, 256, 292], // f32 d; i8 qs[256]; i16 bsums[16]   (intermediate)
  ['IQ2_XXS', 16, 256, 66],
  ['IQ2_XS', 17, 256, 74],
  ['IQ3_XXS', 18, 256, 98],
  ['IQ1_S', 19, 256, 50],
  ['IQ4_NL', 20, 32, 18],
  ['IQ3_S', 21, 256, 110],
  ['IQ2_S', 22, 256, 82],
  ['IQ4_XS', 23, 256, 136],
  ['I8', 24, 1, 1],
  ['I16', 25, 1, 2],
  ['I32', 26, 1, 4],
  ['I64', 27, 1, 8],
  ['F64', 28, 1, 8],
  ['IQ1_M', 29, 256, 56],
  ['BF16', 30, 1, 2],
  ['TQ1_0', 34, 256, 54],
  ['TQ2_0', 35, 256, 66],
  ['MXFP4', 39, 32, 17], //  u8 e (E8M0); u8 qs[16]
  ['NVFP4', 40, 64, 36], //  u8 d[4] (UE4M3 per 16); u8 qs[32]
  ['Q1_0', 41, 128, 18], //  half d; u8 qs[16]
  ['Q2_0', 42, 64, 18], //   half d; u8 qs[16]
]

/** GGML_TYPE_COUNT in v0.4.0; ids ≥ this are unknown. */
export const GGML_TYPE_COUNT = 43

export const ggmlTypeById: ReadonlyMap<number, GgmlType> = new Map(
  TABLE.map(([name, id, blockSize, bytesPerBlock]) => [id, {id, name, blockSize, bytesPerBlock}]),
)
export const ggmlTypeByName: ReadonlyMap<string, GgmlType> = new Map([...ggmlTypeById.values()].map((t) => [t.name, t]))

export function ggmlType(name: string): GgmlType {
  const t = ggmlTypeByName.get(name.toUpperCase())
  if (!t) throw new Error(`unknown ggml type ${name}`)
  return t
}

/** Bytes of a tensor of `shape` (ggml ne order) in `type`; null when ne0 is not a multiple of the block. */
export function tensorBytes(shape: readonly number[], type: GgmlType): number | null {
  const ne0 = shape[0] ?? 1
  if (ne0 % type.blockSize !== 0) return null
  let rows = 1
  for (let i = 1; i < shape.length; i++) rows *= shape[i]
  return (ne0 / type.blockSize) * type.bytesPerBlock * rows
}

/** Bytes per element (for KV-cache types: f16 2, q8_0 34/32, q4_0 18/32). */
export function bytesPerElement(type: GgmlType): number {
  return type.bytesPerBlock / type.blockSize
}
