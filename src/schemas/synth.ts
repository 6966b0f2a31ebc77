import type {FromSchema} from 'json-schema-to-ts'

/** Architectures, quant levels (llama_ftype names) and deepseek2 KV layouts synth writes. */
export const synthArchs = ['deepseek2', 'qwen3moe'] as const
export const synthQuants = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0', 'F16'] as const
export const kvLayouts = ['mla', 'legacy'] as const

const positive = {type: 'integer', minimum: 1} as const
const number = {type: 'number'} as const

/**
 * Hyper-parameters of a synthetic model (src/model/synth-presets.ts holds the presets; the native
 * side re-checks them: native/src/engine/synth.h `SynthSpec` says what each field means). Optional fields
 * belong to one architecture: deepseek2 (MLA ranks, head dims, dense lead, groups, routing, YaRN)
 * or qwen3moe (nHeadKv, headDim).
 */
export const synthHparamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['arch', 'nCtxTrain', 'nLayer', 'nEmbd', 'nHead', 'nFfExp', 'nExpert', 'nExpertUsed'],
  properties: {
    arch: {enum: synthArchs},
    nCtxTrain: positive,
    nLayer: positive,
    nEmbd: positive,
    nHead: positive,
    nHeadKv: positive,
    headDim: positive,
    nFf: positive,
    nFfExp: positive,
    nExpert: positive,
    nExpertUsed: positive,
    nExpertShared: positive,
    nDenseLead: {type: 'integer', minimum: 0},
    nGroup: positive,
    nGroupUsed: positive,
    qLoraRank: positive,
    kvLoraRank: positive,
    ropeDim: positive,
    nopeDim: positive,
    vHeadDim: positive,
    kvLayout: {enum: kvLayouts},
    gatingFunc: {type: 'integer'},
    expertWeightsScale: number,
    expertWeightsNorm: {type: 'boolean'},
    ropeFreqBase: number,
    rmsEps: number,
    yarnFactor: number,
    yarnOrigCtx: positive,
    yarnLogMul: number,
  },
} as const

export type SynthHparams = FromSchema<typeof synthHparamsSchema>

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
    arch: {enum: synthArchs},
    quant: {enum: synthQuants},
    /** deepseek2: "mla" (attn_k_b/attn_v_b) or "legacy" (attn_kv_b); null for qwen3moe. */
    kvLayout: {enum: [...kvLayouts, null]},
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
