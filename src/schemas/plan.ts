import type {FromSchema} from 'json-schema-to-ts'
import {nonNegativeInt} from './common.js'

/**
 * A plan: what `moerig plan` computes and what `bench --plan` / `check-plan` execute.
 * Field names are an API; add fields, never rename. Bytes are integers (1 GB = 1e9, 1 GiB = 2^30).
 *
 * `placement` is in llama.cpp's own terms so the runner can execute it one to one:
 *   -ngl placement.nGpuLayers, -ot pattern=device for each tensorOverrides entry (in order; the
 *   first matching pattern wins, as in llama.cpp), --n-cpu-moe placement.nCpuMoe, -ts tensorSplit,
 *   -sm splitMode, -mg mainGpu. Device names are "CPU" or "GPU<i>" (i = index into the plan's GPU
 *   devices, which the runner maps to backend devices: Vulkan0, SYCL0, CUDA0 …).
 */

const bytes = nonNegativeInt
const speedRange = {
  type: 'object',
  additionalProperties: false,
  required: ['low', 'mid', 'high'],
  properties: {
    low: {type: 'number', minimum: 0},
    mid: {type: 'number', minimum: 0},
    high: {type: 'number', minimum: 0},
  },
} as const

export const engineValues = ['llama.cpp', 'flashmoe', 'ktransformers'] as const
export const kvTypeValues = ['f16', 'bf16', 'q8_0', 'q4_0'] as const
/**
 * mla-k-only: llama.cpp's V-less latent cache (kv_lora + rope per layer); mla-kv: the older llama.cpp
 * MLA cache with a separate V (kv_lora); mla-latent: ktransformers' latent cache (kv_lora + rope, bf16);
 * per-head: decompressed K and V per head (legacy GGUFs, FlashMoE); gqa: K and V per KV head.
 */
export const kvLayoutValues = ['mla-k-only', 'mla-kv', 'mla-latent', 'per-head', 'gqa'] as const
export const roleValues = [
  'attention',
  'shared_experts',
  'routed_experts',
  'dense_ffn',
  'embeddings',
  'output',
  'norms',
  'router',
] as const

export const deviceSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'kind',
    'name',
    'capacityBytes',
    'weightsBytes',
    'kvBytes',
    'computeBytes',
    'overheadBytes',
    'totalBytes',
    'fits',
  ],
  properties: {
    /** "CPU" (all sockets' RAM of the main host), "GPU0", "GPU1" …; with RPC "RPC0:GPU0", "RPC0:CPU". */
    id: {type: 'string'},
    kind: {enum: ['cpu', 'gpu']},
    name: {type: 'string'},
    /** hardware profile id (or name) of the machine this device is in */
    host: {type: 'string'},
    /** RAM (CPU) or VRAM (GPU) usable by the model: total minus what the OS/driver keeps */
    capacityBytes: bytes,
    weightsBytes: bytes,
    kvBytes: bytes,
    computeBytes: bytes,
    /** per-device runtime overhead (driver context, host buffers) */
    overheadBytes: bytes,
    totalBytes: bytes,
    fits: {type: 'boolean'},
    /** memory bandwidth used by the speed model (GB/s) and where it came from */
    bandwidthGBs: {type: ['number', 'null'], minimum: 0},
    bandwidthSource: {type: 'string'},
    /** layers whose routed experts live on this device (GPUs; CPU holds the rest) */
    expertLayers: {type: 'array', items: {type: 'integer', minimum: 0}},
    /** layers whose non-expert tensors (attention, norms, shared expert …) live here */
    layers: {type: 'array', items: {type: 'integer', minimum: 0}},
  },
} as const

