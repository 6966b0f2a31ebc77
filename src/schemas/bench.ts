import type {FromSchema} from 'json-schema-to-ts'
import {bufferLineSchema, memoryKindsProperties, memoryKindsRequired, nonNegativeInt, stopProperties} from './common.js'
import {rpcDeviceSchema} from './rpc.js'

/**
 * A `moerig bench` result: what `--json` prints and what is saved under reports/runs/.
 * llama-bench's semantics and naming: pp<n> = one prompt batch of n tokens, tg<n> = n single-token
 * decode steps, t/s per repetition after a warm-up run, mean ± sample standard deviation.
 * Field names are an API: add fields, never rename.
 */

const bytes = nonNegativeInt
const count = nonNegativeInt

export const deviceMemorySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['device', ...memoryKindsRequired, 'totalBytes'],
  properties: {
    /** "CPU" (host RAM, including pinned host buffers) or an engine device: "Vulkan0", "CUDA0" */
    device: {type: 'string'},
    ...memoryKindsProperties,
    totalBytes: bytes,
  },
} as const

/** Memory llama.cpp allocated, per device and per buffer, read from its log lines. */
export const memoryReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'devices', 'buffers'],
  properties: {
    source: {const: 'llama.cpp log'},
    devices: {type: 'array', items: deviceMemorySchema},
    buffers: {type: 'array', items: bufferLineSchema},
  },
} as const

export const runModelSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['path', 'name', 'arch', 'desc', 'fileBytes', 'sizeBytes', 'nParams', 'nLayer', 'nExpert', 'nExpertUsed'],
  properties: {
    path: {type: 'string'},
    /** general.name, or the file name */
    name: {type: 'string'},
    arch: {type: 'string'},
    /** llama_model_desc, the "model" column of llama-bench */
    desc: {type: 'string'},
    fileBytes: bytes,
    /** tensor data bytes (llama_model_size), the "size" column */
    sizeBytes: bytes,
    nParams: count,
    nLayer: count,
    nExpert: count,
    nExpertUsed: count,
  },
} as const

export const placementRunSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'nGpuLayers',
    'splitMode',
    'mainGpu',
    'tensorSplit',
    'tensorOverrides',
    'nCpuMoe',
    'mmap',
    'mlock',
    'numa',
  ],
  properties: {
    nGpuLayers: {type: 'integer', minimum: -1},
    splitMode: {enum: ['none', 'layer', 'row']},
    mainGpu: count,
    tensorSplit: {type: 'array', items: {type: 'number', minimum: 0}},
    /** engine device names, as executed */
    tensorOverrides: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['pattern', 'device'],
        properties: {pattern: {type: 'string'}, device: {type: 'string'}},
      },
    },
    nCpuMoe: count,
    mmap: {type: 'boolean'},
    mlock: {type: 'boolean'},
    numa: {enum: ['disabled', 'distribute', 'isolate', 'numactl', 'mirror']},
    /** llama.cpp's use_extra_bufts as asked for (false = --no-repack); absent in results before it existed */
    repack: {type: 'boolean'},
    /**
     * llama.cpp's -dev/--device: the devices offloaded to, by engine name; [] = none (CPU only: no GPU
     * buffers and no offload of large batches); absent = every GPU the engine sees
     */
    devices: {type: 'array', items: {type: 'string', pattern: '^[A-Za-z0-9_]+$'}},
  },
} as const

