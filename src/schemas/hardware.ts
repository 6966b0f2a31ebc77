import type {FromSchema} from 'json-schema-to-ts'
import {nullableInt, nullableNumber, nullableString, provenanceMap} from './common.js'

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
        sockets: {type: 'integer', minimum: 1},
        /** Physical cores, all sockets. */
        cores: {type: 'integer', minimum: 1},
        /** Hardware threads, all sockets. */
        threads: {type: 'integer', minimum: 1},
        coresPerSocket: nullableInt,
        threadsPerCore: nullableInt,
        /** Totals over all instances (all sockets), as lscpu prints them. */
        l2Bytes: nullableInt,
        l3Bytes: nullableInt,
        baseMHz: nullableNumber,
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
              memTotalBytes: nullableInt,
              memFreeBytes: nullableInt,
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
        totalBytes: {type: 'integer', minimum: 1},
        availableBytes: nullableInt,
        /** Sum of the DIMM sizes (MemTotal is smaller: firmware and kernel reservations). */
        installedBytes: nullableInt,
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
              sizeBytes: {type: 'integer', minimum: 1},
              type: nullableString,
              speedMTs: nullableInt,
              configuredSpeedMTs: nullableInt,
              manufacturer: nullableString,
              partNumber: nullableString,
            },
          },
        },
        /** Populated memory channels, all sockets; null when DIMMs are hidden (VMs). */
        channels: nullableInt,
        channelsPerSocket: nullableInt,
        type: nullableString,
        speedMTs: nullableInt,
        /** channels × MT/s × 8 bytes; null when channels or speed are unknown. */
        theoreticalBandwidthGBs: nullableNumber,
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
          vramBytes: nullableInt,
          vramFreeBytes: nullableInt,
          /** Device memory bandwidth from the vendor's specification (GB/s). */
          memoryBandwidthGBs: nullableNumber,
          /**
           * Largest tensor the GPU backend accepts in one op (Vulkan: maxStorageBufferRange, e.g.
           * 128 MiB on llvmpipe); llama.cpp keeps a weight whose op would exceed it in RAM
           * (weight_buft_supported). Absent or null: no limit.
           */
          maxTensorBytes: nullableInt,
          pcie: {
            type: 'object',
            additionalProperties: false,
            required: ['gen', 'width', 'bandwidthGBs'],
            properties: {
              /** Current link generation (1–6) and width (lanes). */
              gen: nullableInt,
              width: nullableInt,
              /** One direction, after encoding overhead, for the current link. */
              bandwidthGBs: nullableNumber,
              maxGen: nullableInt,
              maxWidth: nullableInt,
              maxBandwidthGBs: nullableNumber,
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
        freeBytes: nullableInt,
        totalBytes: nullableInt,
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
        copyGBs: {type: 'number', minimum: 0},
        scaleGBs: {type: 'number', minimum: 0},
        addGBs: {type: 'number', minimum: 0},
        triadGBs: {type: 'number', minimum: 0},
        threads: {type: 'integer', minimum: 1},
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
              copyGBs: {type: 'number', minimum: 0},
              scaleGBs: {type: 'number', minimum: 0},
              addGBs: {type: 'number', minimum: 0},
              triadGBs: {type: 'number', minimum: 0},
            },
          },
        },
        provenance: provenanceMap,
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
