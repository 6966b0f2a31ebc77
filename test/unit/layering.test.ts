// Folder layering of src/ (issue 11): every import goes from a higher folder to a strictly lower
// one, never sideways between peers or upwards, and the folder graph has no cycle. Parsed with
// TypeScript's own pre-processor, so static imports, `export … from`, `import type` and dynamic
// `import()` all count.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

const src = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src')

/**
 * Rank of each folder of src/: a folder may import only folders of a lower rank.
 * lib ← schemas ← engine, model ← profiles ← probe, planner, trace ← reuse, report, runner ← demo ← commands.
 * engine/ (the in-process native boundary) sits under probe/ because probe asks it for bandwidth;
 * runner/ (child-process execution) sits above engine/. model/ (GGUF reader, architectures, quant
 * rules, inventory) sits beside engine/: it imports only lib/ and schemas/. profiles/ (the only
 * reader of profiles/: model catalog, hardware profiles) sits just above model/, because a catalog
 * entry is checked against model/'s quant rules; "probe" (this machine) comes from probe/ above it,
 * passed in by the caller (src/probe/machine.ts).
 */
const RANK: Record<string, number> = {
  lib: 0,
  schemas: 1,
  engine: 2,
  model: 2,
  profiles: 3,
  probe: 4,
  planner: 4,
  trace: 4,
  reuse: 5,
  report: 5,
  runner: 5,
  // tune/ joins the planner (fit and predicted speed of each configuration) and the runner (bench's
  // measurement) in one search, so it sits above both; only commands/tune.ts imports it.
  tune: 5.5,
  // demo/ drives the CLI end to end in child processes and writes the report from what they made,
  // so it imports report/ (rank 5) and must sit above it; only commands/demo.ts imports it.
  demo: 6,
  commands: 7,
}

/**
 * Imports that still break the rule, each with why. The test fails when one disappears, so that
 * the list only shrinks.
 */
const KNOWN: Record<string, string> = {}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p))
    else if (name.endsWith('.ts')) out.push(p)
  }
  return out
}

interface Edge {
  from: string
  to: string
  fromFolder: string
  toFolder: string
}

/** Every relative import in src/, resolved to a path relative to src/ (".js" → ".ts"). */
function edges(): Edge[] {
  const out: Edge[] = []
  for (const file of sourceFiles(src)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const ref of info.importedFiles) {
      const spec = ref.fileName
      if (!spec.startsWith('.')) continue
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts')
      const from = relative(src, file).split(sep).join('/')
      const to = relative(src, target).split(sep).join('/')
      out.push({from, to, fromFolder: from.split('/')[0], toFolder: to.split('/')[0]})
    }
  }
  return out
}

const all = edges()

test('layering: the import parser sees the imports it should', () => {
  assert.ok(all.length > 200, `only ${all.length} imports found in src/`)
  assert.ok(all.some((e) => e.from === 'commands/probe.ts' && e.to === 'probe/engine.ts'))
  // a dynamic import counts too
  assert.ok(all.some((e) => e.from === 'probe/machine.ts' && e.to === 'probe/probe.ts'))
})

test('layering: every folder of src/ has a rank and no file sits in src/ itself', () => {
  for (const name of readdirSync(src)) {
    const p = join(src, name)
    assert.ok(statSync(p).isDirectory(), `src/${name}: files belong in a folder with a rank`)
    assert.ok(name in RANK, `src/${name}/ has no rank in test/unit/layering.test.ts: place it in the order`)
  }
})

test('layering: src/ imports nothing outside src/ by relative path (test/, bench/ do not ship)', () => {
  const bad = all.filter((e) => e.to.startsWith('..')).map((e) => `${e.from} -> ${e.to}`)
  assert.deepEqual(bad, [])
})

test('layering: imports go only from a higher folder to a lower one', () => {
  const bad: string[] = []
  const seen = new Set<string>()
  for (const e of all) {
    if (e.fromFolder === e.toFolder || e.to.startsWith('..')) continue
    const key = `${e.from} -> ${e.to}`
    if (RANK[e.toFolder] < RANK[e.fromFolder]) continue
    if (key in KNOWN) {
      seen.add(key)
      continue
    }
    const how = RANK[e.toFolder] === RANK[e.fromFolder] ? 'a peer' : 'a higher folder'
    bad.push(`${key} (${e.fromFolder}/ imports ${how}, ${e.toFolder}/)`)
  }
  assert.deepEqual(bad, [])
  const stale = Object.keys(KNOWN).filter((k) => !seen.has(k))
  assert.deepEqual(stale, [], 'known exceptions that no longer occur: remove them from KNOWN')
})

test('layering: no cycle between folders (known exceptions included)', () => {
  const graph = new Map<string, Set<string>>()
  for (const e of all) {
    if (e.fromFolder === e.toFolder || e.to.startsWith('..')) continue
    if (!graph.has(e.fromFolder)) graph.set(e.fromFolder, new Set())
    graph.get(e.fromFolder)!.add(e.toFolder)
  }
  const state = new Map<string, 'open' | 'done'>()
  const cycles: string[] = []
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 'done') return
    if (state.get(n) === 'open') {
      cycles.push([...path.slice(path.indexOf(n)), n].join(' -> '))
      return
    }
    state.set(n, 'open')
    for (const m of [...(graph.get(n) ?? [])].sort()) visit(m, [...path, n])
    state.set(n, 'done')
  }
  for (const n of [...graph.keys()].sort()) visit(n, [])
  assert.deepEqual(cycles, [])
})