/** Where a measurement was made: enough to tell two result files apart a year later. */
export const runProvenanceSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'moerigVersion',
    'llamaRelease',
    'engineOrigin',
    'backend',
    'backendLibs',
    'devices',
    'cpu',
    'threads',
    'hostname',
    'node',
    'time',
  ],
  properties: {
    moerigVersion: {type: 'string'},
    /** llama.cpp release the addon is built against ("v0.4.0") */
    llamaRelease: {type: 'string'},
    engineOrigin: {type: 'string'},
    /** llama-bench's "backend" column: "CPU", "Vulkan", "CUDA" … */
    backend: {type: 'string'},
    /** GPU backend libraries loaded (paths) */
    backendLibs: {type: 'array', items: {type: 'string'}},
    /** GPU backend libraries that did not load: "path: reason" (absent when none failed) */
    backendLibsFailed: {type: 'array', items: {type: 'string'}},
    devices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'description', 'type', 'backend', 'totalBytes'],
        properties: {
          name: {type: 'string'},
          description: {type: 'string'},
          type: {type: 'string'},
          backend: {type: 'string'},
          totalBytes: bytes,
        },
      },
    },
    /** CPU model name (os.cpus) */
    cpu: {type: 'string'},
    threads: {type: 'integer', minimum: 1},
    hostname: {type: 'string'},
    node: {type: 'string'},
    /** RFC 3339, when the run started */
    time: {type: 'string', format: 'date-time'},
    /** model load time (ms), measured */
    loadMs: {type: 'number', minimum: 0},
    /** the CPU backend library that ran: libggml-cpu-<cpuVariant>.so ("sapphirerapids", "zen4" …) */
    cpuVariant: {type: 'string'},
    /** the variant ggml picks on its own on this CPU (differs from cpuVariant under --cpu-variant) */
    cpuVariantBest: {type: 'string'},
    /** extra buffer types in use ("AMX", "CPU_REPACK"); empty with --no-repack or after the fallback */
    extraBufferTypes: {type: 'array', items: {type: 'string'}},
    /** 3-D weights the engine kept out of AMX (MLA attn_k_b / attn_v_b; see README "CPU variants") */
    amxGuardedTensors: count,
    /** the run aborted with extra buffer types on and ran again without: why (one line) */
    extraBufferFallback: {type: 'string'},
    /** llama.cpp RPC devices the run used (--rpc): engine name, server endpoint, memory the server reported */
    rpc: {type: 'array', items: rpcDeviceSchema},
  },
} as const

const planned = {
  type: 'object',
  additionalProperties: false,
  required: [...memoryKindsRequired, 'totalBytes'],
  properties: {...memoryKindsProperties, totalBytes: bytes},
} as const

const phaseComparison = {
  type: 'object',
  additionalProperties: false,
  required: ['predicted', 'low', 'high', 'measured', 'errorPct', 'inRange'],
  properties: {
    predicted: {type: 'number', minimum: 0},
    /** the plan's range (low = high = predicted for plans without one) */
    low: {type: 'number', minimum: 0},
    high: {type: 'number', minimum: 0},
    measured: {type: ['number', 'null'], minimum: 0},
    errorPct: {type: ['number', 'null']},
    inRange: {type: ['boolean', 'null']},
    /** the bench test measured against the prediction ("tg128 @ d2048"); absent when none ran */
    test: {type: 'string'},
  },
} as const

/** `bench --plan`: the plan's figures beside the measured ones. */
export const planComparisonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['path', 'fits', 'forced', 'context', 'devices', 'predicted', 'measured'],
  properties: {
    path: {type: 'string'},
    fits: {type: 'boolean'},
    /** the plan did not fit and ran under --force */
    forced: {type: 'boolean'},
    context: {type: 'integer', minimum: 1},
    devices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'engineDevice', 'planned', 'measured'],
        properties: {
          /** the plan's device id: "CPU", "GPU0" */
          id: {type: 'string'},
          /** the engine device it ran on: "CPU", "Vulkan0" */
          engineDevice: {type: 'string'},
          planned,
          measured: {anyOf: [planned, {type: 'null'}]},
        },
      },
    },
    /** prediction.decodeTps / prefillTps of the plan (tokens/s) */
    predicted: {
      type: 'object',
      additionalProperties: false,
      required: ['decodeTps', 'prefillTps'],
      properties: {decodeTps: {type: 'number', minimum: 0}, prefillTps: {type: 'number', minimum: 0}},
    },
    /** mean tg / pp t/s of this run; null when that test did not run */
    measured: {
      type: 'object',
      additionalProperties: false,
      required: ['decodeTps', 'prefillTps'],
      properties: {
        decodeTps: {type: ['number', 'null'], minimum: 0},
        prefillTps: {type: ['number', 'null'], minimum: 0},
      },
    },
    /** predicted vs measured per phase: errorPct = (predicted − measured) / measured × 100, null when not measured */
    comparison: {
      type: 'object',
      additionalProperties: false,
      required: ['decode', 'prefill'],
      properties: {decode: phaseComparison, prefill: phaseComparison},
    },
  },
} as const

