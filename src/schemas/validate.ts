import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import addFormatsMod from 'ajv-formats'
import {MoerigError} from '../lib/errors.js'
import {parseJsonText, readTextFile} from '../lib/fs.js'

// ajv-formats is CJS with a default export; under Node16 ESM resolution its type needs this cast.
const addFormats = addFormatsMod as unknown as typeof addFormatsMod.default

const ajv = new Ajv({allErrors: true, strict: true, allowUnionTypes: true})
addFormats(ajv)

const cache = new WeakMap<object, ValidateFunction>()

function compiled(schema: object): ValidateFunction {
  let v = cache.get(schema)
  if (!v) {
    v = ajv.compile(schema)
    cache.set(schema, v)
  }
  return v
}

/** The value at a JSON pointer ("/gpus/0/vramBytes") inside data, or undefined. */
function valueAt(data: unknown, pointer: string): unknown {
  let cur: unknown = data
  for (const key of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[key.replace(/~1/g, '/').replace(/~0/g, '~')]
  }
  return cur
}

export interface DescribeOptions {
  /** Kept for callers that asked for "an integer or null"; every message is worded that way now. */
  articles?: boolean
}

/** "an integer or null", "a string", "an object or an array" from ajv's type list. */
function typeWords(type: string | string[]): string {
  return String(type)
    .split(',')
    .map((t) => (t === 'null' ? 'null' : `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`))
    .join(' or ')
}

/** A found value, short: `"16GB"`, `-1`, `nothing`. */
function shown(found: unknown): string {
  if (found === undefined) return 'nothing'
  const s = JSON.stringify(found) ?? String(found)
  return s.length > 40 ? `${s.slice(0, 39)}…` : s
}

/**
 * The one wording of a schema error, used by every command (validate, report, plan, bench …):
 * the JSON path first so the user can find the field, what is allowed, and what was found:
 * `/gpus/0/vramBytes must be an integer or null, got "16GB"`, `/memory/totalBytes must be ≥ 1, got 0`.
 */
export function describeError(e: ErrorObject, data: unknown, _opts: DescribeOptions = {}): string {
  const path = e.instancePath === '' ? '(root)' : e.instancePath
  const params = e.params as Record<string, unknown>
  const got = () => `, got ${shown(valueAt(data, e.instancePath))}`
  switch (e.keyword) {
    case 'additionalProperties':
      return `${path} has unknown field "${params.additionalProperty as string}"`
    case 'required':
      return `${path} is missing required field "${params.missingProperty as string}"`
    case 'enum':
      return `${path} must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}${got()}`
    case 'const':
      return `${path} must be ${JSON.stringify(params.allowedValue)}${got()}`
    case 'type':
      return `${path} must be ${typeWords(params.type as string | string[])}${got()}`
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const op = ({minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<'} as Record<string, string>)[
        e.keyword
      ]
      return `${path} must be ${op} ${String(params.limit)}${got()}`
    }
    case 'minLength':
      return `${path} must have at least ${String(params.limit)} character${params.limit === 1 ? '' : 's'}${got()}`
    case 'maxLength':
      return `${path} must have at most ${String(params.limit)} characters${got()}`
    case 'minItems':
      return `${path} must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`
    case 'maxItems':
      return `${path} must have at most ${String(params.limit)} items`
    case 'pattern':
      return `${path} must match pattern "${String(params.pattern)}"${got()}`
    case 'format':
      return `${path} must be a valid ${String(params.format)}${got()}`
    default:
      return `${path} ${e.message ?? 'is invalid'}`
  }
}

/** Validation errors of `data` against `schema`, one string each; empty when valid. */
export function schemaErrors(schema: object, data: unknown, opts: DescribeOptions = {}): string[] {
  const v = compiled(schema)
  if (v(data)) return []
  return (v.errors ?? []).map((e) => describeError(e, data, opts))
}

/**
 * Validate at an edge (file read, JSON emitted). Throws one MoerigError line naming the document,
 * the first offending JSON path and what was expected.
 */
export function assertValid<T>(schema: object, data: unknown, what: string): T {
  const errs = schemaErrors(schema, data)
  if (errs.length > 0) {
    const more = errs.length > 1 ? ` (and ${errs.length - 1} more)` : ''
    throw new MoerigError('E_SCHEMA', `${what}: ${errs[0]}${more}`)
  }
  return data as T
}

/**
 * Read a JSON file and validate it against a schema; every failure is one line naming the file
 * (a byte-order mark is accepted, a document nested too deeply is refused by name).
 */
export function readJsonFile<T>(path: string, schema: object, what: string): T {
  const data = parseJsonText(readTextFile(path, what), `${what} ${path}`)
  return assertValid<T>(schema, data, `${what} ${path}`)
}
