/**
 * The demo's step runner: numbers the steps, skips one whose command or input is missing, reuses
 * a cached output, else runs the command and saves what it wrote; one line per step either way.
 */
import {existsSync, rmSync} from 'node:fs'
import {oneLine} from '../lib/errors.js'
import type {Progress} from '../lib/progress.js'
import {upToDate} from './cache.js'
import {failureLine, runCli, saveJson} from './child.js'

export type StepStatus = 'done' | 'cached' | 'skipped' | 'failed'

export interface StepRecord {
  step: string
  status: StepStatus
  seconds: number
  detail: string
}

/** One demo step: a moerig command and the file it leaves. */
export interface StepSpec {
  name: string
  command: string
  output: string
  /** The command line; null when the step cannot run here (no reference rig). */
  args: () => string[] | null
  /** 'stdout': the --json stdout is the output; 'file': the command writes it. */
  save: 'stdout' | 'file'
  /** With save 'file': also keep the --json stdout here. */
  stdoutTo?: string
  /** Outputs of earlier steps it reads (null: that step produced nothing). */
  needs?: (string | null)[]
  /** false: always rerun (plans take milliseconds). */
  cache?: boolean
}

/** What every step needs from the demo's options. */
export interface StepContext {
  /** Repository root (where bin/run.js lives). */
  root: string
  /** Rebuild outputs even when cached. */
  fresh: boolean
  /** Whether `moerig <id>` exists in this build. */
  hasCommand: (id: string) => boolean
  log: (line: string) => void
  progress: Progress
  /** Also log a line when a step starts (no live progress line when output is piped). */
  announce?: boolean
}

export class DemoSteps {
  private n = 0
  /** Every step's record, in order. */
  readonly records: StepRecord[] = []
  /** "skipped: …" / "failed: …" lines for the report. */
  readonly notes: string[] = []

  constructor(
    private readonly ctx: StepContext,
    private readonly total: number,
  ) {}

  /** "[n/total] name" of the next step (and count it). */
  next(name: string): string {
    this.n++
    return `[${this.n}/${this.total}] ${name}`
  }

  /** Run one step; resolves with its output path, or null when it produced none. */
  async run(st: StepSpec): Promise<string | null> {
    const head = this.next(st.name)
    const s0 = Date.now()
    const record = (status: StepStatus, detail: string) => this.record(head, st.name, status, detail, s0)
    const needs = st.needs ?? []
    if (!this.ctx.hasCommand(st.command)) return record('skipped', `moerig ${st.command} not available in this build`)
    if (needs.some((x) => x === null)) return record('skipped', 'an earlier step it needs did not produce its output')
    const outputs = st.stdoutTo ? [st.output, st.stdoutTo] : [st.output]
    if (st.cache !== false && upToDate(outputs, needs as string[], this.ctx.fresh)) {
      record('cached', `reusing ${relative(this.ctx.root, st.output)}`)
      return st.output
    }
    const args = st.args()
    if (args === null) return record('skipped', 'no dual-Xeon + 2 × A770 profile in profiles/hardware')
    for (const p of outputs) rmSync(p, {force: true})
    const failed = await this.execute(st, head, args)
    if (failed !== null) return record('failed', failed)
    record('done', '')
    return st.output
  }

  /** Run the command and keep its output; the one-line reason when that failed, else null. */
  private async execute(st: StepSpec, head: string, args: string[]): Promise<string | null> {
    const {root, progress} = this.ctx
    if (this.ctx.announce) this.ctx.log(`${head} …`)
    progress.phase(head)
    const r = await runCli(root, args, (sec) => progress.update(0, `${sec.toFixed(0)} s`))
    if (r.code !== 0) {
      rmSync(st.output, {force: true})
      return failureLine(r)
    }
    try {
      if (st.save === 'stdout') saveJson(st.output, r.stdout)
      else if (!existsSync(st.output))
        throw new Error(`moerig ${st.command} did not write ${relative(root, st.output)}`)
      if (st.stdoutTo) saveJson(st.stdoutTo, r.stdout)
    } catch (e) {
      return oneLine(e)
    }
    return null
  }

  /** Record a finished step and print its line; always null (the step's output, when it has none). */
  private record(head: string, step: string, status: StepStatus, detail: string, s0: number): null {
    const seconds = (Date.now() - s0) / 1000
    this.records.push({step, status, seconds, detail})
    this.ctx.progress.done()
    this.ctx.log(
      `${head}: ${status === 'done' ? `done in ${seconds.toFixed(1)} s` : status}${detail ? ` (${detail})` : ''}`,
    )
    if (status === 'skipped' || status === 'failed') this.notes.push(`${status}: ${step}${detail ? `: ${detail}` : ''}`)
    return null
  }
}

function relative(root: string, p: string): string {
  return p.startsWith(root + '/') ? p.slice(root.length + 1) : p
}
