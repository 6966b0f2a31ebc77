import {writeFileAtomic} from './fs.js'

export {ensureDir} from './fs.js'
// Reading JSON against a schema is schemas/validate.ts's readJsonFile (lib/ sits below schemas/).

/**
 * Write JSON atomically (temp file + rename) so an interrupted or failed run never leaves a
 * half-written file in place of a good one. Failures are one MoerigError naming `path`.
 */
export function writeJsonFile(path: string, data: unknown): void {
  writeFileAtomic(path, JSON.stringify(data, null, 2) + '\n')
}
