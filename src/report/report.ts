/** `moerig report`: load inputs, build, render and write the report folder. */
import type {Progress} from '../lib/progress.js'
import {buildReport} from './build.js'
import {loadInputs} from './inputs.js'
import {checkReportTarget, writeReport, type WrittenReport} from './write.js'

export interface RunReportOptions {
  output: string
  title?: string
  experts?: number
  notes?: string[]
  progress?: Progress
}

export async function runReport(paths: string[], opts: RunReportOptions): Promise<WrittenReport> {
  // a folder that may not be replaced is refused before any work
  checkReportTarget(opts.output, paths)
  opts.progress?.phase('reading inputs', paths.length)
  const inputs = await loadInputs(paths, {experts: opts.experts})
  const report = await buildReport(inputs, {title: opts.title, notes: opts.notes, progress: opts.progress})
  return writeReport(opts.output, report)
}
