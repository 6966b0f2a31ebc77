import type {FromSchema} from 'json-schema-to-ts'
import {nullableInt, nullableNumber, nullableString, provenanceMap} from './common.js'
import {rpcLinkSchema} from './rpc.js'

/**
 * Plausibility bounds (ours): wide enough for any machine one can buy, narrow enough that a typo
 * (0 or 1e308) is refused with its JSON path instead of planning "triad 1e+308 GB/s".
 * Largest real values: 32 TiB RAM (8-socket servers), 288 GB VRAM (MI355X), 8 TB/s GPU memory
 * (B200), ≈ 1.2 TB/s CPU memory (2 × 12-channel DDR5-6400), PCIe 6.0 x16 ≈ 121 GB/s, NVLink-C2C 450.
 */
const MAX_RAM_BYTES = 2 ** 50 // 1 PiB
const MIN_RAM_BYTES = 64 * 2 ** 20 // 64 MiB
const MAX_VRAM_BYTES = 2 ** 44 // 16 TiB
const MIN_VRAM_BYTES = 2 ** 20 // 1 MiB: "0 bytes" is unknown, and unknown is null
const MAX_MEM_GBS = 100_000
const MAX_LINK_GBS = 1000
const MAX_DISK_BYTES = 2 ** 60
const MAX_CPUS = 65_536
const MAX_MHZ = 20_000
/** a prefill kernel's rate: GFLOP/s per type, buffer, row length and thread count (calibrate's kernel benchmark) */
const prefillPoint = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'k', 'threads', 'gflops'],
  properties: {
    type: {type: 'string', minLength: 1, maxLength: 32},
    buffer: {type: 'string', maxLength: 64},
    k: {type: 'integer', minimum: 1, maximum: 1e6},
    threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
    gflops: {type: 'number', exclusiveMinimum: 0, maximum: 1e7},
  },
} as const
/** flash attention per head geometry (K and V dims) and thread count: ns per query × key × head */
const attentionPoint = {
  type: 'object',
  additionalProperties: false,
  required: ['k', 'dv', 'threads', 'nsPerPair'],
  properties: {
    k: {type: 'integer', minimum: 1, maximum: 1e6},
    dv: {type: 'integer', minimum: 1, maximum: 1e6},
    /** decode, per-head caches: query heads per KV head (absent: latent caches, older calibrations) */
    gqa: {type: 'number', minimum: 1, maximum: 4096},
    threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
    nsPerPair: {type: 'number', exclusiveMinimum: 0, maximum: 1e9},
  },
} as const
const bytesOrNull = (max: number, min = 0) => ({type: ['integer', 'null'], minimum: min, maximum: max}) as const
const gbsOrNull = (max: number) => ({type: ['number', 'null'], exclusiveMinimum: 0, maximum: max}) as const
const gbs = {type: 'number', exclusiveMinimum: 0, maximum: MAX_MEM_GBS} as const

/**
 * Hardware profile: what `moerig probe` finds on a machine, or a hand-written reference rig.
 * The single source of truth for the shape; `HardwareProfile` is derived from it.
 * Every section has a `provenance` map (field → sysfs | dmi | cpuid | measured | spec | …);
 * reference rigs cite their public sources in `citations` (JSON path → source).
 */
