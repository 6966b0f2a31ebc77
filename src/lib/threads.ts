/**
 * One rule for every thread-count flag (`plan --threads`, `bench -t`, `run -t`): a positive whole
 * number no larger than the logical CPUs of the machine it will run on. More threads than CPUs
 * only oversubscribe the cores (issue #12: `-t 9999` made thousands of threads, load ~2000).
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import {MoerigError} from './errors.js'

/** Logical CPUs this process may use (os.availableParallelism honours affinity masks). */
export function maxThreads(): number {
  return Math.max(1, availableParallelism())
}

/**
 * Refuse a thread count outside 1…max with one line naming the flag, the value and the range.
 * `max` defaults to this machine's logical CPUs; `where` names whose CPUs they are
 * (a hardware profile's, for plans of another machine).
 */
export function checkThreads(flag: string, n: number, max = maxThreads(), where = 'this machine'): number {
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new MoerigError('E_USAGE', `${flag} ${n}: allowed 1–${max} (the logical CPUs of ${where})`)
  }
  return n
}

/**
 * Physical cores (distinct thread-sibling sets in sysfs), as llama-bench's default -t counts them
 * (lib/llama-defaults.ts DEFAULT_THREADS_RULE); all logical CPUs when sysfs cannot tell.
 */
export function physicalCores(): number {
  const base = '/sys/devices/system/cpu'
  try {
    const sets = new Set<string>()
    for (const d of readdirSync(base)) {
      if (!/^cpu\d+$/.test(d)) continue
      const f = join(base, d, 'topology', 'thread_siblings_list')
      if (existsSync(f)) sets.add(readFileSync(f, 'utf8').trim())
    }
    if (sets.size > 0) return sets.size
  } catch {
    // no sysfs (containers without /sys): fall through
  }
  return availableParallelism()
}
