import {parseJsonText, readTextFile, writeFileAtomic} from './fs.js'
import {assertValid} from '../schemas/validate.js'

export {ensureDir} from './fs.js'

/**
 * Read a JSON file and validate it against a schema; every failure is one line naming the file
 * (a byte-order mark is accepted, a document nested too deeply is refused by name).
 */
export function readJsonFile<T>(path: string, schema: object, what: string): T {
  const data = parseJsonText(readTextFile(path, what), `${what} ${path}`)
  return assertValid<T>(schema, data, `${what} ${path}`)
}

/**
 * Write JSON atomically (temp file + rename) so an interrupted or failed run never leaves a
 * half-written file in place of a good one. Failures are one MoerigError naming `path`.
 */
export function writeJsonFile(path: string, data: unknown): void {
  writeFileAtomic(path, JSON.stringify(data, null, 2) + '\n')
}

