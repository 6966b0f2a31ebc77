import type {FromSchema} from 'json-schema-to-ts'
import {placementRunSchema} from './bench.js'
import {commandsSchema} from './plan.js'
import {stopProperties} from './common.js'
import {rpcDeviceSchema} from './rpc.js'

/**
 * A `moerig tune` result (issue 14): what `--json` prints and what is saved under reports/tune/.
 * Every measured configuration with its pp/tg samples (t/s per repetition, llama-bench's naming),
 * the planner's prediction beside it, the search path over time, the winner and its commands.
 * Field names are an API: add fields, never rename.
 */

const tps = {type: 'number', minimum: 0} as const
const nullableTps = {type: ['number', 'null'], minimum: 0} as const
const seconds = {type: 'number', minimum: 0} as const
const count = {type: 'integer', minimum: 0} as const
const objective = {enum: ['decode', 'prefill', 'balanced']} as const

export const tuneConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['threads', 'nUbatch', 'nBatch', 'flashAttn', 'kvType', 'repack', 'cpuVariant', 'numa', 'placement'],
  properties: {
    threads: {type: 'integer', minimum: 1},
    nUbatch: {type: 'integer', minimum: 1},
    nBatch: {type: 'integer', minimum: 1},
    flashAttn: {enum: ['auto', 'on', 'off']},
    /** K and V cache type (-ctk, -ctv) */
    kvType: {type: 'string'},
    /** false = --no-repack */
    repack: {type: 'boolean'},
    /** libggml-cpu-<name>.so; null = ggml's pick */
    cpuVariant: {type: ['string', 'null']},
    numa: {enum: ['disabled', 'distribute', 'isolate']},
    /** false = --no-op-offload; absent = llama.cpp's op offload (results before it) */
    opOffload: {type: 'boolean'},
    placement: {
      type: 'object',
      additionalProperties: false,
      required: ['gpus', 'mode', 'nCpuMoe'],
      properties: {
        gpus: count,
        /** cpu = CPU only; auto = the planner's placement; the others as plan --placement */
        mode: {enum: ['cpu', 'auto', 'all-gpu', 'exps-cpu', 'n-cpu-moe']},
        nCpuMoe: {type: ['integer', 'null'], minimum: 0},
      },
    },
  },
} as const

const speedsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['decodeTps', 'prefillTps'],
  properties: {decodeTps: tps, prefillTps: tps},
} as const

const statSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['mean', 'sd', 'samples'],
  properties: {mean: tps, sd: {type: 'number', minimum: 0}, samples: {type: 'array', items: tps}},
} as const

export const tuneMeasuredSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'rank',
    'config',
    'flags',
    'tags',
    'placement',
    'predicted',
    'correctedPrediction',
    'prefill',
    'decode',
    'score',
    'reps',
    'runs',
    'seconds',
    'memory',
    'vsDefaults',
    'vsPlan',
    'errors',
  ],
  properties: {
    id: {type: 'string'},
    /** 1 = best measured score; null when nothing was measured (a failed run) */
    rank: {type: ['integer', 'null'], minimum: 1},
    config: tuneConfigSchema,
    /** the configuration as llama.cpp flags */
    flags: {type: 'string'},
    /** 'defaults' (llama.cpp's), 'plan' (the plan's pick), 'winner' */
    tags: {type: 'array', items: {type: 'string'}},
    /** the placement as run (bench's placement record; devices "CPU"/"GPU<i>") */
    placement: placementRunSchema,
    /** the planner's prediction (theoretical) */
    predicted: speedsSchema,
    /** the prediction corrected by the measurements before this one (search feedback) */
    correctedPrediction: speedsSchema,
    /** pp<nPrompt> and tg<nGen> t/s over every repetition: mean ± sample sd */
    prefill: statSchema,
    decode: statSchema,
    /** the objective's score (t/s, or the geometric mean of pp and tg for balanced) */
    score: nullableTps,
    reps: count,
    runs: count,
    seconds,
    /** measured memory per device (llama.cpp log) of its last run */
    memory: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['device', 'totalBytes'],
        properties: {device: {type: 'string'}, totalBytes: count},
      },
    },
    /** score / the defaults' score; null when either is missing */
    vsDefaults: {type: ['number', 'null']},
    vsPlan: {type: ['number', 'null']},
    errors: {type: 'array', items: {type: 'string'}},
  },
} as const

export const tunePathStepSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['atS', 'seconds', 'id', 'phase', 'reps', 'decodeTps', 'prefillTps', 'score', 'bestId', 'bestScore'],
  properties: {
    /** seconds since the search started, when this measurement started */
    atS: seconds,
    seconds,
    id: {type: 'string'},
    phase: {enum: ['seed', 'explore', 'halving', 'confirm']},
    reps: count,
    decodeTps: nullableTps,
    prefillTps: nullableTps,
    score: nullableTps,
    bestId: {type: ['string', 'null']},
    bestScore: nullableTps,
    error: {type: 'string'},
  },
} as const

