/**
 * JSON-shape snapshots of every command's `--json` (issue 11): the shape of a document is its keys
 * and value types, recursively ("string", "number", "boolean", "null"; an object its keys in order
 * of name; an array the merged shape of its elements, see mergeShapes). test/fixtures/json-shapes/<name>.json
 * holds the recorded shape; a renamed key, a new or missing key, or a changed type fails.
 * MOERIG_UPDATE_SNAPSHOTS=1 rewrites the files instead (then review the diff).
 */
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

export type Shape = string | Shape[] | {[key: string]: Shape}

export const SHAPES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'json-shapes')

/** Key of a union of shapes of different kinds (an object or array beside null, say): never a key of moerig's JSON. */
const ANY_OF = '|'

type Kind = 'type' | 'array' | 'object' | 'union'
function kindOf(s: Shape): Kind {
  if (typeof s === 'string') return 'type'
  if (Array.isArray(s)) return 'array'
  return ANY_OF in s ? 'union' : 'object'
}

/**
 * One shape for two values that stand in the same place (elements of one array): types join
 * ("null|number"), objects merge key by key (a key some lack gets "absent"), arrays merge their
 * element shapes; shapes of different kinds become a union {"|": [...]}.
 */
export function mergeShapes(a: Shape, b: Shape): Shape {
  if (JSON.stringify(a) === JSON.stringify(b)) return a
  const ka = kindOf(a)
  const kb = kindOf(b)
  if (ka === 'union' || kb === 'union' || ka !== kb) {
    const members = [a, b].flatMap((s) => (kindOf(s) === 'union' ? (s as {[ANY_OF]: Shape[]})[ANY_OF] : [s]))
    const merged: Shape[] = []
    for (const m of members) {
      const i = merged.findIndex((x) => kindOf(x) === kindOf(m))
      if (i < 0) merged.push(m)
      else merged[i] = mergeShapes(merged[i], m)
    }
    if (merged.length === 1) return merged[0]
    return {[ANY_OF]: merged.sort((x, y) => kindOf(x).localeCompare(kindOf(y)))}
  }
  if (ka === 'type') return [...new Set([...(a as string).split('|'), ...(b as string).split('|')])].sort().join('|')
  if (ka === 'array') {
    const [x] = a as Shape[]
    const [y] = b as Shape[]
    return x === undefined ? [y] : y === undefined ? [x] : [mergeShapes(x, y)]
  }
  const oa = a as {[key: string]: Shape}
  const ob = b as {[key: string]: Shape}
  const out: {[key: string]: Shape} = {}
  for (const k of [...new Set([...Object.keys(oa), ...Object.keys(ob)])].sort())
    out[k] = mergeShapes(oa[k] ?? 'absent', ob[k] ?? 'absent')
  return out
}

/** The shape of a JSON value: an array is the merged shape of its elements ([] when empty). */
export function jsonShape(value: unknown): Shape {
  if (value === null) return 'null'
  if (Array.isArray(value)) return value.length === 0 ? [] : [value.map(jsonShape).reduce(mergeShapes)]
  if (typeof value === 'object') {
    const out: {[key: string]: Shape} = {}
    for (const k of Object.keys(value).sort()) out[k] = jsonShape((value as Record<string, unknown>)[k])
    return out
  }
  return typeof value
}

/**
 * Where two shapes differ, as "path: recorded → now" lines (empty when they are the same). Keys at
 * the paths in `mayVary` may be present or absent (their types are compared when both have them).
 */
export function shapeDiff(recorded: Shape, now: Shape, path = '$', mayVary: readonly string[] = []): string[] {
  const kind = kindOf(recorded)
  if (kind !== kindOf(now)) return [`${path}: ${JSON.stringify(recorded)} → ${JSON.stringify(now)}`]
  if (kind === 'type' || kind === 'union')
    return JSON.stringify(recorded) === JSON.stringify(now)
      ? []
      : [`${path}: ${JSON.stringify(recorded)} → ${JSON.stringify(now)}`]
  if (kind === 'array') {
    const [r] = recorded as Shape[]
    const [n] = now as Shape[]
    if (r === undefined || n === undefined)
      return r === n
        ? []
        : [`${path}[]: ${r === undefined ? 'empty' : 'elements'} → ${n === undefined ? 'empty' : 'elements'}`]
    return shapeDiff(r, n, `${path}[]`, mayVary)
  }
  const r = recorded as {[key: string]: Shape}
  const n = now as {[key: string]: Shape}
  const out: string[] = []
  const fixed = (k: string) => !mayVary.includes(`${path}.${k}`)
  for (const k of Object.keys(r)) if (!(k in n) && fixed(k)) out.push(`${path}.${k}: missing now`)
  for (const k of Object.keys(n)) if (!(k in r) && fixed(k)) out.push(`${path}.${k}: new key`)
  for (const k of Object.keys(r)) if (k in n) out.push(...shapeDiff(r[k], n[k], `${path}.${k}`, mayVary))
  return out
}

/**
 * Compare the shape of `value` with test/fixtures/json-shapes/<name>.json, or record it there under
 * MOERIG_UPDATE_SNAPSHOTS=1. `mayVary`: key paths ("$.a.b") whose presence depends on a measurement.
 */
export function assertJsonShape(name: string, value: unknown, mayVary: readonly string[] = []): void {
  const file = join(SHAPES_DIR, `${name}.json`)
  const now = jsonShape(value)
  if (process.env.MOERIG_UPDATE_SNAPSHOTS === '1') {
    mkdirSync(SHAPES_DIR, {recursive: true})
    writeFileSync(file, `${JSON.stringify(now, null, 2)}\n`)
    return
  }
  assert.ok(existsSync(file), `no recorded shape ${file}; record it with MOERIG_UPDATE_SNAPSHOTS=1`)
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as Shape
  const diff = shapeDiff(recorded, now, '$', mayVary)
  assert.deepEqual(
    diff,
    [],
    `the --json shape of ${name} changed (if on purpose: MOERIG_UPDATE_SNAPSHOTS=1, then review the diff):\n${diff.join('\n')}`,
  )
}