export const hardwareProfileSchema = {
  $id: 'moerig/hardware-profile',
  type: 'object',
  additionalProperties: false,
  required: ['schemaVersion', 'kind', 'name', 'origin', 'cpu', 'numa', 'memory', 'gpus'],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'hardware'},
    /** Short id used on the command line (`--hardware dual-8592-2xa770`). */
    id: {type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*$'},
    name: {type: 'string', minLength: 1},
    description: {type: 'string'},
    /** probe = read off a live machine; reference = written from public specifications. */
    origin: {enum: ['probe', 'reference']},
    probedAt: {type: 'string', format: 'date-time'},
    hostname: {type: 'string'},
    virtualized: {type: ['boolean', 'null']},
    citations: {type: 'object', additionalProperties: {type: 'string'}},
    notes: {type: 'array', items: {type: 'string'}},
    cpu: {
      type: 'object',
      additionalProperties: false,
      required: ['vendor', 'model', 'sockets', 'cores', 'threads', 'flags'],
      properties: {
        vendor: {type: 'string'},
        model: {type: 'string'},
        /** e.g. "Emerald Rapids"; null when the family/model pair is not in our table. */
        microarchitecture: nullableString,
        family: nullableInt,
        modelNumber: nullableInt,
        stepping: nullableInt,
        sockets: {type: 'integer', minimum: 1, maximum: 64},
        /** Physical cores, all sockets. */
        cores: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
        /** Hardware threads, all sockets. */
        threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
        coresPerSocket: nullableInt,
        threadsPerCore: nullableInt,
        /** Totals over all instances (all sockets), as lscpu prints them. */
        l2Bytes: nullableInt,
        l3Bytes: nullableInt,
        baseMHz: {type: ['number', 'null'], minimum: 0, maximum: MAX_MHZ},
        /** ISA flags that matter for inference, as the kernel names them (avx512_vnni, amx_int8 …). */
        flags: {type: 'array', items: {type: 'string'}, uniqueItems: true},
        provenance: provenanceMap,
      },
    },
    numa: {
      type: 'object',
      additionalProperties: false,
      required: ['nodes'],
      properties: {
        nodes: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'cpus', 'memTotalBytes'],
            properties: {
              id: {type: 'integer', minimum: 0},
              cpus: {type: 'array', items: {type: 'integer', minimum: 0}},
              memTotalBytes: bytesOrNull(MAX_RAM_BYTES),
              memFreeBytes: bytesOrNull(MAX_RAM_BYTES),
              socket: nullableInt,
            },
          },
        },
        /** SLIT distances, distances[i][j] between nodes[i] and nodes[j]; null when hidden. */
        distances: {type: ['array', 'null'], items: {type: 'array', items: {type: 'integer', minimum: 0}}},
        /** Sub-NUMA clustering (SNC) / NPS>1: more nodes with CPUs than sockets. */
        subNumaClustering: {type: 'boolean'},
        provenance: provenanceMap,
      },
    },
    memory: {
      type: 'object',
      additionalProperties: false,
      required: ['totalBytes', 'dimms', 'channels', 'theoreticalBandwidthGBs'],
      properties: {
        totalBytes: {type: 'integer', minimum: MIN_RAM_BYTES, maximum: MAX_RAM_BYTES},
        availableBytes: bytesOrNull(MAX_RAM_BYTES),
        /** Sum of the DIMM sizes (MemTotal is smaller: firmware and kernel reservations). */
        installedBytes: bytesOrNull(MAX_RAM_BYTES),
        dimms: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['sizeBytes', 'type', 'speedMTs'],
            properties: {
              locator: {type: 'string'},
              bank: {type: 'string'},
              socket: nullableInt,
              sizeBytes: {type: 'integer', minimum: 1, maximum: MAX_VRAM_BYTES},
              type: nullableString,
              speedMTs: nullableInt,
              configuredSpeedMTs: nullableInt,
              manufacturer: nullableString,
              partNumber: nullableString,
            },
          },
        },
        /** Populated memory channels, all sockets; null when DIMMs are hidden (VMs). */
        channels: {type: ['integer', 'null'], minimum: 0, maximum: 4096},
        channelsPerSocket: nullableInt,
        type: nullableString,
        speedMTs: {type: ['integer', 'null'], minimum: 0, maximum: 100_000},
        /** channels × MT/s × 8 bytes; null when channels or speed are unknown. */
        theoreticalBandwidthGBs: gbsOrNull(MAX_MEM_GBS),
        hugePages: {
          type: 'object',
          additionalProperties: false,
          properties: {
            transparent: nullableString,
            defrag: nullableString,
            pageSizeBytes: nullableInt,
            total: nullableInt,
            free: nullableInt,
          },
        },
        provenance: provenanceMap,
      },
    },
    gpus: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'vendorId', 'deviceId', 'vramBytes', 'pcie', 'numaNode'],
        properties: {
          index: {type: 'integer', minimum: 0},
          name: {type: 'string'},
          vendor: {enum: ['intel', 'nvidia', 'amd', 'other']},
          /** PCI ids as 0x-prefixed 4-digit lower-case hex: "0x8086", "0x56a0". */
          vendorId: {type: 'string', pattern: '^0x[0-9a-f]{4}$'},
          deviceId: {type: 'string', pattern: '^0x[0-9a-f]{4}$'},
          pciAddress: nullableString,
          pciClass: nullableString,
          /** PCI subsystem "0xVVVV:0xDDDD" (board maker's id). */
          subsystemId: nullableString,
          /** The CPU's own graphics (Intel iGPU at 0000:00:02.0). */
          integrated: {type: 'boolean'},
          driver: nullableString,
          vramBytes: bytesOrNull(MAX_VRAM_BYTES, MIN_VRAM_BYTES),
          vramFreeBytes: bytesOrNull(MAX_VRAM_BYTES),
          /** Device memory bandwidth from the vendor's specification (GB/s). */
          memoryBandwidthGBs: gbsOrNull(MAX_MEM_GBS),
          /**
           * Largest tensor the GPU backend accepts in one op (Vulkan: maxStorageBufferRange, e.g.
           * 128 MiB on llvmpipe); llama.cpp keeps a weight whose op would exceed it in RAM
           * (weight_buft_supported). Absent or null: no limit.
           */
          maxTensorBytes: bytesOrNull(MAX_VRAM_BYTES, 1),
          pcie: {
            type: 'object',
            additionalProperties: false,
            required: ['gen', 'width', 'bandwidthGBs'],
            properties: {
              /** Current link generation (1–6) and width (lanes). */
              gen: nullableInt,
              width: nullableInt,
              /** One direction, after encoding overhead, for the current link. */
              bandwidthGBs: {type: ['number', 'null'], minimum: 0, maximum: MAX_LINK_GBS},
              maxGen: nullableInt,
              maxWidth: nullableInt,
              maxBandwidthGBs: {type: ['number', 'null'], minimum: 0, maximum: MAX_LINK_GBS},
              currentSpeed: nullableString,
              maxSpeed: nullableString,
              /** PCI address whose link this is: the first device below the root port (an Arc card's switch). */
              linkAt: nullableString,
            },
          },
          numaNode: nullableInt,
          /** CPUs local to the GPU's PCIe root (local_cpulist). */
          localCpus: {type: ['array', 'null'], items: {type: 'integer', minimum: 0}},
          provenance: provenanceMap,
        },
      },
    },
    /** Devices as llama.cpp's backends see them (Vulkan0, CUDA0 …), beside the PCI view. */
    engineDevices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'backend'],
        properties: {
          name: {type: 'string'},
          backend: {type: 'string'},
          description: {type: 'string'},
          type: {type: 'string'},
          memoryTotalBytes: nullableInt,
          memoryFreeBytes: nullableInt,
        },
      },
    },
    tools: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'path', 'version'],
        properties: {name: {type: 'string'}, path: {type: 'string'}, version: nullableString},
      },
    },
    disk: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['path', 'freeBytes', 'totalBytes'],
      properties: {
        path: {type: 'string'},
        freeBytes: bytesOrNull(MAX_DISK_BYTES),
        totalBytes: bytesOrNull(MAX_DISK_BYTES),
        /** Whether a 400 GB model (R1 Q4_K_M ≈ 404 GB) fits in the free space. */
        fits400GB: {type: ['boolean', 'null']},
      },
    },
    /** STREAM-style bandwidth measured by `probe --measure` (GB/s = 1e9 bytes/s). */
    bandwidth: {
      type: 'object',
      additionalProperties: false,
      required: ['triadGBs', 'perNode'],
      properties: {
        copyGBs: gbs,
        scaleGBs: gbs,
        addGBs: gbs,
        triadGBs: gbs,
        threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
        /** Working set of the all-nodes run: 3 arrays × arrayBytesPerThread × threads. */
        arrayBytes: {type: 'integer', minimum: 1},
        arrayBytesPerThread: {type: 'integer', minimum: 1},
        measuredAt: {type: 'string', format: 'date-time'},
        /** What ran natively, e.g. "avx512f, non-temporal stores". */
        kernels: {type: 'string'},
        /** madvise(MADV_HUGEPAGE) accepted / mbind to the thread's node accepted, for every array. */
        hugePages: {type: 'boolean'},
        numaBind: {type: 'boolean'},
        repetitions: {type: 'integer', minimum: 1},
        perNode: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['node', 'triadGBs'],
            properties: {
              node: {type: 'integer', minimum: 0},
              threads: {type: 'integer', minimum: 1},
              copyGBs: gbs,
              scaleGBs: gbs,
              addGBs: gbs,
              triadGBs: gbs,
            },
          },
        },
        provenance: provenanceMap,
      },
    },
    /**
     * What `moerig calibrate` measured on this machine with the built-in runner (issue 13 item 2).
     * Optional; when present the planner's speed model uses these instead of its published-class
     * constants (src/planner/speed.ts) and says so in the plan's assumptions. All rates are
     * effective (achieved), not peaks.
     */
    calibration: {
      type: 'object',
      additionalProperties: false,
      required: ['provenance', 'measuredAt'],
      properties: {
        provenance: {const: 'measured'},
        measuredAt: {type: 'string', format: 'date-time'},
        /** llama.cpp release the runner was built from ("b6918", "v0.4.0") */
        llamaCppRelease: nullableString,
        /** ggml CPU backend variant that ran ("sapphirerapids", "zen4", "haswell") */
        cpuVariant: nullableString,
        /** the model(s) measured, e.g. "synth dram-1g Q4_K_M" */
        models: {type: 'array', items: {type: 'string'}},
        /** effective DRAM bandwidth in decode on a DRAM-bound model, all threads (GB/s) */
        decodeBandwidthGBs: gbs,
        /** thread count the decode bandwidth was measured with */
        decodeThreads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
        /** CPU compute throughput by thread count (GFLOP/s = 1e9 FLOP/s of 2 × weights × tokens) */
        cpuThroughput: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['threads'],
            properties: {
              threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
              /** prompt processing (batched matmul) */
              prefillGflops: {type: 'number', exclusiveMinimum: 0, maximum: 1e7},
              /**
               * prefill besides the matmuls (at the measured prefill kernels), the measured attention
               * and the per-layer overhead: ns per prompt token and activation element of the CPU's
               * blocks (planner prefillRestUnits: norms, rope, MLA's query concat, the experts' sort
               * and weighting …; fitted on the calibration models)
               */
              prefillRestNs: {type: 'number', minimum: 0, maximum: 1e6},
              /**
               * superseded (calibrations before 2026-12-05): the same rest per prompt token, MoE layer
               * and routed expert, a proxy that fitted only while the last block's FFN was charged for
               * every row; plans ignore it (calibrate again for prefillRestNs)
               */
              prefillOtherNs: {type: 'number', minimum: 0, maximum: 1e6},
              /** decode (matrix-vector) when not bandwidth-bound, weights streamed from DRAM (stalls included) */
              decodeGflops: {type: 'number', exclusiveMinimum: 0, maximum: 1e7},
              /** decode on weights the last-level cache holds (cache-resident models) */
              decodeCacheGflops: {type: 'number', exclusiveMinimum: 0, maximum: 1e7},
            },
          },
        },
        /**
         * ggml's CPU matrix × vector kernels as measured (calibrate's kernel benchmark,
         * native/src/engine/kernels.h): per type, residency and thread count the time per row
         * nsPerRow + nsPerWeight × K, per op opUs; per thread count what a decoded token costs
         * besides them (per layer, per token). When present the planner's CPU decode is the sum of
         * these over the model's tensors (src/planner/speed.ts kernelDecodeSeconds).
         */
        decodeKernels: {
          type: 'object',
          additionalProperties: false,
          required: ['kernels', 'overheads'],
          properties: {
            kernels: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['type', 'residency', 'threads', 'nsPerRow', 'nsPerWeight'],
                properties: {
                  /** ggml type name as GGUF files spell it ("Q4_K", "F32") */
                  type: {type: 'string', minLength: 1, maxLength: 32},
                  /** weights held by the last-level cache, or streamed from DRAM */
                  residency: {enum: ['cache', 'dram']},
                  threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
                  nsPerRow: {type: 'number', minimum: 0, maximum: 1e9},
                  nsPerWeight: {type: 'number', minimum: 0, maximum: 1e6},
                  /** buffer type llama.cpp puts such weights in ("CPU_REPACK", "CPU") */
                  buffer: {type: 'string', maxLength: 64},
                },
              },
            },
            /** fixed cost per matrix × vector op (µs), by residency and thread count */
            ops: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['residency', 'threads', 'us'],
                properties: {
                  residency: {enum: ['cache', 'dram']},
                  threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
                  us: {type: 'number', minimum: 0, maximum: 1e7},
                },
              },
            },
            /** per thread count, bytes of weights the last-level cache holds in decode (the kernels' capacity sweep) */
            llc: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['threads', 'bytes'],
                properties: {
                  threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
                  bytes: {type: 'number', minimum: 0, maximum: 1e12},
                  /** the sweep's row length (weights); absent: 2048 (calibrations before the short-row sweep) */
                  k: {type: 'integer', minimum: 1, maximum: 1e6},
                  /**
                   * the sweep's curve: per total read once a graph (bytes, ascending), the share the
                   * cache served (non-increasing); absent in calibrations before it (then bytes ÷ reuse distance)
                   */
                  hits: {
                    type: 'array',
                    minItems: 1,
                    maxItems: 64,
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['bytes', 'hit'],
                      properties: {
                        bytes: {type: 'number', exclusiveMinimum: 0, maximum: 1e12},
                        hit: {type: 'number', minimum: 0, maximum: 1},
                        /**
                         * the smallest share any of the calibration's sweep samples measured at this
                         * total, where they differ (`hit` is their median; in calibrations before it,
                         * the largest): the low end of a decode range
                         */
                        low: {type: 'number', minimum: 0, maximum: 1},
                        /** the largest share, where it is above `hit`: the high end of a decode range */
                        high: {type: 'number', minimum: 0, maximum: 1},
                      },
                    },
                  },
                },
              },
            },
            /**
             * stacked weights (MLA's attn_k_b/attn_v_b, a 3-D MUL_MAT): per residency, thread count and
             * ggml type, their time ÷ the plain-buffer line's for as many rows (the kernels' stacked
             * cases; calibrations before the type was kept: one factor for every type)
             */
            stacked: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['residency', 'threads', 'factor'],
                properties: {
                  residency: {enum: ['cache', 'dram']},
                  type: {type: 'string', minLength: 1},
                  threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
                  factor: {type: 'number', exclusiveMinimum: 0, maximum: 100},
                },
              },
            },
            /**
             * flash attention in prefill (the kernels' attention cases): per head geometry (K and V dims)
             * and thread count, ns per query × key × head of a causal ubatch
             */
            attention: {
              type: 'array',
              items: attentionPoint,
            },
            /**
             * flash attention in decode at depth (the kernels' decode attention cases: one query over
             * thousands of cached keys, every layer's cache streamed): ns per key × head
             */
            decodeAttention: {
              type: 'array',
              items: attentionPoint,
            },
            /**
             * prefill kernels (a ubatch of activation columns): per type, buffer, row length and thread
             * count, GFLOP/s; the planner weighs each CPU matmul's prefill FLOPs by them
             */
            prefill: {
              type: 'array',
              items: prefillPoint,
            },
            /**
             * routed-expert prefill kernels (MUL_MAT_ID over a stack of experts, a ubatch of columns each
             * routed to a few): per type, buffer, row length and thread count, GFLOP/s; the planner times
             * each CPU expert matrix's prefill FLOPs by them
             */
            prefillExperts: {
              type: 'array',
              items: prefillPoint,
            },
            /** per thread count: the kernels' in-model scale, and what a decoded token costs besides them: per layer (µs) and per token (µs) */
            overheads: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['threads', 'layerUs', 'tokenUs'],
                properties: {
                  threads: {type: 'integer', minimum: 1, maximum: MAX_CPUS},
                  /** the kernels' time inside a model ÷ the benchmark's (fitted on the calibration models; 1 when absent) */
                  scale: {type: 'number', exclusiveMinimum: 0, maximum: 100},
                  /** the same for the kernels' cached part, from the cache-resident shallow model (absent: scale) */
                  scaleCache: {type: 'number', exclusiveMinimum: 0, maximum: 100},
                  layerUs: {type: 'number', minimum: 0, maximum: 1e7},
                  tokenUs: {type: 'number', minimum: 0, maximum: 1e8},
                },
              },
            },
          },
        },
        /** fixed cost per decoded token (ms): sampling, graph build, scheduling */
        tokenOverheadMs: {type: 'number', minimum: 0, maximum: 10_000},
        /** cost per layer per token (µs): thread barriers, kernel launches */
        layerOverheadUs: {type: 'number', minimum: 0, maximum: 1_000_000},
        /** per GPU the runner saw, by its index in `gpus` */
        gpus: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['index'],
            properties: {
              index: {type: 'integer', minimum: 0},
              name: {type: 'string'},
              /** per layer per decoded token and per prefill ubatch (µs): launches, graph updates, small kernels */
              layerUs: {type: 'number', minimum: 0, maximum: 100_000},
              /** effective memory bandwidth in decode (GB/s); absent: the spec × η (only a model whose bytes dominate its token measures it) */
              bandwidthGBs: gbs,
              /** effective prefill throughput (TFLOP/s) */
              prefillTflops: {type: 'number', exclusiveMinimum: 0, maximum: 1e5},
              backend: {type: 'string'},
            },
          },
        },
        /** links to llama.cpp RPC servers measured from this machine (calibrate --rpc): the planner's network term */
        rpcLinks: {type: 'array', items: rpcLinkSchema},
        notes: {type: 'array', items: {type: 'string'}},
        /** true when calibrate stopped early (Ctrl-C, budget): only what finished is here */
        partial: {type: 'boolean'},
      },
    },
  },
} as const