export const placementSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['nGpuLayers', 'tensorOverrides', 'nCpuMoe', 'tensorSplit', 'splitMode', 'mainGpu'],
  properties: {
    /** -ngl: repeating layers (plus output) offloaded; 0 = CPU only; n_layer + 1 = all */
    nGpuLayers: {type: 'integer', minimum: 0},
    /** -ot pattern=device, in order; patterns are llama.cpp's std::regex (ECMAScript) over tensor names */
    tensorOverrides: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['pattern', 'device'],
        properties: {pattern: {type: 'string', minLength: 1}, device: {type: 'string', pattern: '^(CPU|GPU[0-9]+)$'}},
      },
    },
    /** --n-cpu-moe N when the placement can be said that way (experts of layers < N on the CPU); tensorOverrides always spell it out too */
    nCpuMoe: {type: ['integer', 'null'], minimum: 0},
    /** -ts: proportions of layers per GPU; [] for one GPU or none */
    tensorSplit: {type: 'array', items: {type: 'number', minimum: 0}},
    /** -sm */
    splitMode: {enum: ['layer', 'row', 'none']},
    /** -mg */
    mainGpu: {type: 'integer', minimum: 0},
    /**
     * false: --no-mmap (the weights read into memory; beside a GPU, the CPU's in its pinned host
     * buffer, which op offload copies from at the link's rate); absent in plans before it = true
     */
    mmap: {type: 'boolean'},
    /**
     * false: --no-op-offload (llama-bench -nopo 1): the CPU computes the weights it holds in prefill
     * instead of a GPU copying them over PCIe each ubatch; absent in plans before it = true
     */
    opOffload: {type: 'boolean'},
    /** human summary: "attention+shared on GPU0, routed experts of layers 3–5 on GPU0, rest CPU" */
    summary: {type: 'string'},
  },
} as const

export const predictionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['decodeTps', 'prefillTps', 'assumptions'],
  properties: {
    /** tokens/s, the middle of the range */
    decodeTps: {type: 'number', minimum: 0},
    prefillTps: {type: 'number', minimum: 0},
    decodeRange: speedRange,
    prefillRange: speedRange,
    /** bytes read per decoded token on each device (device id → bytes) */
    bytesPerToken: {type: 'object', additionalProperties: bytes},
    /** decode time per token split into parts (ms) */
    decodeMs: {
      type: 'object',
      additionalProperties: false,
      properties: {
        cpu: {type: 'number'},
        gpu: {type: 'number'},
        handoff: {type: 'number'},
        total: {type: 'number'},
        /** parts of cpu: its memory terms (DRAM, last-level cache) and compute term (the CPU takes max(memory + cache, compute)) */
        cpuMemory: {type: 'number'},
        cpuCache: {type: 'number'},
        cpuCompute: {type: 'number'},
        /** MLA attention compute at depth, per-layer barriers/launches and per-token overhead */
        attention: {type: 'number'},
        sync: {type: 'number'},
      },
    },
    /** predicted time of one prefill ubatch (ms, mid) */
    prefillMsPerUbatch: {type: 'number', minimum: 0},
    /** of prefillMsPerUbatch: CPU flash attention timed by calibrate's attention kernels (ms, mid; absent when not measured) */
    prefillAttentionMs: {type: 'number', minimum: 0},
    /**
     * of decodeMs.cpuCompute (mid end), where a calibration's measured kernels made it: each kind of
     * the CPU's matrix × vector ops of one decoded token (the same weight shape in every layer merged),
     * slowest first. `count` ops a token, each over `matrices` matrices (a MUL_MAT_ID's used experts;
     * 1 otherwise) of `rows` rows of `k` weights of `type`; `cacheShare` of their bytes from the
     * last-level cache; `us` all of them (µs, the in-model scale included). bench/op-profile holds
     * them against per-node timings inside the model.
     */
    decodeCpuOps: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['type', 'k', 'rows', 'matrices', 'layout', 'count', 'cacheShare', 'us'],
        properties: {
          type: {type: 'string', minLength: 1},
          k: {type: 'integer', minimum: 1},
          rows: {type: 'integer', minimum: 1},
          matrices: {type: 'integer', minimum: 1},
          /** matrix: a 2-D MUL_MAT; experts: a routed MUL_MAT_ID; stacked: a 3-D MUL_MAT over heads (MLA's attn_k_b/attn_v_b) */
          layout: {enum: ['matrix', 'experts', 'stacked']},
          count: {type: 'integer', minimum: 1},
          cacheShare: {type: 'number', minimum: 0, maximum: 1},
          us: {type: 'number', minimum: 0},
        },
      },
    },
    /** which speed model made the numbers: a calibration in the hardware profile, or the published-class constants */
    speedModel: {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'engineBuild'],
      properties: {
        source: {enum: ['calibration', 'published-class']},
        /** kernels assumed (src/planner/speed.ts EngineBuild) */
        engineBuild: {type: 'string'},
        /** how the CPU weights sit on NUMA nodes in the speed model */
        numa: {enum: ['single', 'replicate', 'interleave', 'unaware']},
      },
    },
    assumptions: {type: 'array', items: {type: 'string'}},
  },
} as const

