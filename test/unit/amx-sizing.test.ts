// The planner's model of llama.cpp's AMX buffer type (src/planner/amx.ts): which CPU weights it
// takes and how much larger they get, from ggml's amx.cpp / mmq.cpp of the pinned release.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {amxBytes, amxTakes} from '../../src/planner/amx.js'

const t = (shape: number[], typeName: string, bytesPerBlock: number, blockElems: number, role = 'attention') => {
  const elements = shape.reduce((a, b) => a * b, 1)
  return {shape, typeName, elements, bytes: (elements / blockElems) * bytesPerBlock, role}
}

test('AMX takes 2-D matmul weights of its types whose rows and outputs are aligned', () => {
  assert.equal(amxTakes(t([7168, 1536], 'Q4_K', 144, 256)), true)
  assert.equal(amxTakes(t([7168, 1536], 'q8_0', 34, 32)), true)
  assert.equal(amxTakes(t([7168, 1536], 'Q5_0', 22, 32)), false, 'no AMX kernel for Q5_0')
  assert.equal(amxTakes(t([7168, 1536], 'F32', 4, 1)), false)
  assert.equal(amxTakes(t([7168, 1000], 'Q4_K', 144, 256)), false, 'output width not a multiple of 32')
  assert.equal(amxTakes(t([7200, 1536], 'Q8_0', 34, 32)), true)
  assert.equal(amxTakes(t([7200, 1536], 'Q4_K', 144, 256)), false, 'K-quant rows need a multiple of 256')
  assert.equal(amxTakes(t([512, 128, 128], 'Q4_K', 144, 256)), false, '3-D MLA attn_v_b: the engine keeps it out')
  assert.equal(amxTakes(t([7168, 2048, 256], 'Q4_K', 144, 256, 'routed_experts')), false, 'MUL_MAT_ID')
  assert.equal(amxTakes(t([7168, 129280], 'Q4_K', 144, 256, 'embeddings')), false, 'GET_ROWS')
})

test('packed sizes: + int32 per Q8_0 block, + 4 bytes per Q4_K/Q5_K block, Q6_K and F16 unchanged', () => {
  const q8 = t([4096, 4096], 'Q8_0', 34, 32)
  assert.equal(amxBytes(q8), q8.bytes * (38 / 34))
  const q4k = t([4096, 4096], 'Q4_K', 144, 256)
  assert.equal(amxBytes(q4k), q4k.bytes * (148 / 144))
  const q6k = t([4096, 4096], 'Q6_K', 210, 256)
  assert.equal(amxBytes(q6k), q6k.bytes)
  const f16 = t([4096, 4096], 'F16', 2, 1)
  assert.equal(amxBytes(f16), f16.bytes)
  const q5 = t([4096, 4096], 'Q5_0', 22, 32)
  assert.equal(amxBytes(q5), q5.bytes)
})
