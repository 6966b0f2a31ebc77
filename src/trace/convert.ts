/**
 * Traces as sources and conversions between the formats: `openTraceSource` opens either format
 * by content, `skipTokens` drops a prefix (the prompt), `csvToTrace` / `traceToCsv` /
 * `convertTrace` stream one format into the other, atomically (temp file + rename).
 */
import {createWriteStream} from 'node:fs'
import {extname} from 'node:path'
import {fileError, startTemp} from '../lib/fs.js'
import {CSV_HEADER, openCsvTrace, type CsvTraceOptions} from './csv.js'
import {isMoetrace, recordValues, traceError, type TraceHeader, type TraceSource} from './format.js'
import {openTrace} from './read.js'
import {createTraceWriter} from './write.js'

/** Open a trace by content: MOETRACE magic → binary; otherwise CSV, which needs `nExpert`. */
export async function openTraceSource(path: string, options: Partial<CsvTraceOptions> = {}): Promise<TraceSource> {
  if (isMoetrace(path)) return openTrace(path)
  if (options.nExpert === undefined) {
    throw traceError('E_USAGE', `trace ${path} is not a MOETRACE file; read as CSV it needs n_expert (--experts N)`)
  }
  return openCsvTrace(path, {...options, nExpert: options.nExpert})
}

// ---------------------------------------------------------------- conversions

/** CSV (`token,layer,experts`) → MOETRACE, streaming. Returns the header written. */
export async function csvToTrace(csvPath: string, tracePath: string, options: CsvTraceOptions): Promise<TraceHeader> {
  return copyToTrace(await openCsvTrace(csvPath, options), tracePath)
}

/** Stream a source into a MOETRACE file (its weights too when it has them); the header written. */
async function copyToTrace(src: TraceSource, tracePath: string): Promise<TraceHeader> {
  const w = createTraceWriter(tracePath, src.header)
  try {
    for await (const c of src.chunks()) w.append(c.ids, src.header.hasWeights ? c.weights : undefined)
  } catch (e) {
    w.abort()
    throw e
  }
  w.close()
  return {...src.header, nTokens: w.nTokens}
}

/** The format an output path asks for: `.csv` → CSV, anything else → MOETRACE. */
export function traceFormatFor(path: string): 'csv' | 'moetrace' {
  return extname(path).toLowerCase() === '.csv' ? 'csv' : 'moetrace'
}

/**
 * `trace convert`: read either format (by content), write the format `to`. MOETRACE → MOETRACE
 * keeps the gate weights; CSV output drops them (the CSV format has none). Returns the header read.
 */
export async function convertTrace(
  input: string,
  output: string,
  to: 'csv' | 'moetrace',
  options: Partial<CsvTraceOptions> = {},
): Promise<TraceHeader> {
  if (to === 'csv') return traceToCsv(input, output, options)
  return copyToTrace(await openTraceSource(input, options), output)
}

/**
 * MOETRACE (or CSV) → CSV with a header row, streaming, atomically (temp + rename). Token numbers
 * start at 0; `layer` is the block index. Weights are not part of the CSV format and are dropped.
 */
export async function traceToCsv(
  tracePath: string,
  csvPath: string,
  options: Partial<CsvTraceOptions> = {},
): Promise<TraceHeader> {
  const src = await openTraceSource(tracePath, options)
  const {k, moeLayers} = src.header
  const nMoe = moeLayers.length
  const perToken = nMoe * k
  const temp = startTemp(csvPath)
  const out = createWriteStream(temp.tmp)
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve)
    out.on('error', reject)
  })
  const write = (s: string) => (out.write(s) ? null : new Promise<void>((r) => out.once('drain', r)))
  try {
    let wait = write(`${CSV_HEADER}\n`)
    if (wait) await wait
    const layerText = moeLayers.map((l) => `,${l},`)
    for await (const c of src.chunks()) {
      const parts: string[] = []
      for (let t = 0; t < c.nTokens; t++) {
        const tok = String(c.start + t)
        for (let l = 0; l < nMoe; l++) {
          const base = t * perToken + l * k
          let ex = String(c.ids[base])
          for (let j = 1; j < k; j++) ex += ' ' + c.ids[base + j]
          parts.push(tok + layerText[l] + ex + '\n')
        }
      }
      wait = write(parts.join(''))
      if (wait) await wait
    }
    out.end()
    await closed
  } catch (e) {
    out.destroy()
    temp.abort()
    throw fileError(e, csvPath)
  }
  temp.commit()
  return src.header
}

/**
 * The same trace without its first `from` tokens (e.g. the prompt: `header.source.promptTokens`);
 * token indices restart at 0.
 */
export function skipTokens(src: TraceSource, from: number): TraceSource {
  if (from === 0) return src
  const h = src.header
  if (!Number.isInteger(from) || from < 0 || from >= h.nTokens) {
    throw traceError('E_USAGE', `trace ${src.path}: cannot start at token ${from} of ${h.nTokens}`)
  }
  const per = recordValues(h)
  return {
    path: src.path,
    format: src.format,
    header: {...h, nTokens: h.nTokens - from},
    async *chunks(options) {
      for await (const c of src.chunks(options)) {
        if (c.start + c.nTokens <= from) continue
        const skip = Math.max(0, from - c.start)
        yield {
          start: c.start + skip - from,
          nTokens: c.nTokens - skip,
          ids: c.ids.subarray(skip * per),
          weights: c.weights?.subarray(skip * per),
        }
      }
    },
  }
}

/** Prompt tokens recorded in a trace's provenance (`source.promptTokens`, written by `moerig run`), or null. */
export function promptTokens(h: TraceHeader): number | null {
  const n = (h.source as {promptTokens?: unknown} | undefined)?.promptTokens
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null
}