export const commandsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['llamaServer', 'llamaBench', 'flashMoe', 'ktransformers', 'rpc'],
  properties: {
    llamaServer: {type: 'string'},
    llamaBench: {type: 'string'},
    /** ipex-llm FlashMoE: environment lines then the command; null when the model is not DeepSeek-class */
    flashMoe: {type: ['string', 'null']},
    ktransformers: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['yaml', 'launch'],
      properties: {yaml: {type: 'string'}, launch: {type: 'string'}},
    },
    /** llama.cpp RPC when several machines are given: one rpc-server line per remote, then the main command */
    rpc: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['servers', 'main'],
      properties: {
        servers: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['host', 'command'],
            properties: {host: {type: 'string'}, command: {type: 'string'}},
          },
        },
        main: {type: 'string'},
      },
    },
  },
} as const

export const maxContextSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['byGpuCount'],
  properties: {
    /**
     * one entry per number of GPUs used (0 = CPU only): the largest context that fits with every
     * layer's attention, shared expert and KV on those GPUs and all routed experts in RAM; 0 when none
     */
    byGpuCount: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['gpus', 'maxContext'],
        properties: {
          gpus: {type: 'integer', minimum: 0},
          maxContext: {type: 'integer', minimum: 0},
          binding: {type: 'string'},
        },
      },
    },
    /** the model's trained context (n_ctx_train) */
    trained: {type: 'integer', minimum: 0},
  },
} as const

export const quantRowSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['quant', 'fileBytes', 'fits', 'maxContext', 'decodeTps', 'prefillTps'],
  properties: {
    quant: {type: 'string'},
    fileBytes: bytes,
    fits: {type: 'boolean'},
    binding: {type: ['string', 'null']},
    maxContext: maxContextSchema.properties.byGpuCount,
    decodeTps: {type: 'number', minimum: 0},
    prefillTps: {type: 'number', minimum: 0},
    decodeRange: speedRange,
  },
} as const

