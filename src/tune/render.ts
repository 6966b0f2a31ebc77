/**
 * `moerig tune`'s text: the ranked table of measured configurations (pp and tg t/s mean ± sd,
 * memory per device, ratios to llama.cpp's defaults and to the plan's pick), the winner's command
 * lines, and one progress line for the terminal.
 */
import {alignRight, renderTable} from '../lib/table.js'
import {fmtMiB} from '../lib/units.js'
import type {TuneResult} from '../schemas/tune.js'
import type {SearchEvent} from './search.js'

const pm = (s: {mean: number; sd: number} | null) => (s ? `${s.mean.toFixed(2)} ± ${s.sd.toFixed(2)}` : '—')
const ratio = (x: number | null) => (x === null ? '—' : `×${x.toFixed(2)}`)

/** Markdown table, best first; `limit` rows (the winner, defaults and plan rows always shown). */
export function tuneTable(r: TuneResult, limit = 15): string[] {
  const head = [
    '#',
    'config',
    `pp${r.tests.nPrompt} t/s`,
    `tg${r.tests.nGen} t/s`,
    'reps',
    'memory',
    'vs defaults',
    'vs plan',
    'tags',
  ]
  const right = [true, false, true, true, true, true, true, true, false]
  const shown = r.measured.filter((m, i) => i < limit || m.tags.length > 0)
  const rows = shown.map((m) => [
    m.rank === null ? '—' : String(m.rank),
    m.flags,
    pm(m.prefill),
    pm(m.decode),
    String(m.reps),
    m.memory.map((d) => `${d.device} ${fmtMiB(d.totalBytes)}`).join(', ') || '—',
    ratio(m.vsDefaults),
    ratio(m.vsPlan),
    [...m.tags, ...(m.errors.length ? [`failed: ${m.errors[m.errors.length - 1]}`] : [])].join(', '),
  ])
  const out = renderTable(head, rows, alignRight(right), {markdown: true})
  if (shown.length < r.measured.length)
    out.push(`(${r.measured.length - shown.length} more measured configurations in --json)`)
  return out
}

/** Summary, winner and commands, notes. */
export function tuneLines(r: TuneResult): string[] {
  const out: string[] = []
  const s = r.space
  out.push(
    `${r.model.name} on ${r.hardware.name}, objective ${r.objective}, context ${r.context}: ${s.candidates} configurations, ${s.fitting} fit (planner), ${r.measured.length} measured in ${r.measureSeconds} s of ${r.budgetS} s budget (${r.stop === 'done' ? 'search finished' : r.stop === 'budget' ? 'budget spent' : `stopped by ${r.stoppedBy ?? 'a signal'}`})`,
  )
  out.push('')
  out.push(...tuneTable(r))
  out.push('')
  const w = r.measured.find((m) => m.id === r.winnerId)
  if (w && r.commands) {
    out.push(
      `winner: ${w.flags} — pp ${pm(w.prefill)} t/s, tg ${pm(w.decode)} t/s (measured, ${w.reps} reps); ${ratio(w.vsDefaults)} llama.cpp's defaults, ${ratio(w.vsPlan)} the plan's pick (${r.objective})`,
    )
    out.push(`  ${r.commands.llamaServer}`)
    out.push(`  ${r.commands.llamaBench}`)
    if (r.commands.flashMoe) out.push('  FlashMoE:', ...r.commands.flashMoe.split('\n').map((l) => `    ${l}`))
    if (r.commands.ktransformers) out.push(`  ktransformers: ${r.commands.ktransformers.launch} (rules YAML in --json)`)
    for (const n of r.commands.notes) out.push(`  note: ${n}`)
  }
  out.push(
    `predictions: measured/predicted ${r.ratio.decodeTps.toFixed(2)} (decode), ${r.ratio.prefillTps.toFixed(2)} (prefill) on average; ${s.plannerCalls} planner calls`,
  )
  for (const n of r.notes) out.push(`note: ${n}`)
  out.push(
    `load average ${r.provenance.loadAverage.start.join(' ')} → ${r.provenance.loadAverage.end.join(' ')}; llama.cpp ${r.provenance.llamaRelease}, ${r.provenance.cpu}`,
  )
  if (r.savedTo) out.push(`saved: ${r.savedTo} (moerig report ${r.savedTo})`)
  return out
}

/** The progress line: which candidate, how many left, best so far, time left. */
export function progressLine(e: Extract<SearchEvent, {type: 'start'}>, flags: string): string {
  const best = e.bestScore === null ? 'none yet' : `${e.bestScore.toFixed(2)}`
  return `${e.phase} ${flags} (${e.reps} rep${e.reps > 1 ? 's' : ''}) · ${e.left} left · best ${best} · ${Math.round(e.timeLeftS)} s left`
}
