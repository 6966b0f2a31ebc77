import type {FromSchema} from 'json-schema-to-ts'

/**
 * `moerig synth --json`: the file written and what is in it. `typeCounts` is read back from the
 * written header (ggml type name → tensors). `check` is present with --check: what llama.cpp made
 * of the file (loaded, one prompt decoded, logits finite). Bytes are bytes, times seconds.
 * Every tensor's type is the one llama.cpp's quantizer rules give it; the data are random valid blocks.
 */
export const synthResultSchema = {
  $id: 'moerig/synth-result',
  type: 'object',
  additionalProperties: false,
  required: [
    'path',
    'preset',
    'arch',
    'quant',
    'kvLayout',
    'fileBytes',
    'tensorCount',
    'params',
    'nVocab',
    'nLayer',
    'nExpert',
    'nExpertUsed',
    'seed',
    'typeCounts',
    'seconds',
    'mbPerSecond',
  ],
  properties: {
    path: {type: 'string'},
    preset: {type: 'string'},
    arch: {enum: ['deepseek2', 'qwen3moe']},
    quant: {enum: ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0', 'F16']},
    /** deepseek2: "mla" (attn_k_b/attn_v_b) or "legacy" (attn_kv_b); null for qwen3moe. */
    kvLayout: {enum: ['mla', 'legacy', null]},
    fileBytes: {type: 'integer', minimum: 0},
    tensorCount: {type: 'integer', minimum: 1},
    /** Elements over all tensors (llama.cpp's "model params"). */
    params: {type: 'integer', minimum: 1},
    nVocab: {type: 'integer', minimum: 1},
    nLayer: {type: 'integer', minimum: 1},
    nExpert: {type: 'integer', minimum: 1},
    nExpertUsed: {type: 'integer', minimum: 1},
    seed: {type: 'integer', minimum: 0},
    typeCounts: {type: 'object', additionalProperties: {type: 'integer', minimum: 1}},
    /** The whole write (type rules, header, data), measured. */
    seconds: {type: 'number', minimum: 0},
    /** fileBytes / seconds, in MB/s (10^6 bytes per second), measured. */
    mbPerSecond: {type: 'number', minimum: 0},
    check: {
      type: 'object',
      additionalProperties: false,
      required: ['desc', 'nTokens', 'logitsFinite', 'loadSeconds', 'decodeSeconds'],
      properties: {
        desc: {type: 'string'},
        nTokens: {type: 'integer', minimum: 1},
        logitsFinite: {type: 'boolean'},
        loadSeconds: {type: 'number', minimum: 0},
        decodeSeconds: {type: 'number', minimum: 0},
      },
    },
  },
} as const

export type SynthResult = FromSchema<typeof synthResultSchema>
