/**
 * Report inputs: recognise each file by its content (a routing trace by its magic bytes or CSV
 * header, a JSON document by its fields), validate it against its schema, and map it onto a view
 * (`views.ts`). Every failure is one line naming the file.
 */
import {closeSync, openSync, readSync} from 'node:fs'
import {basename} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {parseJsonText, readError, readTextFile} from '../lib/fs.js'
import {assertValid} from '../schemas/validate.js'
import {hardwareProfileSchema, type HardwareProfile} from '../schemas/hardware.js'
import {openTraceSource, TRACE_MAGIC, type TraceSource} from '../trace/trace.js'
import type {ReportInput} from './build.js'
import type {HardwareView, TraceView} from './views.js'
import {documentKinds} from './documents.js'

export interface InputOptions {
  /** n_expert for CSV traces (they carry no header). */
  experts?: number
}

/** What the first bytes of a file say it is. */
function sniff(path: string): 'trace' | 'csv' | 'json' | 'other' {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    throw readError(e, `input ${path}`)
  }
  const head = Buffer.alloc(64)
  let n: number
  try {
    n = readSync(fd, head, 0, head.length, 0)
  } catch (e) {
    throw readError(e, `input ${path}`)
  } finally {
    closeSync(fd)
  }
  const text = head.toString('latin1', 0, n)
  if (text.startsWith(TRACE_MAGIC)) return 'trace'
  if (/^(\uFEFF|\xEF\xBB\xBF)?"?token"?\s*,\s*"?layer"?/i.test(text)) return 'csv'
  if (/^(\xEF\xBB\xBF)?\s*[{[]/.test(text)) return 'json'
  return 'other'
}

export function hardwareView(p: HardwareProfile): HardwareView {
  return {
    kind: 'hardware',
    label: p.name,
    cpu: p.cpu.model,
    sockets: p.cpu.sockets,
    cores: p.cpu.cores,
    threads: p.cpu.threads,
    memoryBytes: p.memory.totalBytes,
    channels: p.memory.channels,
    theoreticalGBs: p.memory.theoreticalBandwidthGBs,
    measuredGBs: p.bandwidth?.triadGBs ?? null,
    gpus: p.gpus.map((g) => ({name: g.name, vramBytes: g.vramBytes})),
  }
}

/** Count activations per (MoE layer, expert), streaming the trace in chunks. */
export async function traceView(src: TraceSource): Promise<TraceView> {
  const {moeLayers, nExpert, k, model} = src.header
  const nMoe = moeLayers.length
  const counts = moeLayers.map(() => new Float64Array(nExpert))
  let nTokens = 0
  for await (const c of src.chunks()) {
    const ids = c.ids
    for (let t = 0; t < c.nTokens; t++) {
      for (let l = 0; l < nMoe; l++) {
        const row = counts[l]
        const base = (t * nMoe + l) * k
        for (let j = 0; j < k; j++) row[ids[base + j]]++
      }
    }
    nTokens += c.nTokens
  }
  return {
    kind: 'trace',
    label: `${model} routing (${basename(src.path)})`,
    model,
    nExpert,
    k,
    nTokens,
    moeLayers: [...moeLayers],
    counts: counts.map((r) => Array.from(r)),
  }
}

function parseJson(path: string): unknown {
  return parseJsonText(readTextFile(path, 'input'), `input ${path}`)
}

const KNOWN =
  'a hardware profile (moerig probe --json), a plan (moerig plan --json), a bench or run result (reports/runs/*.json), a reuse analysis (moerig reuse --json), a tune result (reports/tune/*.json) or a routing trace (moerig run --trace)'

/** Load one input file as a view. */
export async function loadInput(path: string, options: InputOptions = {}): Promise<ReportInput> {
  const kind = sniff(path)
  if (kind === 'trace' || kind === 'csv') {
    const src = await openTraceSource(path, {nExpert: options.experts})
    return {path, view: await traceView(src)}
  }
  if (kind !== 'json') throw new MoerigError('E_INPUT', `input ${path}: not a report input; expected ${KNOWN}`)
  const doc = parseJson(path)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new MoerigError(
      'E_INPUT',
      `input ${path}: a JSON ${Array.isArray(doc) ? 'array' : typeof doc}; expected ${KNOWN}`,
    )
  const d = doc as Record<string, unknown>
  if (d.kind === 'hardware')
    return {
      path,
      view: hardwareView(assertValid<HardwareProfile>(hardwareProfileSchema, doc, `hardware profile ${path}`)),
    }
  for (const k of documentKinds) {
    if (k.detect(d)) return {path, view: k.view(doc, path)}
  }
  throw new MoerigError(
    'E_INPUT',
    `input ${path}: unrecognised JSON document (fields ${Object.keys(d).slice(0, 6).join(', ') || 'none'}); expected ${KNOWN}`,
  )
}

/** Load every input, in order; the first bad one stops with its line. */
export async function loadInputs(paths: string[], options: InputOptions = {}): Promise<ReportInput[]> {
  const out: ReportInput[] = []
  for (const p of paths) out.push(await loadInput(p, options))
  return out
}
