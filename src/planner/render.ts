/**
 * Human output of a plan: the verdict first, then memory per device, placement, context limits,
 * predicted speed with its assumptions, and the commands. Units on every number; predicted
 * numbers say so.
 */
import {safeName} from '../lib/text.js'
import {renderTable} from '../lib/table.js'
import {fmtBinary, fmtGB, fmtGiB, fmtMB, fmtMiB} from '../lib/units.js'
import type {Plan} from '../schemas/plan.js'
import {placementFlags} from './emit.js'
import {fmtParams} from './speed.js'

/** Fixed-width columns after a 9-character label gutter ("memory", "quants" on the header line). */
const LABEL = {width: 9}
const left = (width: number, gap = '') => ({width, gap})
const right = (width: number, gap = '') => ({width, right: true, gap})
function kib(b: number): string {
  return fmtBinary(b, {units: ['KiB', 'MiB'], digits: {KiB: 1, MiB: 2}})
}
function tps(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
}
/** File size in GB (GiB), or MB for the small models moerig synthesises ("0.0 GB" says nothing). */
function fileSize(b: number): string {
  return b >= 1e9 ? `${fmtGB(b)} (${fmtGiB(b)})` : `${fmtMB(b)} (${fmtMiB(b)})`
}
function ctxLabel(n: number): string {
  return n === 0 ? 'none' : String(n)
}

function verdictLines(plan: Plan): string[] {
  const v = plan.verdict
  const p = plan.prediction
  const out = [`${v.fits ? 'FITS' : 'DOES NOT FIT'}  ${v.headline.replace(/^(fits|does not fit): /, '')}`]
  if (v.fits)
    out.push(
      `      predicted decode ${tps(p.decodeTps)} tok/s (range ${tps(p.decodeRange?.low ?? 0)}–${tps(p.decodeRange?.high ?? 0)}), prefill ${tps(p.prefillTps)} tok/s (${tps(p.prefillRange?.low ?? 0)}–${tps(p.prefillRange?.high ?? 0)})`,
    )
  if (!v.fits) out.push(`      binding constraint: ${v.binding}`)
  for (const f of v.fixes) out.push(`      fix: ${f}`)
  return out
}

/** The model line (what was planned, and from what) and the engine line (context, KV, threads). */
function modelLines(plan: Plan): string[] {
  const m = plan.model
  const rules = m.quantRules === 'pre-mla' ? 'pre-MLA (early 2025)' : 'v0.4.0'
  const origin =
    m.source === 'gguf'
      ? `read from ${safeName(m.path)}`
      : `computed from the catalog with llama-quantize ${rules} rules`
  const kv = plan.kv
  return [
    `model    ${safeName(m.name ?? m.id)} · ${safeName(m.arch)}${m.layout && m.layout !== 'gqa' ? ` (${m.layout} layout)` : ''} · ${m.quant} · ${fmtParams(m.params)} params, ${fmtParams(m.activeParams ?? 0)} active · ${fileSize(m.fileBytes)} · ${m.tensorCount} tensors · ${origin}`,
    `engine   ${plan.engine} · context ${plan.context} · ubatch ${plan.ubatch} · KV ${plan.kvType} ${kv.layout} ${kib(kv.bytesPerToken)}/token (${fmtGiB(kv.totalBytes, 2)} at ${plan.context}) · flash attention ${plan.flashAttention ? 'on' : 'off'} · ${plan.threads} threads${plan.numa ? ` · NUMA ${plan.numa.mode}` : ''}`,
  ]
}

/** The memory table: one row per device, then NUMA nodes and the download when they matter. */
function memoryLines(plan: Plan): string[] {
  const rows = plan.devices.map((d) => [
    '',
    safeName(`${d.id} ${d.name}`).slice(0, 35),
    fmtGiB(d.capacityBytes),
    fmtGiB(d.weightsBytes),
    fmtGiB(d.kvBytes, 2),
    fmtGiB(d.computeBytes, 2),
    fmtGiB(d.overheadBytes, 2),
    fmtGiB(d.totalBytes),
    d.fits ? 'ok' : 'OVER',
  ])
  const out = renderTable(
    ['memory', 'device', 'capacity', 'weights', 'KV', 'compute', 'overhead', 'total', ''],
    rows,
    [LABEL, left(36), ...Array.from({length: 6}, () => right(11)), {gap: '  '}],
    {trimEnd: true},
  )
  if (plan.numa && plan.numa.mode !== 'single') {
    out.push(
      `         NUMA ${plan.numa.mode}: ${plan.numa.nodes.map((n) => `node ${n.node} ${fmtGiB(n.usedBytes)} of ${fmtGiB(n.capacityBytes)}${n.fits ? '' : ' OVER'}`).join(', ')}`,
    )
  }
  if (plan.disk && plan.disk.neededBytes > 0) {
    out.push(
      `         disk: download ${fmtGB(plan.disk.neededBytes)}, free ${plan.disk.freeBytes === null ? 'unknown' : fmtGB(plan.disk.freeBytes)}${plan.disk.fits === false ? ' OVER' : ''}`,
    )
  }
  return out
}

