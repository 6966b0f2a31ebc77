/**
 * Report folder writer: `index.html` (self-contained: inline CSS, charts as data: URIs, no external
 * reference of any kind), `report.md` beside it (charts by relative path) and `charts/*.png`.
 *
 * The folder is built under a temporary name next to the target and renamed into place, so a
 * failed render never leaves a half report where a good one was. It replaces only a folder that
 * holds a moerig report (`.moerig-report` lists its files) and nothing else: never a user's folder,
 * a file, or the report's own inputs.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import {basename, dirname, isAbsolute, join, relative, resolve} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {ensureDir, fileError, parseJsonText, removeTemp, tempPathFor, trackTemp, untrackTemp} from '../lib/fs.js'
import {escapeHtml, escapeMd, slug} from './escape.js'

export interface ReportChart {
  /** File-name stem (made safe again with slug()); unique within a report. */
  id: string
  title: string
  caption?: string
  png: Buffer
  width: number
  height: number
}

export interface ReportTable {
  caption?: string
  headers: string[]
  rows: string[][]
}

export interface ReportSection {
  title: string
  paragraphs: string[]
  tables: ReportTable[]
  charts: ReportChart[]
}

export interface ReportInputRef {
  path: string
  kind: string
  label: string
}

export interface Report {
  title: string
  generatedAt: string
  inputs: ReportInputRef[]
  sections: ReportSection[]
  /** Lines such as "skipped: routing trace not available"; shown at the end. */
  notes: string[]
}

export interface WrittenReport {
  dir: string
  files: string[]
  charts: string[]
}

const CSS = `
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:0;background:#f6f7f9;color:#222}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:2px solid #dde;padding-bottom:4px}
.meta{color:#666;font-size:13px;margin-bottom:16px}
figure{margin:16px 0;background:#fff;border:1px solid #dde;border-radius:6px;padding:8px}
figure img{display:block;max-width:100%;height:auto}
figcaption{font-size:13px;color:#555;margin-top:6px}
table{border-collapse:collapse;margin:12px 0;background:#fff;font-size:13px}
th,td{border:1px solid #ccd;padding:4px 8px;text-align:left}th{background:#eef}
caption{caption-side:top;text-align:left;font-weight:bold;padding:4px 0}
ul.notes{color:#555;font-size:13px}
`

function chartFile(chart: ReportChart, used: Set<string>): string {
  let name = slug(chart.id, 'chart')
  for (let i = 2; used.has(name); i++) name = `${slug(chart.id, 'chart')}-${i}`
  used.add(name)
  return `charts/${name}.png`
}

export function renderHtml(report: Report): string {
  const out: string[] = []
  out.push('<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">')
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1">')
  // A CSP that forbids every fetch and script: even a missed escape could not load or run anything.
  out.push(
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">`,
  )
  out.push(`<title>${escapeHtml(report.title)}</title>`, `<style>${CSS}</style>`, '</head>', '<body>', '<main>')
  out.push(`<h1>${escapeHtml(report.title)}</h1>`)
  out.push(`<div class="meta">generated ${escapeHtml(report.generatedAt)} by moerig</div>`)
  if (report.inputs.length > 0) {
    out.push('<table><caption>Inputs</caption><tr><th>kind</th><th>what</th><th>file</th></tr>')
    for (const i of report.inputs)
      out.push(
        `<tr><td>${escapeHtml(i.kind)}</td><td>${escapeHtml(i.label)}</td><td>${escapeHtml(basename(i.path))}</td></tr>`,
      )
    out.push('</table>')
  }
  for (const s of report.sections) {
    out.push(`<section><h2>${escapeHtml(s.title)}</h2>`)
    for (const p of s.paragraphs) out.push(`<p>${escapeHtml(p)}</p>`)
    for (const c of s.charts) {
      const src = `data:image/png;base64,${c.png.toString('base64')}`
      out.push(`<figure><img src="${src}" width="${c.width}" height="${c.height}" alt="${escapeHtml(c.title)}">`)
      if (c.caption) out.push(`<figcaption>${escapeHtml(c.caption)}</figcaption>`)
      out.push('</figure>')
    }
    for (const t of s.tables) out.push(tableHtml(t))
    out.push('</section>')
  }
  if (report.notes.length > 0) {
    out.push('<h2>Notes</h2><ul class="notes">')
    for (const n of report.notes) out.push(`<li>${escapeHtml(n)}</li>`)
    out.push('</ul>')
  }
  out.push('</main>', '</body>', '</html>', '')
  return out.join('\n')
}

