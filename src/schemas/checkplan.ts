import type {FromSchema} from 'json-schema-to-ts'
import {bufferLineSchema, memoryKindsProperties, memoryKindsRequired, nonNegativeInt} from './common.js'

/**
 * A `moerig check-plan` result: a plan's memory per device beside what llama.cpp allocated when
 * the plan's placement, context, ubatch and cache types were executed (model loaded, context
 * created, nothing decoded). Field names are an API: add fields, never rename.
 *
 * errorPct = 100 × (planned − allocated) / allocated: positive = the plan over-reserves.
 * Allocations are read from llama.cpp's log, printed in MiB with two decimals, so every allocated
 * figure is known to ±resolutionBytes (5243 B); an error smaller than that resolution is 0.
 */

const bytes = nonNegativeInt
const pct = {type: 'number'} as const

const figures = {
  type: 'object',
  additionalProperties: false,
  required: memoryKindsRequired,
  properties: memoryKindsProperties,
} as const

/** a percentage per kind of memory */
const pctByKind = {
  type: 'object',
  additionalProperties: false,
  required: ['weights', 'kv', 'compute'],
  properties: {weights: pct, kv: pct, compute: pct},
} as const

export const checkDeviceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'engineDevice', 'planned', 'allocated', 'errorPct'],
  properties: {
    /** the plan's device: "CPU" (all host RAM) or "GPU<i>" */
    id: {type: 'string'},
    /** the engine device it ran on: "CPU", "Vulkan0", "CUDA0" */
    engineDevice: {type: 'string'},
    planned: figures,
    /** CPU includes the host buffers (CPU_Mapped, CPU_REPACK, Vulkan_Host, CUDA_Host) */
    allocated: figures,
    errorPct: pctByKind,
  },
} as const

export const checkPlanResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'schemaVersion',
    'kind',
    'plan',
    'model',
    'context',
    'ubatch',
    'kvType',
    'flashAttention',
    'placement',
    'devices',
    'buffers',
    'maxErrorPct',
    'maxErrorPctByKind',
    'resolutionBytes',
    'mmap',
    'engineDevices',
  ],
  properties: {
    schemaVersion: {const: 1},
    kind: {const: 'check-plan'},
    /** path of the plan file ("" when checked from memory: tests, bench/plan-fidelity) */
    plan: {type: 'string'},
    model: {
      type: 'object',
      additionalProperties: false,
      required: ['path', 'fileBytes', 'tensorCount', 'arch'],
      properties: {path: {type: 'string'}, fileBytes: bytes, tensorCount: bytes, arch: {type: 'string'}},
    },
    context: bytes,
    ubatch: bytes,
    kvType: {type: 'string'},
    flashAttention: {type: 'boolean'},
    /** the plan's placement.summary, or a description of it */
    placement: {type: 'string'},
    devices: {type: 'array', items: checkDeviceSchema},
    /** every buffer-size line of the load and the context, as llama.cpp logged it */
    buffers: {type: 'array', items: bufferLineSchema},
    /** largest |errorPct| over every device and kind */
    maxErrorPct: pct,
    maxErrorPctByKind: pctByKind,
    resolutionBytes: bytes,
    /** the model was loaded with mmap: the CPU weights figure is then llama.cpp's mapped file span */
    mmap: {type: 'boolean'},
    /** the engine's devices ("CPU", "Vulkan0" …) as llama.cpp listed them */
    engineDevices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'backend', 'description', 'totalBytes'],
        properties: {
          name: {type: 'string'},
          backend: {type: 'string'},
          description: {type: 'string'},
          totalBytes: bytes,
        },
      },
    },
  },
} as const

export type CheckPlanResult = FromSchema<typeof checkPlanResultSchema>
export type CheckDevice = FromSchema<typeof checkDeviceSchema>
