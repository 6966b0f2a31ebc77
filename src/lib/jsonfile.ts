import {existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync} from 'node:fs'
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
  ensureDir(dirname(path))
  const tmp = `${path}.tmp-${process.pid}`
  try {
    writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n')
    renameSync(tmp, path)
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {}
    throw new MoerigError('E_FILE', `cannot write ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
}

/**
 * mkdir -p, one level at a time. Node 20's `mkdirSync(p, {recursive: true})` loops forever when
 * the kernel answers ENOENT for a parent that exists (e.g. under /proc), so we walk it ourselves.
 */
export function ensureDir(dir: string): void {
  if (existsSync(dir)) return
  const parent = dirname(dir)
  if (parent !== dir) ensureDir(parent)
  try {
    mkdirSync(dir)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== 'EEXIST') throw new MoerigError('E_FILE', `cannot create folder ${dir} (${code ?? (e as Error).message})`)
  }
}