function tableHtml(t: ReportTable): string {
  const head = `<tr>${t.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`
  const rows = t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n')
  return `<table>${t.caption ? `<caption>${escapeHtml(t.caption)}</caption>` : ''}\n${head}\n${rows}\n</table>`
}

export function renderMarkdown(report: Report, files: Map<ReportChart, string>): string {
  const out: string[] = [`# ${escapeMd(report.title)}`, '', `generated ${escapeMd(report.generatedAt)} by moerig`, '']
  if (report.inputs.length > 0) {
    out.push(
      ...tableMd({
        headers: ['kind', 'what', 'file'],
        rows: report.inputs.map((i) => [i.kind, i.label, basename(i.path)]),
      }),
      '',
    )
  }
  for (const s of report.sections) {
    out.push(`## ${escapeMd(s.title)}`, '')
    for (const p of s.paragraphs) out.push(escapeMd(p), '')
    for (const c of s.charts) {
      out.push(`![${escapeMd(c.title)}](${files.get(c)})`, '')
      if (c.caption) out.push(`*${escapeMd(c.caption)}*`, '')
    }
    for (const t of s.tables) out.push(...(t.caption ? [`**${escapeMd(t.caption)}**`, ''] : []), ...tableMd(t), '')
  }
  if (report.notes.length > 0) out.push('## Notes', '', ...report.notes.map((n) => `- ${escapeMd(n)}`), '')
  return out.join('\n')
}

function tableMd(t: {headers: string[]; rows: string[][]}): string[] {
  return [
    `| ${t.headers.map(escapeMd).join(' | ')} |`,
    `|${t.headers.map(() => ' --- ').join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(escapeMd).join(' | ')} |`),
  ]
}

/** Every report folder gets this file: it is how moerig knows a folder holds a report it wrote. */
export const REPORT_MARKER = '.moerig-report'
/** What the generator line of an index.html from before the marker looks like. */
const LEGACY_SIGNATURE = ' by moerig</div>'

interface Marker {
  schemaVersion: 1
  kind: 'report'
  generatedAt: string
  /** Paths relative to the folder, '/'-separated: everything the report consists of. */
  files: string[]
}

/** Files (relative, '/'-separated) under `dir`; symlinks and special files are returned with a trailing '!'. */
function listTree(dir: string, rel = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name
    const st = lstatSync(join(dir, r))
    if (st.isDirectory()) {
      const inner = listTree(dir, r)
      out.push(...(inner.length > 0 ? inner : [`${r}/`]))
    } else out.push(st.isFile() ? r : `${r}!`)
  }
  return out
}

/** The files a moerig report in `dir` consists of, or null when `dir` holds no moerig report. */
function reportFiles(dir: string): Set<string> | null {
  const markerPath = join(dir, REPORT_MARKER)
  if (existsSync(markerPath)) {
    try {
      const m = parseJsonText(readFileSync(markerPath, 'utf8'), markerPath) as Partial<Marker>
      if (m.kind !== 'report' || !Array.isArray(m.files)) return null
      // 'charts/': the (empty) charts folder of a report without charts
      return new Set([REPORT_MARKER, 'charts/', ...m.files.filter((f) => typeof f === 'string')])
    } catch {
      return null
    }
  }
  // Reports from before the marker: index.html with moerig's generator line, report.md, charts/*.png.
  try {
    if (!readFileSync(join(dir, 'index.html'), 'utf8').includes(LEGACY_SIGNATURE)) return null
  } catch {
    return null
  }
  return new Set(
    listTree(dir).filter(
      (f) => f === 'index.html' || f === 'report.md' || f === 'charts/' || /^charts\/[^/]+\.png$/.test(f),
    ),
  )
}

/** True when `inner` is `outer` or lies inside it (real paths). */
function within(inner: string, outer: string): boolean {
  const rel = relative(outer, inner)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p)
  } catch {
    return resolve(p)
  }
}

