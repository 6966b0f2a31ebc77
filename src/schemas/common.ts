/** Building blocks shared by the schemas. */

/** Where a value came from. Anything a platform hides is null, never 0. */
export const provenanceValues = [
  'sysfs',
  'procfs',
  'dmi',
  'cpuid',
  'lscpu',
  'tool',
  'measured',
  'spec',
  'derived',
  'user',
  'unknown',
] as const
export type Provenance = (typeof provenanceValues)[number]

/** A map field-name → provenance for one section of a document. */
export const provenanceMap = {
  type: 'object',
  additionalProperties: {type: 'string', enum: provenanceValues},
} as const

/** A byte count or any other count: a non-negative integer. */
export const nonNegativeInt = {type: 'integer', minimum: 0} as const
export const nullableInt = {type: ['integer', 'null'], minimum: 0} as const
export const nullableNumber = {type: ['number', 'null'], minimum: 0} as const
export const nullableString = {type: ['string', 'null']} as const

/** One buffer-size line of llama.cpp's log, as bench and check-plan results record it. */
export const bufferLineSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['buffer', 'kind', 'device', 'bytes'],
  properties: {
    buffer: {type: 'string'},
    kind: {enum: ['weights', 'kv', 'compute']},
    device: {type: 'string'},
    bytes: {type: 'integer', minimum: 0},
  },
} as const

/** Memory of one device by buffer kind (bytes): what a plan reserves or llama.cpp allocated. */
export const memoryKindsProperties = {
  weightsBytes: nonNegativeInt,
  kvBytes: nonNegativeInt,
  computeBytes: nonNegativeInt,
} as const
export const memoryKindsRequired = ['weightsBytes', 'kvBytes', 'computeBytes'] as const

/** How a bench or run ended: stopped early (Ctrl-C), and by which signal (absent: not stopped by a signal). */
export const stopProperties = {
  partial: {type: 'boolean'},
  stoppedBy: {enum: ['SIGINT', 'SIGTERM', 'SIGHUP']},
} as const