export const planSchema = {
  $id: 'moerig/plan',
  type: 'object',
  additionalProperties: false,
  required: [
    'schemaVersion',
    'kind',
    'model',
    'weights',
    'engine',
    'context',
    'ubatch',
    'batch',
    'kvType',
    'flashAttention',
    'threads',
    'kv',
    'devices',
    'placement',
    'maxContext',
    'fits',
    'verdict',
    'prediction',
    'commands',
  ],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'plan'},
    createdAt: {type: 'string', format: 'date-time'},
    model: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'arch', 'params', 'path', 'fileBytes', 'tensorCount'],
      properties: {
        /** catalog id ("deepseek-r1") or the GGUF's general.name / file stem */
        id: {type: 'string'},
        name: {type: 'string'},
        /** general.architecture */
        arch: {type: 'string'},
        /** total parameters (elements of all tensors) */
        params: {type: 'integer', minimum: 0},
        /** parameters touched per decoded token (k routed + shared experts + the rest) */
        activeParams: {type: 'integer', minimum: 0},
        /** GGUF first shard; null for a catalog model not on disk */
        path: {type: ['string', 'null']},
        shards: {type: 'array', items: {type: 'string'}},
        /** sum of shard sizes (GGUF) or the computed file size (catalog) */
        fileBytes: bytes,
        tensorCount: {type: 'integer', minimum: 0},
        quant: {type: 'string'},
        /** catalog models: which llama-quantize rules the per-tensor types follow ("v0.4.0", or "pre-mla" for legacy-layout files) */
        quantRules: {type: ['string', 'null']},
        source: {enum: ['gguf', 'catalog']},
        /** deepseek2 file layout: "mla" (attn_k_b/attn_v_b) or "legacy" (attn_kv_b); "gqa" for others */
        layout: {enum: ['mla', 'legacy', 'gqa']},
        nLayer: {type: 'integer', minimum: 1},
        nExpert: {type: 'integer', minimum: 0},
        nExpertUsed: {type: 'integer', minimum: 0},
        /** MoE layer indices */
        moeLayers: {type: 'array', items: {type: 'integer', minimum: 0}},
      },
    },
    weights: {
      type: 'object',
      additionalProperties: false,
      required: ['totalBytes'],
      properties: {
        totalBytes: bytes,
        /** role → bytes */
        byRole: {type: 'object', additionalProperties: bytes},
        /** ggml type name → {count, bytes} */
        byType: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['count', 'bytes'],
            properties: {count: {type: 'integer', minimum: 0}, bytes},
          },
        },
        /** bytes of one MoE layer's routed experts (all experts), per MoE layer index */
        expertLayerBytes: {type: 'object', additionalProperties: bytes},
      },
    },
    /** hardware profiles the plan was made for (ids or names), main machine first */
    hardware: {type: 'array', items: {type: 'string'}},
    engine: {enum: engineValues},
    context: {type: 'integer', minimum: 1},
    ubatch: {type: 'integer', minimum: 1},
    batch: {type: 'integer', minimum: 1},
    kvType: {enum: kvTypeValues},
    flashAttention: {type: 'boolean'},
    threads: {type: 'integer', minimum: 1},
    gpusUsed: {type: 'integer', minimum: 0},
    kv: {
      type: 'object',
      additionalProperties: false,
      required: ['layout', 'bytesPerToken', 'totalBytes'],
      properties: {
        layout: {enum: kvLayoutValues},
        /** K and V elements per layer per token */
        kElemsPerLayer: {type: 'integer', minimum: 0},
        vElemsPerLayer: {type: 'integer', minimum: 0},
        bytesPerToken: bytes,
        totalBytes: bytes,
        note: {type: 'string'},
      },
    },
    numa: {
      type: 'object',
      additionalProperties: false,
      required: ['mode', 'nodes'],
      properties: {
        /** interleave: pages spread over nodes (llama.cpp --numa distribute); replicate: a copy per node (ktransformers USE_NUMA) */
        mode: {enum: ['single', 'interleave', 'replicate']},
        nodes: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['node', 'capacityBytes', 'usedBytes', 'fits'],
            properties: {
              node: {type: 'integer', minimum: 0},
              capacityBytes: bytes,
              usedBytes: bytes,
              fits: {type: 'boolean'},
            },
          },
        },
      },
    },
    disk: {
      type: 'object',
      additionalProperties: false,
      required: ['neededBytes', 'freeBytes', 'fits'],
      properties: {
        neededBytes: bytes,
        freeBytes: {type: ['integer', 'null'], minimum: 0},
        fits: {type: ['boolean', 'null']},
      },
    },
    devices: {type: 'array', minItems: 1, items: deviceSchema},
    placement: placementSchema,
    maxContext: maxContextSchema,
    fits: {type: 'boolean'},
    verdict: {
      type: 'object',
      additionalProperties: false,
      required: ['fits', 'binding', 'headline', 'fixes'],
      properties: {
        fits: {type: 'boolean'},
        /** "RAM", "VRAM", "disk", "NUMA node" or null when it fits */
        binding: {type: ['string', 'null']},
        headline: {type: 'string'},
        /** smallest changes that make it fit (or fit better), best first */
        fixes: {type: 'array', items: {type: 'string'}},
      },
    },
    prediction: predictionSchema,
    commands: commandsSchema,
    /** with --quants: one row per quant */
    rows: {type: 'array', items: quantRowSchema},
    notes: {type: 'array', items: {type: 'string'}},
  },
} as const

export type Plan = FromSchema<typeof planSchema>
export type PlanDevice = FromSchema<typeof deviceSchema>
export type Placement = FromSchema<typeof placementSchema>
export type Prediction = FromSchema<typeof predictionSchema>
export type PlanCommands = FromSchema<typeof commandsSchema>
export type QuantRow = FromSchema<typeof quantRowSchema>
export type Engine = (typeof engineValues)[number]
export type KvType = (typeof kvTypeValues)[number]
export type KvLayout = (typeof kvLayoutValues)[number]
export type Role = (typeof roleValues)[number]
