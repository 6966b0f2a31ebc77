import {readFileSync, renameSync, writeFileSync, mkdirSync} from 'node:fs'
import {dirname} from 'node:path'
import {MoerigError} from './errors.js'
import {assertValid} from '../schemas/validate.js'

/** Read a JSON file and validate it against a schema; every failure is one line naming the file. */
export function readJsonFile<T>(path: string, schema: object, what: string): T {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new MoerigError('E_FILE', code === 'ENOENT' ? `${what} ${path}: no such file` : `${what} ${path}: cannot read (${code ?? 'error'})`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new MoerigError('E_JSON', `${what} ${path}: not valid JSON (${(e as Error).message})`)
  }
  return assertValid<T>(schema, data, `${what} ${path}`)
}

/**
 * Write JSON atomically (temp file + rename) so an interrupted or failed run never leaves a
 * half-written file in place of a good one.
 */
export function writeJsonFile(path: string, data: unknown): void {
  mkdirSync(dirname(path), {recursive: true})
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n')
  renameSync(tmp, path)
}