/** The placement in llama.cpp's flags and the largest context per GPU count. */
function placementLines(plan: Plan): string[] {
  const pl = plan.placement
  return [
    `placement ${pl.summary ?? ''}`,
    `         ${placementFlags(pl, {compact: true})}`,
    `max context (attention + KV on the GPUs, experts in RAM): ${plan.maxContext.byGpuCount.map((b) => `${b.gpus === 0 ? 'CPU only' : `${b.gpus} GPU${b.gpus > 1 ? 's' : ''}`} ${ctxLabel(b.maxContext)}${b.binding ? ` (${b.binding})` : ''}`).join(' · ')}`,
  ]
}

/** Where a decoded token's time goes, the bytes it reads, the assumptions, and the notes that matter. */
function speedLines(plan: Plan): string[] {
  const p = plan.prediction
  const out: string[] = []
  if (p.decodeMs)
    out.push(
      `speed    decode per token (mid): CPU ${p.decodeMs.cpu?.toFixed(1)} ms + GPU ${p.decodeMs.gpu?.toFixed(1)} ms + hand-offs ${p.decodeMs.handoff?.toFixed(1)} ms = ${p.decodeMs.total?.toFixed(1)} ms`,
    )
  if (p.bytesPerToken)
    out.push(
      `         bytes read per token: ${Object.entries(p.bytesPerToken)
        .map(([d, b]) => `${d} ${fmtGB(b, 2)}`)
        .join(', ')}`,
    )
  out.push('         assumptions:')
  for (const a of p.assumptions) out.push(`         - ${a}`)
  // notes that change what the plan means (remote GPUs unused, KV layout) are printed too
  for (const n of (plan.notes ?? []).slice(1)) out.push(`note     ${n}`)
  return out
}

/** --quants: one row per quant (empty when not asked). */
function quantLines(rows: NonNullable<Plan['rows']>): string[] {
  if (rows.length === 0) return []
  const gpuCounts = rows[0].maxContext.map((b) => b.gpus)
  const header = [
    'quants',
    'quant',
    'file',
    'fits',
    ...gpuCounts.map((g) => (g === 0 ? 'ctx CPU' : `ctx ${g}GPU`)),
    'decode',
    'prefill',
  ]
  const cells = rows.map((r) => [
    '',
    r.quant,
    fmtGB(r.fileBytes, 0),
    r.fits ? 'yes' : 'no',
    ...r.maxContext.map((b) => ctxLabel(b.maxContext)),
    tps(r.decodeTps),
    tps(r.prefillTps),
  ])
  const columns = [LABEL, left(10), right(10), left(5, '  '), ...gpuCounts.map(() => right(10)), right(10), right(10)]
  return ['', ...renderTable(header, cells, columns), '         (decode/prefill: predicted tok/s, mid of range)']
}

/** --emit: every ready configuration. */
function emitLines(c: Plan['commands']): string[] {
  const out = ['# llama.cpp server', c.llamaServer, '', '# llama-bench', c.llamaBench]
  if (c.rpc) {
    out.push('', '# llama.cpp RPC: on each remote machine')
    for (const s of c.rpc.servers) out.push(`# ${safeName(s.host)}`, s.command)
    out.push('# then on this machine', c.rpc.main)
  }
  if (c.flashMoe) out.push('', c.flashMoe)
  if (c.ktransformers)
    out.push(
      '',
      '# ktransformers: save as rules.yaml',
      c.ktransformers.yaml,
      '# ktransformers launch',
      c.ktransformers.launch,
    )
  return out
}

/** Without --emit: the one command that runs this plan's engine. */
function commandLines(plan: Plan): string[] {
  const c = plan.commands
  const own =
    plan.engine === 'flashmoe'
      ? c.flashMoe
      : plan.engine === 'ktransformers'
        ? c.ktransformers?.launch
        : c.rpc
          ? c.rpc.main
          : c.llamaServer
  return [
    `command  ${(own ?? c.llamaServer).split('\n').join('\n         ')}`,
    '         (--emit prints llama-bench, FlashMoE, ktransformers and RPC configs too)',
  ]
}

export function renderPlan(plan: Plan, opts: {emit?: boolean} = {}): string {
  return [
    ...verdictLines(plan),
    '',
    ...modelLines(plan),
    '',
    ...memoryLines(plan),
    '',
    ...placementLines(plan),
    '',
    ...speedLines(plan),
    ...quantLines(plan.rows ?? []),
    '',
    ...(opts.emit ? emitLines(plan.commands) : commandLines(plan)),
  ].join('\n')
}