export type HardwareProfile = FromSchema<typeof hardwareProfileSchema>
export type Gpu = HardwareProfile['gpus'][number]

/** `moerig profiles --json`: every profile file in the folder with its validity. */
export const profileListSchema = {
  $id: 'moerig/hardware-profile-list',
  type: 'object',
  additionalProperties: false,
  required: ['dir', 'profiles'],
  properties: {
    dir: {type: 'string'},
    profiles: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['file', 'id', 'name', 'valid', 'error', 'gpus'],
        properties: {
          file: {type: 'string'},
          id: nullableString,
          name: nullableString,
          valid: {type: 'boolean'},
          /** One line: the file, the JSON path and what was expected; null when valid. */
          error: nullableString,
          cpu: nullableString,
          memoryBytes: nullableInt,
          theoreticalBandwidthGBs: nullableNumber,
          gpus: {type: 'array', items: {type: 'string'}},
        },
      },
    },
  },
} as const

export type ProfileList = FromSchema<typeof profileListSchema>

/** `moerig profiles validate FILE… --json`. */
export const profileValidationSchema = {
  $id: 'moerig/hardware-profile-validation',
  type: 'object',
  additionalProperties: false,
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['file', 'valid', 'errors'],
        properties: {
          file: {type: 'string'},
          valid: {type: 'boolean'},
          /** Every problem, one line each ("/gpus/0/vramBytes must be integer"). */
          errors: {type: 'array', items: {type: 'string'}},
        },
      },
    },
  },
} as const

export type ProfileValidation = FromSchema<typeof profileValidationSchema>
