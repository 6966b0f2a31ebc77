import type {FromSchema} from 'json-schema-to-ts'

/** `moerig engine --json`: the llama.cpp build the addon uses and the devices it sees. */
export const engineInfoSchema = {
  $id: 'moerig/engine-info',
  type: 'object',
  additionalProperties: false,
  required: [
    'release',
    'origin',
    'libDir',
    'backendsLoaded',
    'backendsFailed',
    'devices',
    'cpuVariants',
    'cpuVariant',
    'cpuVariantBest',
    'extraBufferTypes',
  ],
  properties: {
    release: {type: 'string'},
    origin: {type: 'string'},
    libDir: {type: 'string'},
    backendsLoaded: {type: 'array', items: {type: 'string'}},
    backendsFailed: {type: 'array', items: {type: 'string'}},
    devices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'backend', 'type', 'description', 'totalBytes', 'freeBytes'],
        properties: {
          name: {type: 'string'},
          backend: {type: 'string'},
          type: {type: 'string'},
          description: {type: 'string'},
          /** bytes as the backend reports them; 0 when it does not say */
          totalBytes: {type: 'number', minimum: 0},
          freeBytes: {type: 'number', minimum: 0},
        },
      },
    },
    /** every libggml-cpu-<name>.so in libDir, ggml's score for this CPU (0 = uses instructions it lacks), best first */
    cpuVariants: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'loadable', 'score'],
        properties: {name: {type: 'string'}, loadable: {type: 'boolean'}, score: {type: 'integer', minimum: 0}},
      },
    },
    /** the variant loaded for this listing (ggml's pick unless --cpu-variant) */
    cpuVariant: {type: 'string'},
    /** the variant ggml picks on this CPU */
    cpuVariantBest: {type: 'string'},
    /** the CPU backend's extra buffer types with the loaded variant ("AMX", "CPU_REPACK") */
    extraBufferTypes: {type: 'array', items: {type: 'string'}},
    /** llama.cpp's RPC backend and server as scripts/build-rpc.mjs built them (build/rpc/); null when not built */
    rpc: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['lib', 'server', 'release'],
      properties: {lib: {type: 'string'}, server: {type: 'string'}, release: {type: 'string'}},
    },
  },
} as const

export type EngineInfo = FromSchema<typeof engineInfoSchema>
