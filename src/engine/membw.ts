/**
 * The memory-bandwidth benchmark from TS: sizes the arrays, validates options with precise
 * messages, then one call into the addon (native/src/engine/membw.h re-checks everything in C++).
 * Used by `probe --measure` and bench/membw.ts.
 */
import {MoerigError, oneLine} from '../lib/errors.js'
import {SIGNAL_FALLBACK} from '../lib/command.js'
import {loadAddon, type MemBwOptions, type MemBwProgress, type MemBwResult} from './addon.js'

/** One page: smaller arrays would only time the barrier (same limit as membw.h kMinArrayBytes). */
export const MEMBW_MIN_ARRAY_BYTES = 4096
/** STREAM's values grow ×15 per pass; 100 passes keep them finite (membw.h kMaxRepetitions). */
export const MEMBW_MAX_REPETITIONS = 100
/** STREAM's sizing rule (stream.c header): each array at least 4× the sum of all last-level caches. */
export const STREAM_LLC_FACTOR = 4
/** Floor for one array summed over threads, also used when the LLC size is hidden (VMs): 256 MiB
 *  is 4× the 64 MiB L3 of a large client CPU and still quick to fault in. */
export const MEMBW_MIN_ARRAY_TOTAL_BYTES = 256 * 2 ** 20
/** STREAM's default repetitions (NTIMES in stream.c). */
export const MEMBW_DEFAULT_REPETITIONS = 10

/** Bytes per array per thread so that one array over all threads is ≥ 4 × LLC and ≥ 256 MiB. */
export function membwArrayBytesPerThread(threads: number, llcTotalBytes: number | null): number {
  const total = Math.max(MEMBW_MIN_ARRAY_TOTAL_BYTES, STREAM_LLC_FACTOR * (llcTotalBytes ?? 0))
  const perThread = Math.ceil(total / Math.max(1, threads))
  return Math.ceil(perThread / 4096) * 4096
}

function bad(message: string): never {
  throw new MoerigError('E_MEMBW_OPTIONS', `memory bandwidth: ${message}`)
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x)

/** Shape and range checks that need no system calls; the C++ side adds CPU and memory checks. */
export function validateMemBwOptions(opts: MemBwOptions): void {
  if (!Array.isArray(opts.nodes) || opts.nodes.length === 0) bad('no NUMA nodes given (nodes is empty)')
  const seenCpu = new Set<number>()
  const seenNode = new Set<number>()
  opts.nodes.forEach((n, i) => {
    if (!isInt(n.id) || n.id < 0) bad(`nodes[${i}].id must be a non-negative integer, got ${String(n.id)}`)
    if (seenNode.has(n.id)) bad(`node ${n.id} is given twice`)
    seenNode.add(n.id)
    if (!Array.isArray(n.cpus) || n.cpus.length === 0) bad(`node ${n.id} has no CPUs`)
    for (const c of n.cpus) {
      if (!isInt(c) || c < 0) bad(`node ${n.id}: CPU id must be a non-negative integer, got ${String(c)}`)
      if (seenCpu.has(c)) bad(`cpu ${c} is given twice; each CPU runs one thread`)
      seenCpu.add(c)
    }
  })
  if (!isInt(opts.arrayBytesPerThread) || opts.arrayBytesPerThread < MEMBW_MIN_ARRAY_BYTES) {
    bad(`arrayBytesPerThread must be an integer ≥ ${MEMBW_MIN_ARRAY_BYTES}, got ${String(opts.arrayBytesPerThread)}`)
  }
  if (!isInt(opts.repetitions) || opts.repetitions < 1 || opts.repetitions > MEMBW_MAX_REPETITIONS) {
    bad(`repetitions must be an integer 1..${MEMBW_MAX_REPETITIONS}, got ${String(opts.repetitions)}`)
  }
  if (opts.stores !== undefined && !['auto', 'temporal', 'nontemporal'].includes(opts.stores)) {
    bad(`stores must be auto, temporal or nontemporal, got ${String(opts.stores)}`)
  }
}

/** Validates, runs the native benchmark, and turns native failures into one-line MoerigErrors. */
export async function measureMemBandwidth(
  opts: MemBwOptions,
  onProgress?: (p: MemBwProgress) => void,
): Promise<MemBwResult> {
  validateMemBwOptions(opts)
  const addon = loadAddon()
  // Ctrl-C / SIGTERM / SIGHUP: stop the native repetitions first (node's exit joins the worker
  // thread, so an unstopped run would hold the exit until it finished); marked as a fallback so
  // that the base command's fallback still ends the command with its one line and exit code.
  const stop = () => addon.memBandwidthStop()
  Object.defineProperty(stop, SIGNAL_FALLBACK, {value: true})
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  for (const sig of signals) process.prependListener(sig, stop)
  try {
    return await addon.memBandwidth(opts, onProgress)
  } catch (e) {
    if (e instanceof MoerigError) throw e
    if (/stopped$/.test(oneLine(e))) throw new MoerigError('E_INTERRUPTED', 'memory bandwidth measurement stopped', 130)
    // Native messages already start with "memBandwidth: " and name the field or CPU.
    throw new MoerigError('E_MEMBW', oneLine(e))
  } finally {
    for (const sig of signals) process.off(sig, stop)
  }
}