/**
 * May the report be written to `dir`? It may when `dir` does not exist, is an empty folder, or holds
 * a moerig report and nothing else; never when it is a file, a symlink, holds one of the report's
 * inputs, or holds (or is) the current folder. Called before any work and again before the swap.
 */
export function checkReportTarget(dir: string, inputs: string[] = []): void {
  if (dir === '')
    throw new MoerigError('E_USAGE', 'report folder: the name is empty; give a new or empty folder with -o DIR')
  const target = realOrResolved(dir)
  for (const input of inputs) {
    if (existsSync(input) && within(realOrResolved(input), target)) {
      throw new MoerigError(
        'E_REPORT_FOLDER',
        `report folder ${dir} holds the input ${input}, which replacing the folder would delete; write the report to another folder`,
      )
    }
  }
  if (within(realOrResolved(process.cwd()), target)) {
    throw new MoerigError(
      'E_REPORT_FOLDER',
      `report folder ${dir} is (or holds) the current folder; give a new folder, e.g. -o ${join(dir, 'report')}`,
    )
  }
  let st
  try {
    st = lstatSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw fileError(e, dir, 'use report folder')
  }
  const why = 'moerig replaces a folder only if it holds a moerig report'
  if (st.isSymbolicLink())
    throw new MoerigError(
      'E_REPORT_FOLDER',
      `report folder ${dir} is a symbolic link; give a new or empty folder (${why})`,
    )
  if (!st.isDirectory())
    throw new MoerigError(
      'E_REPORT_FOLDER',
      `report folder ${dir} is a file, not a folder; give a new or empty folder (${why})`,
    )
  const entries = listTree(dir)
  if (entries.length === 0) return
  const own = reportFiles(dir)
  if (own === null)
    throw new MoerigError(
      'E_REPORT_FOLDER',
      `report folder ${dir} is not empty and holds no moerig report; give a new or empty folder (${why})`,
    )
  const foreign = entries.filter((f) => !own.has(f))
  if (foreign.length > 0) {
    const more = foreign.length > 1 ? ` and ${foreign.length - 1} more` : ''
    throw new MoerigError(
      'E_REPORT_FOLDER',
      `report folder ${dir} holds ${foreign[0].replace(/[/!]$/, '')}${more}, which moerig did not write; move it away or give another folder`,
    )
  }
}

/**
 * Write the report folder at `dir`: build it under a hidden temp name beside it, then swap it into
 * place. What was at `dir` must pass checkReportTarget (an old moerig report, an empty folder or
 * nothing); an old report is moved aside first and removed only once the new one is in place.
 */
export function writeReport(dir: string, report: Report): WrittenReport {
  checkReportTarget(
    dir,
    report.inputs.map((i) => i.path),
  )
  const target = resolve(dir)
  ensureDir(dirname(target))
  const tmp = tempPathFor(target)
  const old = tempPathFor(target, 'old')
  const used = new Set<string>()
  const files = new Map<ReportChart, string>()
  for (const s of report.sections) for (const c of s.charts) files.set(c, chartFile(c, used))
  trackTemp(tmp)
  try {
    // plain mkdirs (the parent exists): Node 20's recursive mkdir loops forever under /proc (lib/fs.ts)
    mkdirSync(tmp)
    mkdirSync(join(tmp, 'charts'))
    for (const [c, f] of files) writeFileSync(join(tmp, f), c.png)
    writeFileSync(join(tmp, 'report.md'), renderMarkdown(report, files))
    writeFileSync(join(tmp, 'index.html'), renderHtml(report))
    const marker: Marker = {
      schemaVersion: 1,
      kind: 'report',
      generatedAt: report.generatedAt,
      files: ['index.html', 'report.md', ...files.values()],
    }
    writeFileSync(join(tmp, REPORT_MARKER), JSON.stringify(marker, null, 2) + '\n')
    if (existsSync(target)) renameSync(target, old)
    renameSync(tmp, target)
  } catch (e) {
    removeTemp(tmp)
    if (existsSync(old) && !existsSync(target)) renameSync(old, target)
    throw fileError(e, dir, 'write report folder')
  }
  untrackTemp(tmp)
  rmSync(old, {recursive: true, force: true})
  const charts = [...files.values()].map((f) => join(target, f))
  return {dir: target, files: [join(target, 'index.html'), join(target, 'report.md'), ...charts], charts}
}
