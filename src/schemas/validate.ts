import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import addFormatsMod from 'ajv-formats'
import {MoerigError} from '../lib/errors.js'

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
  /** "must be an integer or null" rather than ajv's "must be integer,null" */
  articles?: boolean
}

/**
 * "/gpus/0/vramBytes must be >= 0" style, the JSON path first so the user can find the field.
 * A wrong type also says what was found: `/gpus/0/vramBytes must be integer,null, got "16GB"`.
 */
export function describeError(e: ErrorObject, data: unknown, opts: DescribeOptions = {}): string {
  const path = e.instancePath === '' ? '(root)' : e.instancePath
  if (e.keyword === 'additionalProperties') return `${path} has unknown field "${(e.params as {additionalProperty: string}).additionalProperty}"`
  if (e.keyword === 'required') return `${path} is missing required field "${(e.params as {missingProperty: string}).missingProperty}"`
  if (e.keyword === 'enum') return `${path} must be one of ${(e.params as {allowedValues: unknown[]}).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  if (e.keyword === 'type') {
    const types = String((e.params as {type: string | string[]}).type).split(',')
    const expected = opts.articles ? types.map((t) => (t === 'null' ? 'null' : `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`)).join(' or ') : types.join(',')
    const found = valueAt(data, e.instancePath)
    return `${path} must be ${expected}, got ${found === undefined ? 'nothing' : JSON.stringify(found).slice(0, 40)}`
  }
  return `${path} ${e.message ?? 'is invalid'}`
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
