import type {FromSchema} from 'json-schema-to-ts'

/**
 * A catalog model (profiles/models/*.json): the published hyper-parameters of a model that may not
 * be downloaded yet, with where each comes from. The planner builds the tensor list from these
 * (src/model/arch.ts) and applies llama.cpp's quantization rules (src/model/quant.ts).
 * Names follow llama.cpp's hparams (n_embd, n_ff_exp …) in camelCase.
 */
export const hparamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nLayer', 'nEmbd', 'nVocab', 'nHead', 'nHeadKv', 'contextLength'],
  properties: {
    nLayer: {type: 'integer', minimum: 1},
    nEmbd: {type: 'integer', minimum: 1},
    nVocab: {type: 'integer', minimum: 1},
    nHead: {type: 'integer', minimum: 1},
    /** HF num_key_value_heads (deepseek2: = nHead in the HF config; the MLA GGUF writes 1) */
    nHeadKv: {type: 'integer', minimum: 1},
    /** per-head dimension for GQA models (q/k/v) */
    headDim: {type: 'integer', minimum: 1},
    /** dense FFN width (intermediate_size) */
    nFf: {type: 'integer', minimum: 0},
    /** first layers with a dense FFN instead of MoE (first_k_dense_replace) */
    nLayerDenseLead: {type: 'integer', minimum: 0},
    nExpert: {type: 'integer', minimum: 0},
    nExpertUsed: {type: 'integer', minimum: 0},
    nExpertShared: {type: 'integer', minimum: 0},
    /** expert FFN width (moe_intermediate_size) */
    nFfExp: {type: 'integer', minimum: 0},
    /** router scoring (scoring_func): sigmoid routers (V3/R1/Kimi, noaux_tc) carry an exp_probs_b bias */
    expertGating: {enum: ['softmax', 'sigmoid']},
    /** MLA (deepseek2) */
    qLoraRank: {type: 'integer', minimum: 0},
    kvLoraRank: {type: 'integer', minimum: 0},
    ropeDim: {type: 'integer', minimum: 0},
    nopeDim: {type: 'integer', minimum: 0},
    vHeadDim: {type: 'integer', minimum: 0},
    /** sliding-window attention (gpt-oss): window and which layers use it ("even": layers 0, 2, 4 …) */
    slidingWindow: {type: 'integer', minimum: 0},
    swaLayers: {enum: ['even', 'none']},
    contextLength: {type: 'integer', minimum: 1},
    tiedEmbeddings: {type: 'boolean'},
    /** attention/expert biases (gpt-oss) */
    biases: {type: 'boolean'},
  },
} as const

export const modelProfileSchema = {
  $id: 'moerig/model-profile',
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'kind', 'id', 'name', 'arch', 'hparams', 'quants', 'defaultQuant', 'sources'],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'model'},
    id: {type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$'},
    name: {type: 'string'},
    description: {type: 'string'},
    /** llama.cpp general.architecture */
    arch: {enum: ['deepseek2', 'qwen3moe', 'gpt-oss']},
    /** Hugging Face repository of the original weights (ktransformers --model_path) */
    hfRepo: {type: 'string'},
    hparams: hparamsSchema,
    /** deepseek2 only: GGUF layouts in the wild; the first is the default */
    layouts: {type: 'array', items: {enum: ['mla', 'legacy']}, minItems: 1},
    /** llama-quantize ftypes this model is commonly published in */
    quants: {type: 'array', items: {type: 'string'}, minItems: 1},
    defaultQuant: {type: 'string'},
    published: {
      type: 'object',
      additionalProperties: false,
      properties: {
        /** total and active parameters as the model card states them */
        paramsTotal: {type: 'number', minimum: 0},
        paramsActive: {type: 'number', minimum: 0},
        paramsSource: {type: 'string'},
        /** published GGUF files: sizes in decimal GB as the hub shows them (sum of splits) */
        files: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['quant', 'sizeGB', 'source'],
            properties: {
              quant: {type: 'string'},
              sizeGB: {type: 'number', minimum: 0},
              splits: {type: 'integer', minimum: 1},
              layout: {enum: ['mla', 'legacy']},
              /** which llama-quantize rules made it: "pre-mla" (early 2025) or "v0.4.0" */
              rules: {enum: ['pre-mla', 'v0.4.0']},
              repo: {type: 'string'},
              source: {type: 'string'},
            },
          },
        },
      },
    },
    /** JSON path (e.g. "hparams.nExpert") → where the value comes from */
    sources: {type: 'object', additionalProperties: {type: 'string'}},
  },
} as const

export type ModelProfile = FromSchema<typeof modelProfileSchema>
export type Hparams = FromSchema<typeof hparamsSchema>

/** `moerig models --json`: the catalog with computed sizes beside the published ones. */
export const modelsListSchema = {
  $id: 'moerig/models-list',
  type: 'object',
  additionalProperties: false,
  required: ['models'],
  properties: {
    models: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'arch', 'params', 'activeParams', 'contextLength', 'defaultQuant', 'quants'],
        properties: {
          id: {type: 'string'},
          name: {type: 'string'},
          arch: {type: 'string'},
          layout: {type: ['string', 'null']},
          /** computed from the tensor list */
          params: {type: 'integer', minimum: 0},
          activeParams: {type: 'integer', minimum: 0},
          publishedParams: {type: ['number', 'null']},
          publishedActiveParams: {type: ['number', 'null']},
          contextLength: {type: 'integer', minimum: 1},
          nExpert: {type: 'integer', minimum: 0},
          nExpertUsed: {type: 'integer', minimum: 0},
          defaultQuant: {type: 'string'},
          quants: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['quant', 'layout', 'fileBytes', 'tensorCount'],
              properties: {
                quant: {type: 'string'},
                layout: {type: ['string', 'null']},
                /** computed: tensor data + estimated header */
                fileBytes: {type: 'integer', minimum: 0},
                tensorCount: {type: 'integer', minimum: 0},
                bitsPerWeight: {type: 'number', minimum: 0},
                /** a published file of this quant and layout, and how far the computed size is from it */
                publishedGB: {type: ['number', 'null']},
                deltaPercent: {type: ['number', 'null']},
                publishedSource: {type: ['string', 'null']},
              },
            },
          },
        },
      },
    },
  },
} as const

export type ModelsList = FromSchema<typeof modelsListSchema>
