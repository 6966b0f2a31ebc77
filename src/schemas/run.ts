import type {FromSchema} from 'json-schema-to-ts'
import {memoryReportSchema, placementRunSchema, runModelSchema, runProvenanceSchema} from './bench.js'
import {stopProperties} from './common.js'

/** Tokens, seconds and tokens/s of one phase (null when nothing was timed). */
const timedPhase = {
  type: 'object',
  additionalProperties: false,
  required: ['tokens', 'seconds', 'tps'],
  properties: {
    tokens: {type: 'integer', minimum: 0},
    seconds: {type: 'number', minimum: 0},
    tps: {type: ['number', 'null'], minimum: 0},
  },
} as const

/**
 * A `moerig run` result (`--json`; saved under reports/runs/ like bench results): the generated
 * text, prefill and decode speed, and where the routing trace went.
 */
export const runResultSchema = {
  $id: 'moerig/run-result',
  type: 'object',
  additionalProperties: false,
  required: [
    'schemaVersion',
    'kind',
    'partial',
    'model',
    'prompt',
    'text',
    'stopReason',
    'nPrompt',
    'nGen',
    'prefill',
    'decode',
    'placement',
    'memory',
    'trace',
    'provenance',
  ],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'run'},
    /** partial: stopped early (Ctrl-C); stoppedBy: the signal (absent: not stopped by a signal) */
    ...stopProperties,
    model: runModelSchema,
    prompt: {type: 'string'},
    text: {type: 'string'},
    /** length: -n reached; eog: the model ended; stopped: Ctrl-C; context: context full */
    stopReason: {enum: ['length', 'eog', 'stopped', 'context']},
    nPrompt: {type: 'integer', minimum: 0},
    nGen: {type: 'integer', minimum: 0},
    /** the prompt as one batch: tokens, seconds, tokens/s (null when nothing was timed) */
    prefill: timedPhase,
    /** single-token decode steps (sampling excluded, as llama-bench's tg) */
    decode: timedPhase,
    sampling: {
      type: 'object',
      additionalProperties: false,
      required: ['temperature', 'seed'],
      properties: {temperature: {type: 'number', minimum: 0}, seed: {type: 'integer', minimum: 0}},
    },
    threads: {type: 'integer', minimum: 1},
    nCtx: {type: 'integer', minimum: 1},
    /** llama.cpp context settings as run (-b, -ub, -ctk, -ctv, -fa); absent in results before they were flags */
    context: {
      type: 'object',
      additionalProperties: false,
      required: ['nBatch', 'nUbatch', 'typeK', 'typeV', 'flashAttn'],
      properties: {
        nBatch: {type: 'integer', minimum: 1},
        nUbatch: {type: 'integer', minimum: 1},
        typeK: {type: 'string'},
        typeV: {type: 'string'},
        flashAttn: {enum: ['auto', 'on', 'off']},
        /** false: --no-op-offload; absent in results before it = true */
        opOffload: {type: 'boolean'},
      },
    },
    placement: placementRunSchema,
    memory: memoryReportSchema,
    /** the routing trace written with --trace (null without) */
    trace: {
      anyOf: [
        {type: 'null'},
        {
          type: 'object',
          additionalProperties: false,
          required: ['path', 'nTokens', 'moeLayers', 'k', 'nExpert', 'hasWeights'],
          properties: {
            path: {type: 'string'},
            nTokens: {type: 'integer', minimum: 0},
            moeLayers: {type: 'array', items: {type: 'integer', minimum: 0}},
            k: {type: 'integer', minimum: 1},
            nExpert: {type: 'integer', minimum: 1},
            hasWeights: {type: 'boolean'},
          },
        },
      ],
    },
    savedTo: {type: 'string'},
    provenance: runProvenanceSchema,
  },
} as const

export type RunResult = FromSchema<typeof runResultSchema>
