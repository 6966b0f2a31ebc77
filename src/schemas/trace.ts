import type {FromSchema} from 'json-schema-to-ts'

/**
 * The JSON header of a routing trace (`docs/trace-format.md`): which model, which blocks are MoE
 * layers, how many experts each layer routes to and how many tokens follow. Checks the schema
 * cannot express (moeLayers ascending and < nLayer, k ≤ nExpert, expertBytes one per MoE layer)
 * live in `checkTraceHeader` (src/trace/trace.ts).
 */
export const traceHeaderSchema = {
  $id: 'moerig/trace-header',
  type: 'object',
  additionalProperties: false,
  required: ['model', 'arch', 'nLayer', 'moeLayers', 'nExpert', 'k', 'nTokens', 'hasWeights'],
  properties: {
    /** Model name (general.name of the GGUF, or the file name). */
    model: {type: 'string'},
    /** general.architecture: "deepseek2", "qwen3moe" …; "unknown" for imported CSV. */
    arch: {type: 'string'},
    /** Blocks in the model (dense and MoE). */
    nLayer: {type: 'integer', minimum: 1},
    /** Block indices of the MoE layers, ascending; records list layers in this order. */
    moeLayers: {type: 'array', minItems: 1, items: {type: 'integer', minimum: 0}},
    /** Routed experts per MoE layer (shared experts excluded). Ids are u16, so ≤ 65536. */
    nExpert: {type: 'integer', minimum: 1, maximum: 65536},
    /** n_expert_used: experts each token picks per MoE layer. */
    k: {type: 'integer', minimum: 1},
    nTokens: {type: 'integer', minimum: 0},
    /** Whether each record carries the k f32 gate weights after the k ids. */
    hasWeights: {type: 'boolean'},
    /** Optional: bytes of one routed expert (gate + up + down) per MoE layer, moeLayers order. */
    expertBytes: {type: 'array', items: {type: 'integer', minimum: 0}},
    /** Optional: bytes of the non-routed weights read per decoded token (attention, shared experts, dense FFNs, output). */
    denseBytes: {type: 'integer', minimum: 0},
    /** Free provenance: moerig version, llama.cpp release, prompt length, sequence starts … */
    source: {type: 'object'},
  },
} as const

export type TraceHeader = FromSchema<typeof traceHeaderSchema>
