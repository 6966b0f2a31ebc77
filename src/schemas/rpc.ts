import type {FromSchema} from 'json-schema-to-ts'

/**
 * llama.cpp RPC (issue 15): what `moerig rpc-server --json` reports when it stops, a remote
 * device as the engine and probe list it, and a measured link (`calibrate --rpc`).
 * Field names are an API: add fields, never rename.
 */

/** One device a server serves, as its banner lists it (memory as reported to clients: --mem caps it). */
export const rpcServedDeviceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'description', 'totalBytes', 'freeBytes'],
  properties: {
    /** the server's own device name: "CPU", "Vulkan0", "CUDA0" */
    name: {type: 'string'},
    description: {type: 'string'},
    totalBytes: {type: 'integer', minimum: 0},
    freeBytes: {type: 'integer', minimum: 0},
  },
} as const

export const rpcServerResultSchema = {
  $id: 'moerig/rpc-server-result',
  type: 'object',
  additionalProperties: false,
  required: ['endpoint', 'exposed', 'release', 'protocol', 'devices', 'memCapBytes', 'clients', 'seconds', 'stoppedBy'],
  properties: {
    /** host:port served */
    endpoint: {type: 'string'},
    /** bound to an address other than loopback (--expose) */
    exposed: {type: 'boolean'},
    /** llama.cpp release the server was built from */
    release: {type: 'string'},
    /** RPC protocol version the server speaks ("6.0.0") */
    protocol: {type: 'string'},
    devices: {type: 'array', items: rpcServedDeviceSchema},
    /** --mem: memory each device reports, capped; null = the device's own figures */
    memCapBytes: {type: ['integer', 'null'], minimum: 0},
    /** client connections served (moerig's own readiness check not counted) */
    clients: {type: 'integer', minimum: 0},
    seconds: {type: 'number', minimum: 0},
    /** SIGINT / SIGTERM / SIGHUP */
    stoppedBy: {type: 'string'},
  },
} as const

export type RpcServerResult = FromSchema<typeof rpcServerResultSchema>
export type RpcServedDevice = RpcServerResult['devices'][number]

/** A remote device in a run's provenance and in probe's device list. */
export const rpcDeviceSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'endpoint', 'index', 'totalBytes', 'freeBytes'],
  properties: {
    /** the engine's name for it: "RPC0", "RPC1" … (what -ot/-ts refer to) */
    name: {type: 'string'},
    /** host:port of its server */
    endpoint: {type: 'string'},
    /** its index on that server */
    index: {type: 'integer', minimum: 0},
    totalBytes: {type: 'integer', minimum: 0},
    freeBytes: {type: 'integer', minimum: 0},
  },
} as const

export type RpcDevice = FromSchema<typeof rpcDeviceSchema>

/** One server's link as measured from this machine (calibrate --rpc), loopback included. */
export const rpcLinkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoint', 'rttUs', 'uploadGBs', 'downloadGBs', 'bytes', 'reps'],
  properties: {
    endpoint: {type: 'string'},
    /** smallest request/answer round trip, median of the pings (µs, measured) */
    rttUs: {type: 'number', minimum: 0},
    /** to the server: best of reps, 1e9 bytes/s of payload (measured) */
    uploadGBs: {type: 'number', minimum: 0},
    /** from the server: best of reps (measured) */
    downloadGBs: {type: 'number', minimum: 0},
    /** payload per transfer */
    bytes: {type: 'integer', minimum: 1},
    reps: {type: 'integer', minimum: 1},
  },
} as const

export type RpcLink = FromSchema<typeof rpcLinkSchema>
