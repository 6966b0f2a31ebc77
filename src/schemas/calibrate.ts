import type {FromSchema} from 'json-schema-to-ts'
import {hardwareProfileSchema} from './hardware.js'

/**
 * `moerig calibrate --json`: the calibration section written into the hardware profile, where it
 * was saved, and every measurement it was fitted on (t/s of the best repetition: on a shared machine
 * contention only slows; for decode also the fastest single-token step, which the fit uses).
 * Field names are an API: add fields, never rename.
 */
export const calibrationMeasurementSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['role', 'model', 'threads', 'test', 'tps', 'reps'],
  properties: {
    /** shallow / deep: the overhead pair; compute: decode and prefill throughput; dram: bandwidth; gpu */
    role: {enum: ['shallow', 'deep', 'compute', 'dram', 'gpu']},
    model: {type: 'string'},
    threads: {type: 'integer', minimum: 1},
    /** pp<N> / tg<N> */
    test: {type: 'string'},
    /** best repetition (t/s, measured) */
    tps: {type: 'number', minimum: 0},
    /** tg tests: 1 ÷ the fastest single-token decode step (t/s, measured): the decode speed the fit uses */
    tokenTps: {type: 'number', minimum: 0},
    /** repetitions over all rounds */
    reps: {type: 'integer', minimum: 0},
    /** interleaved rounds the test ran (src/runner/rounds.ts); its best is kept */
    rounds: {type: 'integer', minimum: 1},
  },
} as const

export const calibrateResultSchema = {
  $id: 'moerig/calibrate-result',
  type: 'object',
  additionalProperties: false,
  required: ['calibration', 'savedTo', 'partial', 'seconds', 'measurements'],
  properties: {
    calibration: hardwareProfileSchema.properties.calibration,
    /** the profile file written; null when not saved */
    savedTo: {type: ['string', 'null']},
    partial: {type: 'boolean'},
    /** SIGINT / SIGTERM / SIGHUP / budget */
    stoppedBy: {type: 'string'},
    seconds: {type: 'number', minimum: 0},
    measurements: {type: 'array', items: calibrationMeasurementSchema},
    /**
     * the capacity sweep's samples (src/runner/kernels.ts capacitySamples): per thread count and row
     * length, each sample's share of a cyclic read the cache served at each total — the calibration
     * keeps only their largest and smallest (decodeKernels.llc[].hits[].hit / low); these are for refitting
     */
    capacitySamples: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['threads', 'k', 'bytes', 'shares'],
        properties: {
          threads: {type: 'integer', minimum: 1},
          k: {type: 'integer', minimum: 1},
          bytes: {type: 'array', items: {type: 'number', exclusiveMinimum: 0}},
          shares: {type: 'array', items: {type: 'array', items: {type: 'number', minimum: 0, maximum: 1}}},
        },
      },
    },
  },
} as const

export type CalibrateResult = FromSchema<typeof calibrateResultSchema>
export type CalibrationMeasurement = CalibrateResult['measurements'][number]