export const tuneResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'schemaVersion',
    'kind',
    'partial',
    'stop',
    'objective',
    'budgetS',
    'context',
    'tests',
    'model',
    'hardware',
    'space',
    'defaultsId',
    'planId',
    'winnerId',
    'measured',
    'path',
    'ratio',
    'commands',
    'seconds',
    'measureSeconds',
    'notes',
    'provenance',
  ],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'tune'},
    /** stopped by a signal: what was measured is kept */
    ...stopProperties,
    /** done: the search ran to its end; budget: --budget was spent; signal: Ctrl-C/SIGTERM/SIGHUP */
    stop: {enum: ['done', 'budget', 'signal']},
    objective,
    budgetS: seconds,
    /** the context every configuration had to fit (and ran with) */
    context: {type: 'integer', minimum: 1},
    tests: {
      type: 'object',
      additionalProperties: false,
      required: ['nPrompt', 'nGen'],
      properties: {nPrompt: count, nGen: count},
    },
    model: {
      type: 'object',
      additionalProperties: false,
      required: ['path', 'name', 'fileBytes'],
      properties: {path: {type: 'string'}, name: {type: 'string'}, fileBytes: count},
    },
    hardware: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'name', 'logicalCpus', 'physicalCores', 'numaNodes', 'gpus'],
      properties: {
        id: {type: 'string'},
        name: {type: 'string'},
        logicalCpus: {type: 'integer', minimum: 1},
        physicalCores: {type: 'integer', minimum: 1},
        numaNodes: {type: 'integer', minimum: 1},
        /** GPUs searched over (the profile's, limited to those the engine sees) */
        gpus: {type: 'array', items: {type: 'string'}},
      },
    },
    space: {
      type: 'object',
      additionalProperties: false,
      required: [
        'threads',
        'ubatch',
        'flashAttn',
        'kvTypes',
        'repack',
        'cpuVariants',
        'numa',
        'placements',
        'candidates',
        'fitting',
        'pruned',
        'plannerCalls',
      ],
      properties: {
        threads: {type: 'array', items: {type: 'integer'}},
        ubatch: {type: 'array', items: {type: 'integer'}},
        flashAttn: {type: 'array', items: {type: 'string'}},
        kvTypes: {type: 'array', items: {type: 'string'}},
        repack: {type: 'array', items: {type: 'boolean'}},
        cpuVariants: {type: 'array', items: {type: ['string', 'null']}},
        numa: {type: 'array', items: {type: 'string'}},
        /** llama.cpp op offload values tried ([true] without a GPU); absent in results before it */
        opOffload: {type: 'array', items: {type: 'boolean'}},
        placements: {type: 'array', items: {type: 'string'}},
        /** configurations in the space, those the planner says fit, and why the others were pruned (reason → count) */
        candidates: count,
        fitting: count,
        pruned: {type: 'object', additionalProperties: count},
        plannerCalls: count,
      },
    },
    defaultsId: {type: ['string', 'null']},
    planId: {type: ['string', 'null']},
    winnerId: {type: ['string', 'null']},
    /** every measured configuration, best first */
    measured: {type: 'array', items: tuneMeasuredSchema},
    /** the search over time, one step per measurement */
    path: {type: 'array', items: tunePathStepSchema},
    /** geometric mean of measured / predicted t/s over the measured configurations */
    ratio: speedsSchema,
    /** the winner as ready command lines (null when nothing was measured) */
    commands: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['llamaServer', 'llamaBench', 'flashMoe', 'ktransformers', 'notes'],
      properties: {
        llamaServer: commandsSchema.properties.llamaServer,
        llamaBench: commandsSchema.properties.llamaBench,
        /** null also without a GPU (FlashMoE and ktransformers need one) */
        flashMoe: commandsSchema.properties.flashMoe,
        ktransformers: commandsSchema.properties.ktransformers,
        /** what the command lines cannot say (the CPU variant, -fa auto in llama-bench) */
        notes: {type: 'array', items: {type: 'string'}},
      },
    },
    seconds,
    measureSeconds: seconds,
    notes: {type: 'array', items: {type: 'string'}},
    provenance: {
      type: 'object',
      additionalProperties: false,
      required: ['moerigVersion', 'llamaRelease', 'cpu', 'cpuVariant', 'time', 'loadAverage'],
      properties: {
        moerigVersion: {type: 'string'},
        llamaRelease: {type: 'string'},
        cpu: {type: 'string'},
        /** ggml's pick on this CPU */
        cpuVariant: {type: 'string'},
        /** llama.cpp RPC devices the measurements used (--rpc), as bench's provenance lists them */
        rpc: {type: 'array', items: rpcDeviceSchema},
        time: {type: 'string', format: 'date-time'},
        /** 1/5/15-minute load average at the start and at the end */
        loadAverage: {
          type: 'object',
          additionalProperties: false,
          required: ['start', 'end'],
          properties: {start: {type: 'array', items: {type: 'number'}}, end: {type: 'array', items: {type: 'number'}}},
        },
      },
    },
    savedTo: {type: 'string'},
  },
} as const

export type TuneResult = FromSchema<typeof tuneResultSchema>
export type TuneMeasured = TuneResult['measured'][number]
export type TuneConfigJson = FromSchema<typeof tuneConfigSchema>
