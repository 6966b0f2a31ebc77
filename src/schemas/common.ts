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
