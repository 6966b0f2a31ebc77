import type {FromSchema} from 'json-schema-to-ts'

/** `moerig report --json`: the folder written, every file in it, and the chart PNGs (absolute paths). */
export const reportResultSchema = {
  $id: 'moerig/report-result',
  type: 'object',
  additionalProperties: false,
  required: ['dir', 'files', 'charts'],
  properties: {
    dir: {type: 'string'},
    /** index.html, report.md, then the charts */
    files: {type: 'array', items: {type: 'string'}},
    charts: {type: 'array', items: {type: 'string'}},
  },
} as const

/** `moerig demo --json`: each step with what happened to it, and the report's index.html. */
export const demoResultSchema = {
  $id: 'moerig/demo-result',
  type: 'object',
  additionalProperties: false,
  required: ['report', 'steps', 'seconds'],
  properties: {
    report: {type: ['string', 'null']},
    steps: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['step', 'status', 'seconds', 'detail'],
        properties: {
          step: {type: 'string'},
          status: {enum: ['done', 'cached', 'skipped', 'failed']},
          seconds: {type: 'number', minimum: 0},
          detail: {type: 'string'},
        },
      },
    },
    /** wall time of the whole demo */
    seconds: {type: 'number', minimum: 0},
  },
} as const

export type ReportResult = FromSchema<typeof reportResultSchema>
export type DemoResultJson = FromSchema<typeof demoResultSchema>
