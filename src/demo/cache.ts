/**
 * The demo's cache folder: what it may rebuild there, and when an output from an earlier run still
 * counts (it exists, is not empty, and is newer than every input it was made from).
 */
import {existsSync, readdirSync, statSync} from 'node:fs'
import {join, sep} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {ensureDir, writeFileAtomic} from '../lib/fs.js'

/** Marks a folder as the demo's cache: only then does the demo remove (rebuild) files in it. */
export const CACHE_MARKER = '.moerig-cache'

/**
 * The demo removes its outputs (bench.json, run.json, …) before rebuilding them, so the cache
 * folder must be moerig's: new or empty, marked by an earlier demo, or inside a `.moerig-cache`
 * folder (the default; older demos wrote no marker). A user's folder given as --cache is refused.
 */
export function claimCacheDir(cache: string, given: string): void {
  const marker = join(cache, CACHE_MARKER)
  if (existsSync(cache) && !statSync(cache).isDirectory())
    throw new MoerigError('E_CACHE_FOLDER', `cache folder ${given} is a file; give a new or empty folder (--cache)`)
  const ours =
    !existsSync(cache) ||
    existsSync(marker) ||
    cache.split(sep).includes(CACHE_MARKER) ||
    readdirSync(cache).length === 0
  if (!ours) {
    throw new MoerigError(
      'E_CACHE_FOLDER',
      `cache folder ${given} is not empty and is not a moerig cache; the demo rebuilds files there, so give a new or empty folder (--cache)`,
    )
  }
  ensureDir(cache)
  if (!existsSync(marker)) writeFileAtomic(marker, 'moerig demo cache: files here are rebuilt by `moerig demo`\n')
}

/** A non-empty file from an earlier run, unless --fresh. */
function isCached(path: string, fresh: boolean): boolean {
  return !fresh && existsSync(path) && statSync(path).size > 0
}

/**
 * Whether a step's outputs can be reused: each of them cached, and the main one newer than what
 * it was made from (a re-synthesised model invalidates its bench result and trace).
 */
export function upToDate(outputs: string[], needs: string[], fresh: boolean): boolean {
  const outTime = statSync(outputs[0], {throwIfNoEntry: false})?.mtimeMs ?? -Infinity
  return outputs.every((p) => isCached(p, fresh)) && needs.every((x) => statSync(x).mtimeMs <= outTime)
}
