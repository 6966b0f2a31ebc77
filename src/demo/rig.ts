import {readFileSync} from 'node:fs'
import {jsonFilesIn} from '../lib/fs.js'
import {join} from 'node:path'

/**
 * The reference rig the demo plans for (README, "What `npm run demo` does"): dual Xeon 8592+ with
 * 2 × Arc A770, one of the hardware profiles in profiles/hardware/.
 */
const REFERENCE_RIG = /8592.*a770|a770.*8592/i

/** profiles/hardware/*.json whose file name or id names the dual 8592+ / 2 × A770 rig. */
export function findReferenceRig(root: string): string | null {
  const dir = join(root, 'profiles', 'hardware')
  let files: string[]
  try {
    files = jsonFilesIn(dir)
  } catch {
    return null
  }
  for (const f of files) {
    if (REFERENCE_RIG.test(f)) return join(dir, f)
    try {
      const doc = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {id?: string; name?: string}
      if (REFERENCE_RIG.test(`${doc.id ?? ''} ${doc.name ?? ''}`)) return join(dir, f)
    } catch {
      // not our business here: `moerig profiles` validates them
    }
  }
  return null
}
