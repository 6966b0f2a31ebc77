/**
 * Routing traces: which experts every token used in every MoE layer (docs/trace-format.md). The
 * one import for the rest of moerig; the format lives in five modules:
 *
 *   format.ts   constants, chunk/source types, record sizes, header and expert-id checks
 *   write.ts    `writeTrace` (one shot), `createTraceWriter` (streaming, nTokens patched on close)
 *   read.ts     `openTrace`, `readTraceHeader` for MOETRACE files
 *   csv.ts      `openCsvTrace` for `token,layer,experts` CSV (byte-level push parser)
 *   convert.ts  `openTraceSource` (either format, by content), `skipTokens`, `promptTokens`,
 *               `csvToTrace`, `traceToCsv`, `convertTrace`
 *
 * Every reader streams fixed-size chunks through one reused buffer, so memory stays bounded
 * whatever the trace length; every malformed input is one MoerigError line.
 */
export {
  TRACE_MAGIC,
  TRACE_VERSION,
  checkTraceHeader,
  isMoetrace,
  recordBytes,
  recordValues,
  type TraceChunk,
  type TraceHeader,
  type TraceSource,
} from './format.js'
export {createTraceWriter, writeTrace, type TraceWriter} from './write.js'
export {openTrace, readTraceHeader} from './read.js'
export {openCsvTrace, type CsvTraceOptions} from './csv.js'
export {
  convertTrace,
  csvToTrace,
  openTraceSource,
  promptTokens,
  skipTokens,
  traceFormatFor,
  traceToCsv,
} from './convert.js'