export const benchResultSchema = {
  $id: 'moerig/bench-result',
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'kind', 'partial', 'model', 'config', 'results', 'memory', 'provenance'],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'bench'},
    /** partial: stopped early (Ctrl-C, SIGTERM), results hold the repetitions that finished; stoppedBy: the signal */
    ...stopProperties,
    /** --memory-only: loaded and allocated, nothing timed (results empty) */
    memoryOnly: {type: 'boolean'},
    model: runModelSchema,
    config: {
      type: 'object',
      additionalProperties: false,
      required: ['threads', 'nBatch', 'nUbatch', 'nCtx', 'typeK', 'typeV', 'flashAttn', 'reps', 'warmup', 'placement'],
      properties: {
        threads: {type: 'integer', minimum: 1},
        nBatch: {type: 'integer', minimum: 1},
        nUbatch: {type: 'integer', minimum: 1},
        /** fixed context (from a plan); null = nPrompt + nGen per test, as llama-bench */
        nCtx: {type: ['integer', 'null'], minimum: 1},
        typeK: {type: 'string'},
        typeV: {type: 'string'},
        flashAttn: {enum: ['auto', 'on', 'off']},
        /** false: --no-op-offload (llama-bench -nopo 1); absent in results before it = true */
        opOffload: {type: 'boolean'},
        reps: {type: 'integer', minimum: 1},
        warmup: {type: 'boolean'},
        placement: placementRunSchema,
      },
    },
    results: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['test', 'nPrompt', 'nGen', 'threads', 'nCtx', 'reps', 'tps', 'samples', 'samplesNs'],
        properties: {
          /** "pp512", "tg128", "tg128 @ d4096" (llama-bench's names) */
          test: {type: 'string'},
          nPrompt: count,
          nGen: count,
          /** tokens in the context before each timed repetition (-d, llama-bench's n_depth); absent in results saved before it = 0 */
          nDepth: count,
          threads: {type: 'integer', minimum: 1},
          /** context the test ran in */
          nCtx: {type: 'integer', minimum: 1},
          /** repetitions that finished: samples.length (config.reps is what was asked for) */
          reps: {type: 'integer', minimum: 1},
          /** tokens/s over the repetitions: mean and sample standard deviation */
          tps: {
            type: 'object',
            additionalProperties: false,
            required: ['mean', 'sd'],
            properties: {mean: {type: 'number', minimum: 0}, sd: {type: 'number', minimum: 0}},
          },
          /** tokens/s of each repetition */
          samples: {type: 'array', items: {type: 'number', minimum: 0}},
          /** raw nanoseconds of each repetition */
          samplesNs: {type: 'array', items: {type: 'integer', minimum: 0}},
          /**
           * tg tests: the single-token decode steps of all repetitions (ms): how many, the fastest and
           * the median. On a shared machine the fastest steps are the machine's own speed.
           */
          tokenMs: {
            type: 'object',
            additionalProperties: false,
            required: ['n', 'fastest', 'median'],
            properties: {
              n: {type: 'integer', minimum: 1},
              fastest: {type: 'number', minimum: 0},
              median: {type: 'number', minimum: 0},
            },
          },
        },
      },
    },
    memory: memoryReportSchema,
    plan: planComparisonSchema,
    /** where the result was saved (absent under --no-save) */
    savedTo: {type: 'string'},
    provenance: runProvenanceSchema,
  },
} as const

export type BenchResult = FromSchema<typeof benchResultSchema>
export type BenchRow = BenchResult['results'][number]
export type MemoryReport = FromSchema<typeof memoryReportSchema>
export type RunModel = FromSchema<typeof runModelSchema>
export type PlacementRun = FromSchema<typeof placementRunSchema>
export type RunProvenance = FromSchema<typeof runProvenanceSchema>
export type PlanComparison = FromSchema<typeof planComparisonSchema>
