import type {FromSchema} from 'json-schema-to-ts'

const rate = {type: 'number', minimum: 0, maximum: 1} as const
const nullableRate = {type: ['number', 'null'], minimum: 0, maximum: 1} as const
const nullableNonNeg = {type: ['number', 'null'], minimum: 0} as const

/** Locality metrics, each beside its random-routing baseline: overall and per layer. */
const localityMetrics = {
  /** E|S_t ∩ S_t−1| / k. */
  reuse: rate,
  /** k / N. */
  reuseRandom: rate,
  /** P(at least one expert repeats from the previous token). */
  anyRepeat: rate,
  /** 1 − C(N−k,k)/C(N,k). */
  anyRepeatRandom: rate,
  /** Share of accesses whose expert was used in the previous w tokens; null when the trace is shorter than w. */
  windowReuse: nullableRate,
  /** 1 − (1 − k/N)^w. */
  windowReuseRandom: rate,
  top1Share: rate,
  top10Share: rate,
  top20Share: rate,
  topShareRandom: {type: 'array', items: rate},
  /** Entropy of the activation counts ÷ ln N (uniform = 1). */
  entropy: rate,
  /** Gini coefficient of the activation counts (uniform = 0). */
  gini: rate,
} as const
const LOCALITY_FIELDS = [
  'reuse',
  'reuseRandom',
  'anyRepeat',
  'anyRepeatRandom',
  'windowReuse',
  'windowReuseRandom',
  'top1Share',
  'top10Share',
  'top20Share',
  'topShareRandom',
  'entropy',
  'gini',
] as const

/**
 * `moerig reuse --json`: locality metrics per MoE layer and overall (each beside its random-routing
 * baseline), and cache-simulation rows per policy × capacity × layer ("all" = mean over layers).
 * Rates are fractions 0..1; bytes are bytes; decodeTps is the bandwidth-only estimate described
 * in `estimate` (null where a needed fact is missing, and on per-layer rows).
 */
export const reuseResultSchema = {
  $id: 'moerig/reuse-result',
  type: 'object',
  additionalProperties: false,
  required: ['trace', 'settings', 'overall', 'layers', 'cache', 'estimate', 'notes', 'timing'],
  properties: {
    trace: {
      type: 'object',
      additionalProperties: false,
      required: ['path', 'format', 'model', 'arch', 'nTokens', 'moeLayers', 'nExpert', 'k'],
      properties: {
        path: {type: 'string'},
        format: {enum: ['moetrace', 'csv']},
        model: {type: 'string'},
        arch: {type: 'string'},
        nTokens: {type: 'integer', minimum: 0},
        moeLayers: {type: 'array', items: {type: 'integer', minimum: 0}},
        nExpert: {type: 'integer', minimum: 1},
        k: {type: 'integer', minimum: 1},
      },
    },
    settings: {
      type: 'object',
      additionalProperties: false,
      required: ['fromToken', 'window', 'warmupTokens', 'policies', 'capacities', 'vramBytes', 'topFractions'],
      properties: {
        /** Tokens of the trace skipped before the analysis (--from); token counts below are after it. */
        fromToken: {type: 'integer', minimum: 0},
        /** Window w of windowReuse, tokens. */
        window: {type: 'integer', minimum: 1},
        /** Tokens the static policy learns its hot set from; it is scored on the rest. */
        warmupTokens: {type: 'integer', minimum: 0},
        policies: {type: 'array', items: {enum: ['lru', 'lfu', 'static', 'opt']}},
        capacities: {type: 'array', items: {type: 'integer', minimum: 1}},
        vramBytes: {type: 'array', items: {type: 'integer', minimum: 0}},
        /** The x of top1Share, top10Share, top20Share. */
        topFractions: {type: 'array', items: rate},
      },
    },
    overall: {
      type: 'object',
      additionalProperties: false,
      required: LOCALITY_FIELDS,
      properties: localityMetrics,
    },
    layers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['layer', ...LOCALITY_FIELDS, 'hottest'],
        properties: {
          /** Block index. */
          layer: {type: 'integer', minimum: 0},
          ...localityMetrics,
          hottest: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['expert', 'share'],
              properties: {expert: {type: 'integer', minimum: 0}, share: rate},
            },
          },
        },
      },
    },
    cache: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'policy',
          'capacity',
          'vramBytes',
          'layer',
          'hitRate',
          'hitRateAfterWarmup',
          'hitRateRandom',
          'bytesPerToken',
          'decodeTps',
        ],
        properties: {
          policy: {enum: ['lru', 'lfu', 'static', 'opt']},
          /** Experts cached per MoE layer. */
          capacity: {type: 'integer', minimum: 1},
          /** The --vram budget this capacity came from; null for --cache rows. */
          vramBytes: {type: ['integer', 'null'], minimum: 0},
          /** "all" (mean over MoE layers) or a block index. */
          layer: {oneOf: [{const: 'all'}, {type: 'integer', minimum: 0}]},
          /** Hits ÷ expert accesses, cold misses included; static: over the tokens after warm-up. */
          hitRate: rate,
          /** The same over the tokens after warm-up only, for every policy (compares like with like). */
          hitRateAfterWarmup: rate,
          /** capacity / N: any policy under uniformly random routing. */
          hitRateRandom: rate,
          /** Routed-expert bytes copied host → GPU per token (admitted misses × expert bytes: every miss for LRU/LFU, none for static); null when bytes per expert are unknown. */
          bytesPerToken: nullableNonNeg,
          /** Bandwidth-only decode estimate, tokens/s ("all" rows only). */
          decodeTps: nullableNonNeg,
        },
      },
    },
    estimate: {
      type: 'object',
      additionalProperties: false,
      required: [
        'kind',
        'expertBytes',
        'denseBytes',
        'modelSource',
        'pcieGBs',
        'gpuGBs',
        'cpuGBs',
        'bandwidthSource',
        'noCacheDecodeTps',
      ],
      properties: {
        kind: {const: 'bandwidth-only'},
        expertBytes: {type: ['array', 'null'], items: {type: 'number', minimum: 0}},
        denseBytes: nullableNonNeg,
        modelSource: {type: 'string'},
        pcieGBs: nullableNonNeg,
        gpuGBs: nullableNonNeg,
        cpuGBs: nullableNonNeg,
        bandwidthSource: {type: 'string'},
        /** All routed experts on the CPU, non-routed weights on the GPU. */
        noCacheDecodeTps: nullableNonNeg,
      },
    },
    notes: {type: 'array', items: {type: 'string'}},
    timing: {
      type: 'object',
      additionalProperties: false,
      required: ['seconds', 'accesses'],
      properties: {
        seconds: {type: 'number', minimum: 0},
        /** Expert accesses (routing events) in the trace: nTokens × MoE layers × k. */
        accesses: {type: 'integer', minimum: 0},
      },
    },
  },
} as const

export type ReuseResult = FromSchema<typeof reuseResultSchema>
