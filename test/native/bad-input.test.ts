/**
 * The bad-input suite (issue 12): every command, every file argument, every numeric flag, and
 * signals during long work, against the promises in README's "Bad input" paragraph:
 *  - one line naming the problem (`moerig: error: …` on stderr; under --json `{"error": {code,
 *    message}}` and nothing else on stdout), a non-zero exit, no signal death, no stack trace,
 *    no hang (every spawn has a SIGKILL timeout);
 *  - nothing of the user's changed or removed and no temp file left: each case runs in its own
 *    folder holding hard links of the inputs, snapshotted (hashes, sizes, inodes) before and after.
 * Cases are data (one table row each), spawned `node bin/run.js` (the built dist) a few at a time.
 * A row with `todo` names the change it waits for; node:test reports it without failing the run.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import {bin, lines, pool, root, runCli, snapshot, snapshotDiff, type Spawned} from '../support/badinput.js'
import {minimalPlan} from '../support/runner-helpers.js'
import {safeName, safeText} from '../../src/lib/text.js'
import {escapeHtml, escapeMd} from '../../src/report/escape.js'
import {describeUsageError} from '../../src/lib/command.js'
import {tempDir} from '../support/tmp.js'

const WIDTH = Math.max(2, Math.min(6, availableParallelism() * 2))
const TIMEOUT_MS = 45_000

interface Case {
  /** "plan MODEL: missing file" */
  name: string
  /** the class it counts under in README's table */
  cls: string
  args: string[]
  /** the one line must match this (it names the file, the flag or the value) */
  expect?: RegExp
  /** exact exit code; default: any non-zero */
  exit?: number
  /** a command may also succeed, and then must have written this (relative) path and nothing else */
  mayCreate?: string
  /** success is also fine when its output matches this (e.g. "threads capped at 2") */
  okIfOutput?: RegExp
  todo?: string
  /** `profiles validate`: its --json output is the per-file result list ({results: [{file, valid: false, errors}]}), not an error object */
  validator?: boolean
  /** text and --json (default), or one of them */
  modes?: Array<'text' | 'json'>
}

const W = tempDir('moerig-bad-input-')
const IN = join(W, 'inputs')
const UNWRITABLE = '/proc/version' // a file, even root cannot create anything under it

/** Inputs every case folder gets as hard links (cheap, and a rename over one shows as a new inode). */
const INPUT_FILES: string[] = []

function setupInputs(): void {
  mkdirSync(IN, {recursive: true})
  execFileSync(process.execPath, [bin, 'synth', '--preset', 'tiny', '-o', join(IN, 'tiny.gguf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const gguf = readFileSync(join(IN, 'tiny.gguf'))
  const hw = readFileSync(join(root, 'profiles', 'hardware', 'w9-3495x-a770.json'))
  writeFileSync(join(IN, 'hw.json'), hw)
  writeFileSync(join(IN, 'empty.gguf'), '')
  writeFileSync(join(IN, 'empty.json'), '')
  writeFileSync(join(IN, 'empty.moetrace'), '')
  writeFileSync(join(IN, 'trunc.gguf'), gguf.subarray(0, 65536))
  writeFileSync(join(IN, 'trunc.json'), hw.subarray(0, Math.floor(hw.length / 2)))
  writeFileSync(join(IN, 'json-as.gguf'), hw) // a JSON where a GGUF is expected
  writeFileSync(join(IN, 'gguf-as.json'), gguf.subarray(0, 4096)) // a GGUF where JSON is expected
  writeFileSync(join(IN, 'gguf-as.moetrace'), gguf.subarray(0, 4096))
  writeFileSync(join(IN, 'trace.csv'), readFileSync(join(root, 'test', 'fixtures', 'traces', 'markov-tiny.csv')))
  execFileSync(
    process.execPath,
    [bin, 'trace', 'convert', join(IN, 'trace.csv'), join(IN, 'trace.moetrace'), '--experts', '16'],
    {stdio: ['ignore', 'ignore', 'pipe']},
  )
  const trace = readFileSync(join(IN, 'trace.moetrace'))
  writeFileSync(join(IN, 'trunc.moetrace'), trace.subarray(0, Math.floor(trace.length / 2)))
  writeFileSync(join(IN, 'plan.json'), JSON.stringify(minimalPlan(join(IN, 'tiny.gguf'), 70), null, 2))
  // a GGUF whose general.name drives a terminal: same byte length, so the file stays valid
  const name = Buffer.from('moerig synth tiny')
  const at = gguf.indexOf(name)
  assert.ok(at > 0, 'general.name of the tiny synth model')
  const evil = Buffer.from(gguf)
  Buffer.from('\x1b]0;pwn\x07\x1b[2Jabcd').copy(evil, at)
  writeFileSync(join(IN, 'evil.gguf'), evil)
  const evilHw = JSON.parse(hw.toString('utf8'))
  evilHw.name = 'rig\x1b]0;pwn\x07\x1b[2J\u202e'
  delete evilHw.id
  evilHw.origin = 'probe'
  writeFileSync(join(IN, 'evil-hw.json'), JSON.stringify(evilHw))
  for (const f of readdirSync(IN)) INPUT_FILES.push(f)
}

let caseSeq = 0
/** A fresh folder with hard links of every input, and `dir/` (a folder where a file is expected). */
function caseDir(): string {
  const d = join(W, 'cases', String(caseSeq++))
  mkdirSync(join(d, 'dir'), {recursive: true})
  for (const f of INPUT_FILES) linkSync(join(IN, f), join(d, f))
  return d
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

type FileSet = Record<'missing' | 'folder' | 'empty' | 'truncated' | 'wrong kind', string>
const GGUF: FileSet = {
  missing: 'nope.gguf',
  folder: 'dir',
  empty: 'empty.gguf',
  truncated: 'trunc.gguf',
  'wrong kind': 'json-as.gguf',
}
const JSONS: FileSet = {
  missing: 'nope.json',
  folder: 'dir',
  empty: 'empty.json',
  truncated: 'trunc.json',
  'wrong kind': 'gguf-as.json',
}
const TRACES: FileSet = {
  missing: 'nope.moetrace',
  folder: 'dir',
  empty: 'empty.moetrace',
  truncated: 'trunc.moetrace',
  'wrong kind': 'gguf-as.moetrace',
}

/** Each file input of each command: [label, args with FILE where the file goes, the set of bad files]. */
const FILE_INPUTS: Array<[string, string[], FileSet, RegExp?]> = [
  ['plan MODEL', ['plan', 'FILE', '--hardware', 'hw.json'], GGUF],
  ['plan --hardware', ['plan', 'deepseek-r1', '--hardware', 'FILE'], JSONS],
  ['profiles show PROFILE', ['profiles', 'show', 'FILE'], JSONS],
  // validate reports each file on stdout (`invalid  FILE: why`), then one summary error line
  ['profiles validate FILE', ['profiles', 'validate', 'FILE'], JSONS, /hardware profile file invalid/],
  ['bench MODEL', ['bench', 'FILE', '-p', '8', '-n', '2', '-r', '1', '--no-warmup', '--no-save'], GGUF],
  ['bench --plan', ['bench', '--plan', 'FILE', '--no-save'], JSONS],
  ['run MODEL', ['run', 'FILE', '--prompt', 'hi', '-n', '2', '--no-save'], GGUF],
  ['check-plan PLAN', ['check-plan', 'FILE'], JSONS],
  ['check-plan --model', ['check-plan', 'plan.json', '--model', 'FILE'], GGUF],
  ['reuse TRACE', ['reuse', 'FILE', '--experts', '16'], TRACES],
  ['reuse --gguf', ['reuse', 'trace.moetrace', '--gguf', 'FILE'], GGUF],
  [
    'reuse --hardware',
    ['reuse', 'trace.moetrace', '--hardware', 'FILE', '--expert-bytes', '1MB', '--dense-bytes', '1MB'],
    JSONS,
  ],
  ['report INPUT', ['report', 'FILE', '-o', 'rep'], JSONS],
  ['trace convert INPUT', ['trace', 'convert', 'FILE', 'out.csv'], TRACES],
]

const cases: Case[] = []

for (const [label, args, set, summary] of FILE_INPUTS) {
  for (const [cls, file] of Object.entries(set)) {
    const name = `${label}: ${cls} (${file})`
    // a folder is named as such, the others by their file name
    const expect = summary ?? new RegExp(file === 'dir' ? 'dir' : file.replace(/\./g, '\\.'))
    cases.push({
      name,
      cls: `input: ${cls}`,
      args: args.map((a) => (a === 'FILE' ? file : a)),
      expect,
      validator: summary !== undefined,
    })
  }
}

/** A case refused with one line matching `expect`. */
const refused = (name: string, cls: string, args: string[], expect: RegExp): Case => ({name, cls, args, expect})
/** An output argument refused: `at(out)` is the command line with `out` as that output. */
type At = (out: string) => string[]
const overInput = (name: string, at: At, file: string): Case => ({
  name,
  cls: 'output: = input',
  args: at(file),
  expect: new RegExp(file.replace(/\./g, '\\.')),
})
const inMissingFolder = (label: string, at: At, path: string): Case => ({
  name: `${label} in a missing folder`,
  cls: 'output: missing folder',
  args: at(path),
  expect: /nodir/,
  mayCreate: path,
})
const unwritable = (label: string, at: At, file: string): Case => ({
  name: `${label} unwritable`,
  cls: 'output: unwritable',
  args: at(`${UNWRITABLE}/${file}`),
  expect: /\/proc\/version/,
})
const intoFolder = (label: string, at: At): Case => ({
  name: `${label} a folder`,
  cls: 'output: a folder',
  args: at('dir'),
  expect: /dir/,
})

const planOut: At = (o) => ['plan', 'deepseek-r1', '--hardware', 'hw.json', '-o', o]
const probeSave: At = (o) => ['probe', '--save', o]
const runTrace: At = (o) => ['run', 'tiny.gguf', '--prompt', 'hi', '-n', '2', '--no-save', '--trace', o]
const benchRuns: At = (o) => ['bench', 'tiny.gguf', '-p', '8', '-n', '2', '-r', '1', '--runs-dir', o]
const reportOut: At = (o) => ['report', 'hw.json', '-o', o]
const traceOut: At = (o) => ['trace', 'convert', 'trace.csv', o, '--experts', '16']
const synthOut: At = (o) => ['synth', '-p', 'tiny', '-o', o]

/** Outputs: written over an input, into a folder that does not exist, where nobody can write, onto a folder. */
const OUTPUTS: Array<Case & {todo?: string}> = [
  overInput('plan -o = its --hardware input', planOut, 'hw.json'),
  inMissingFolder('plan -o', planOut, 'nodir/sub/plan.json'),
  unwritable('plan -o', planOut, 'plan.json'),
  intoFolder('plan -o', planOut),
  overInput('probe --save = an existing file', probeSave, 'hw.json'),
  inMissingFolder('probe --save', probeSave, 'nodir/p.json'),
  unwritable('probe --save', probeSave, 'p.json'),
  intoFolder('probe --save', probeSave),
  overInput('run --trace = its MODEL', runTrace, 'tiny.gguf'),
  unwritable('run --trace', runTrace, 't.moetrace'),
  intoFolder('run --trace', runTrace),
  refused('bench --runs-dir a file', 'output: a folder expected, a file given', benchRuns('hw.json'), /hw\.json/),
  unwritable('bench --runs-dir', benchRuns, 'runs'),
  unwritable('run --runs-dir', (o) => ['run', 'tiny.gguf', '--prompt', 'hi', '-n', '2', '--runs-dir', o], 'runs'),
  overInput('report -o = its input file', reportOut, 'hw.json'),
  refused('report -o . (the folder holding its inputs)', 'output: = input', reportOut('.'), /report|\./),
  unwritable('report -o', reportOut, 'rep'),
  refused(
    'report -o under /proc (not creatable)',
    'output: unwritable',
    reportOut('/proc/moerig-report'),
    /\/proc\/moerig-report/,
  ),
  inMissingFolder('report -o', reportOut, 'nodir/sub/rep'),
  overInput('trace convert OUTPUT = INPUT', traceOut, 'trace.csv'),
  overInput('trace convert OUTPUT = an existing file', traceOut, 'hw.json'),
  unwritable('trace convert OUTPUT', traceOut, 'x.moetrace'),
  intoFolder('trace convert OUTPUT', traceOut),
  inMissingFolder('trace convert OUTPUT', traceOut, 'nodir/x.moetrace'),
  overInput('synth -o = an existing file', synthOut, 'hw.json'),
  unwritable('synth -o', synthOut, 'x.gguf'),
  intoFolder('synth -o', synthOut),
]
cases.push(...OUTPUTS)

/** Valid arguments per command, so that the flag under test is the only problem. */
const BASE: Record<string, string[]> = {
  plan: ['plan', 'deepseek-r1', '--hardware', 'hw.json'],
  probe: ['probe'],
  bench: ['bench', 'tiny.gguf', '--no-save'],
  run: ['run', 'tiny.gguf', '--prompt', 'hi', '--no-save'],
  synth: ['synth', '-p', 'tiny', '-o', 'new.gguf'],
  reuse: ['reuse', 'trace.moetrace', '--hardware', 'hw.json'],
  report: ['report', 'hw.json', '-o', 'rep'],
  trace: ['trace', 'convert', 'trace.moetrace', 'new.csv'],
  'check-plan': ['check-plan', 'plan.json'],
  demo: ['demo', '-o', 'rep', '--cache', 'cache'],
  models: ['models'],
  engine: ['engine'],
  profiles: ['profiles'],
  'profiles show': ['profiles', 'show', 'hw.json'],
  'profiles validate': ['profiles', 'validate', 'hw.json'],
  // every calibrate case is refused while parsing, before anything is measured
  calibrate: ['calibrate', '--save', 'cal.json', '--budget', '10s'],
  // refused while parsing too, before the engine starts
  tune: ['tune', 'tiny.gguf', '--budget', '5s', '--no-save'],
}

const HUGE = '9007199254740993' // 2^53 + 1: past what a JS number holds exactly

type FlagDef = {type?: string; min?: number; max?: number; char?: string; hidden?: boolean}
async function integerFlags(): Promise<Array<[string, string, FlagDef]>> {
  const out: Array<[string, string, FlagDef]> = []
  for (const cmd of Object.keys(BASE)) {
    const file = join(root, 'dist', 'commands', ...cmd.split(' ')) + (cmd === 'profiles' ? '/index.js' : '.js')
    const mod = (await import(file)) as {default: {flags?: Record<string, FlagDef>}}
    for (const [name, def] of Object.entries(mod.default.flags ?? {})) {
      if (def.type === 'option' && (def.min !== undefined || def.max !== undefined)) out.push([cmd, name, def])
    }
  }
  return out
}

function numericCases(flags: Array<[string, string, FlagDef]>): Case[] {
  const out: Case[] = []
  for (const [cmd, name, def] of flags) {
    const values = new Map<string, string>()
    values.set('non-number', 'abc')
    if (def.min !== undefined && def.min >= 1) values.set('0', '0')
    if (def.min !== undefined && def.min >= 0) values.set('negative', '-1')
    if (def.max !== undefined) values.set('above max', String(def.max + 1))
    values.set('huge', HUGE)
    for (const [cls, v] of values) {
      const shown = v === HUGE ? '9007199254740992|9007199254740993' : v
      out.push({
        name: `${cmd} --${name} ${v}`,
        cls: `numeric flag: ${cls}`,
        args: [...BASE[cmd], `--${name}=${v}`],
        expect: new RegExp(`--${name}\\b.*(${shown})`),
        exit: 2,
      })
    }
  }
  return out
}

/** Flags whose numbers are parsed by the command (lists, sizes, fractions), not by oclif. */
const CUSTOM_NUMBERS: Case[] = [
  {
    name: 'bench -p abc',
    cls: 'numeric flag: non-number',
    args: ['bench', 'tiny.gguf', '--no-save', '-p', 'abc'],
    expect: /n-prompt|-p\b/,
  },
  {
    name: 'bench -n -1',
    cls: 'numeric flag: negative',
    args: ['bench', 'tiny.gguf', '--no-save', '-n', '-1'],
    expect: /n-gen|-n\b/,
  },
  {
    name: 'run --temperature abc',
    cls: 'numeric flag: non-number',
    args: ['run', 'tiny.gguf', '--prompt', 'hi', '--no-save', '--temperature', 'abc'],
    expect: /temperature/,
  },
  {
    name: 'run --temperature -1',
    cls: 'numeric flag: negative',
    args: ['run', 'tiny.gguf', '--prompt', 'hi', '--no-save', '--temperature=-1'],
    expect: /temperature/,
  },
  {name: 'reuse --cache 0', cls: 'numeric flag: 0', args: ['reuse', 'trace.moetrace', '--cache', '0'], expect: /cache/},
  {
    name: 'reuse --cache abc',
    cls: 'numeric flag: non-number',
    args: ['reuse', 'trace.moetrace', '--cache', 'abc'],
    expect: /cache/,
  },
  {
    name: 'reuse --warmup -1',
    cls: 'numeric flag: negative',
    args: ['reuse', 'trace.moetrace', '--warmup=-1'],
    expect: /warmup/,
  },
  {
    name: 'reuse --vram abc',
    cls: 'numeric flag: non-number',
    args: ['reuse', 'trace.moetrace', '--vram', 'abc', '--expert-bytes', '1MB'],
    expect: /vram/,
  },
  {
    name: 'reuse --from abc',
    cls: 'numeric flag: non-number',
    args: ['reuse', 'trace.moetrace', '--from', 'abc'],
    expect: /from/,
  },
  {
    name: 'plan --threads 9999 (more than the CPUs)',
    cls: 'numeric flag: huge',
    args: ['plan', 'deepseek-r1', '--hardware', 'probe', '--threads', '9999'],
    expect: /threads/,
    okIfOutput: /thread/,
  },
  {
    name: 'bench -t 9999 (more than the CPUs)',
    cls: 'numeric flag: huge',
    args: ['bench', 'tiny.gguf', '--no-save', '-p', '8', '-n', '2', '-r', '1', '--no-warmup', '-t', '9999'],
    expect: /thread|-t 9999\b/,
    okIfOutput: /thread/,
  },
  {
    name: 'run -t 999999 (more than the CPUs)',
    cls: 'numeric flag: huge',
    args: ['run', 'tiny.gguf', '--prompt', 'hi', '-n', '2', '--no-save', '-t', '999999'],
    expect: /thread|-t 999999\b/,
    okIfOutput: /thread/,
  },
  {
    name: 'plan --ubatch > --batch',
    cls: 'numeric flag: ubatch > batch',
    args: ['plan', 'deepseek-r1', '--hardware', 'hw.json', '--ubatch', '1024', '--batch', '512'],
    expect: /ubatch.*batch/,
  },
  {
    name: 'bench --ubatch-size > --batch-size',
    cls: 'numeric flag: ubatch > batch',
    args: ['bench', 'tiny.gguf', '--no-save', '--ubatch-size', '1024', '--batch-size', '512'],
    expect: /ubatch.*batch/,
  },
]
cases.push(...CUSTOM_NUMBERS)

/** Usage: missing arguments or required flags, unknown flags, empty values, unknown commands. */
const USAGE: Case[] = [
  ...[
    ['plan'],
    ['run', 'tiny.gguf'],
    ['synth'],
    ['synth', '-p', 'tiny'],
    ['trace'],
    ['trace', 'convert', 'trace.csv'],
    ['reuse'],
    ['check-plan'],
    ['profiles', 'show'],
    ['profiles', 'validate'],
  ].map((args): Case => ({
    name: `${args.join(' ')} (missing)`,
    cls: 'usage: missing argument or required flag',
    args,
    expect: /^missing (argument|required flag)/,
    exit: 2,
  })),
  ...Object.entries(BASE).map(([cmd, args]): Case => ({
    name: `${cmd} --bogus`,
    cls: 'usage: unknown flag',
    args: [...args, '--bogus'],
    expect: /unknown flag --bogus/,
    exit: 2,
  })),
  {name: 'plan "" (empty MODEL)', cls: 'usage: empty value', args: ['plan', ''], expect: /MODEL.*""/, exit: 2},
  {
    name: 'plan -o ""',
    cls: 'usage: empty value',
    args: ['plan', 'deepseek-r1', '--hardware', 'hw.json', '-o', ''],
    expect: /--output.*""/,
    exit: 2,
  },
  {
    name: 'report -o ""',
    cls: 'usage: empty value',
    args: ['report', 'hw.json', '-o', ''],
    expect: /--output.*""/,
    exit: 2,
  },
  {
    name: 'synth -o ""',
    cls: 'usage: empty value',
    args: ['synth', '-p', 'tiny', '-o', ''],
    expect: /--output.*""/,
    exit: 2,
  },
  {
    name: 'plan --engine foo',
    cls: 'usage: value not among the options',
    args: ['plan', 'deepseek-r1', '--engine', 'foo'],
    expect: /--engine must be one of .*foo/,
    exit: 2,
  },
  {
    name: 'trace frobnicate',
    cls: 'usage: value not among the options',
    args: ['trace', 'frobnicate', 'a', 'b'],
    expect: /ACTION must be one of convert, got frobnicate/,
    exit: 2,
  },
  {
    name: 'plan a b (extra argument)',
    cls: 'usage: unexpected argument',
    args: ['plan', 'deepseek-r1', 'extra'],
    expect: /unexpected argument extra/,
    exit: 2,
  },
  {
    name: 'plan --ctx (no value)',
    cls: 'usage: flag without value',
    args: ['plan', 'deepseek-r1', '--ctx'],
    expect: /--ctx.*needs a value/,
    exit: 2,
  },
  {name: 'nope (unknown command)', cls: 'usage: unknown command', args: ['nope'], expect: /no command "nope"/, exit: 2},
  {
    name: 'synth -p nope',
    cls: 'usage: unknown preset/model',
    args: ['synth', '-p', 'nope', '-o', 'x.gguf'],
    expect: /nope/,
  },
  {
    name: 'plan nope-model',
    cls: 'usage: unknown preset/model',
    args: ['plan', 'nope-model', '--hardware', 'hw.json'],
    expect: /nope-model/,
  },
  {
    name: 'profiles show nope-id',
    cls: 'usage: unknown preset/model',
    args: ['profiles', 'show', 'nope-id'],
    expect: /nope-id/,
  },
]
cases.push(...USAGE)

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

const STACK = /^\s+at .+[:(]/m

function checkFailure(c: Case, mode: 'text' | 'json', r: Spawned, diff: string[], dir: string): void {
  const out = `exit ${r.status}${r.signal ? ` signal ${r.signal}` : ''}\nstdout: ${r.stdout.slice(0, 600)}\nstderr: ${r.stderr.slice(0, 600)}`
  assert.equal(r.timedOut, false, `hung (killed after ${TIMEOUT_MS} ms)\n${out}`)
  assert.equal(r.signal, null, `died of a signal\n${out}`)
  assert.doesNotMatch(r.stdout + r.stderr, STACK, `stack trace\n${out}`)
  const allowedNew = new Set<string>()
  if (r.status === 0) {
    if (c.mayCreate && existsSync(join(dir, c.mayCreate))) {
      // created the missing folders and wrote the output: fine, and nothing else may appear
      const parts = c.mayCreate.split('/')
      for (let i = 1; i <= parts.length; i++)
        allowedNew.add(parts.slice(0, i).join('/') + (i < parts.length ? '/' : ''))
      const left = diff.filter(
        (d) =>
          !(
            d.startsWith('left ') &&
            [...allowedNew].some((a) => d.slice(5) === a || d.slice(5).startsWith(c.mayCreate + '/'))
          ),
      )
      assert.deepEqual(left, [], `succeeded but changed other files\n${out}`)
      return
    }
    if (c.okIfOutput && c.okIfOutput.test(r.stdout + r.stderr)) return
    assert.fail(`exit 0: accepted the bad input\n${out}`)
  }
  assert.notEqual(r.status, 0, out)
  if (c.exit !== undefined) assert.equal(r.status, c.exit, `exit code\n${out}`)
  assert.deepEqual(diff, [], `files changed, removed or left behind\n${out}`)
  let message: string
  if (mode === 'text') {
    const errLines = lines(r.stderr)
    assert.equal(errLines.length, 1, `not one line on stderr\n${out}`)
    assert.match(errLines[0], /^moerig: error: /, out)
    message = errLines[0].replace(/^moerig: error: /, '')
  } else if (c.validator) {
    const parsed = JSON.parse(r.stdout) as {results: Array<{file: string; valid: boolean; errors: string[]}>}
    assert.equal(parsed.results.length, 1, out)
    assert.equal(parsed.results[0].valid, false, out)
    assert.equal(parsed.results[0].errors.length, 1, `one problem per file\n${out}`)
    assert.deepEqual(lines(r.stderr), [], `stderr under --json\n${out}`)
    return
  } else {
    let parsed: {error?: {code?: unknown; message?: unknown}}
    try {
      parsed = JSON.parse(r.stdout)
    } catch {
      assert.fail(`stdout is not one JSON document\n${out}`)
    }
    assert.equal(typeof parsed.error?.code, 'string', `no error.code\n${out}`)
    assert.equal(typeof parsed.error?.message, 'string', `no error.message\n${out}`)
    assert.deepEqual(Object.keys(parsed), ['error'], out)
    message = parsed.error!.message as string
    assert.ok(!message.includes('\n'), `message is not one line\n${out}`)
    assert.deepEqual(lines(r.stderr), [], `stderr under --json\n${out}`)
  }
  if (c.expect) assert.match(message, c.expect, `the line does not name the problem\n${out}`)
}

const results: Array<{c: Case; mode: 'text' | 'json'; r: Spawned; diff: string[]; dir: string}> = []

test('bad input: every command, file argument and numeric flag', async (t) => {
  setupInputs()
  cases.push(...numericCases(await integerFlags()))
  // Each case runs in one mode, text and --json alternating down the table, so every class is
  // checked both ways at half the spawns (MOERIG_BAD_INPUT_BOTH=1 runs every case both ways).
  const both = Boolean(process.env.MOERIG_BAD_INPUT_BOTH)
  const jobs = cases.flatMap((c, i) =>
    (c.modes ?? (both ? ['text', 'json'] : [i % 2 === 0 ? 'text' : 'json'])).map((mode) => async () => {
      const dir = caseDir()
      const before = snapshot(dir)
      const r = await runCli(mode === 'json' ? [...c.args, '--json'] : c.args, {cwd: dir, timeoutMs: TIMEOUT_MS})
      const diff = snapshotDiff(before, snapshot(dir))
      results.push({c, mode, r, diff, dir})
      return null
    }),
  )
  const t0 = Date.now()
  await pool(jobs, WIDTH)
  t.diagnostic(`${jobs.length} spawns in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${WIDTH} at a time`)
  results.sort((a, b) => (a.c.name + a.mode).localeCompare(b.c.name + b.mode))
  for (const {c, mode, r, diff, dir} of results) {
    await t.test(`${c.cls} · ${c.name} · ${mode}`, c.todo ? {todo: c.todo} : {}, () =>
      checkFailure(c, mode, r, diff, dir),
    )
  }
  // The inputs the case folders link to are untouched.
  const untouched = snapshot(IN)
  for (const f of INPUT_FILES) assert.ok(untouched.has(f), `input ${f} removed`)
})

// ---------------------------------------------------------------------------------------------
// Signals during long work
// ---------------------------------------------------------------------------------------------

interface SignalCase {
  name: string
  args: string[]
  /** send the signal once this holds (polled), else after `afterMs` */
  when?: (dir: string) => boolean
  afterMs?: number
  /** files the command may leave (results it saved), as a pattern on the relative path */
  mayLeave?: RegExp
  /** it may also finish before the signal lands (short work) */
  mayFinish?: boolean
  /** keeps and prints what finished (bench repetitions, run tokens): a "stopped" line, then the partial result */
  keepsPartial?: boolean
  todo?: string
}

const tempIn = (dir: string) => readdirSync(dir).some((f) => /\.tmp|\.f16-/.test(f))

const SIGNAL_CASES: SignalCase[] = [
  // r1-mini (1.5 GB, seconds to write): tiny now writes in ~50 ms, before any signal could land
  {name: 'synth r1-mini', args: ['synth', '-p', 'r1-mini', '-o', 'out.gguf', '-t', '1'], when: tempIn, afterMs: 20_000},
  {
    name: 'bench',
    args: ['bench', 'tiny.gguf', '-p', '64', '-n', '16', '-r', '1000', '-t', '1', '--runs-dir', 'runs'],
    afterMs: 5000,
    keepsPartial: true,
    mayLeave: /^runs\/?$|^runs\/[^.][^/]*\.json$/,
  },
  {
    name: 'run',
    args: ['run', 'tiny.gguf', '--prompt', 'hello', '-n', '100000', '-t', '1', '--runs-dir', 'runs'],
    afterMs: 5000,
    keepsPartial: true,
    mayLeave: /^runs\/?$|^runs\/[^.][^/]*\.json$/,
  },
  {name: 'probe --measure', args: ['probe', '--measure', '--repetitions', '100', '--save', 'p.json'], afterMs: 2500},
  {
    name: 'report',
    args: ['report', 'hw.json', 'plan.json', 'trace.moetrace', '-o', 'rep'],
    when: (dir) => readdirSync(dir).some((f) => f.startsWith('.rep')),
    afterMs: 1500,
    mayFinish: true,
    mayLeave: /^rep\//,
  },
]

test('signals during long work: exit 130/143, one line, nothing lost, no temp file', async (t) => {
  if (INPUT_FILES.length === 0) setupInputs()
  const jobs = SIGNAL_CASES.flatMap((s) =>
    (['SIGINT', 'SIGTERM'] as const).map((sig) => async () => {
      const dir = caseDir()
      const before = snapshot(dir)
      const r = await runCli(s.args, {
        cwd: dir,
        timeoutMs: 60_000,
        signal: sig,
        signalAfterMs: s.afterMs,
        signalWhen: s.when ? () => s.when!(dir) : undefined,
      })
      return {s, sig, r, diff: snapshotDiff(before, snapshot(dir)), dir}
    }),
  )
  const done = await pool(jobs, 2)
  for (const {s, sig, r, diff} of done) {
    await t.test(`${s.name} · ${sig}`, s.todo ? {todo: s.todo} : {}, () => {
      const out = `exit ${r.status} signal ${r.signal} after ${r.ms} ms\nstdout: ${r.stdout.slice(-400)}\nstderr: ${r.stderr.slice(-600)}`
      assert.equal(r.timedOut, false, `hung\n${out}`)
      assert.equal(r.signal, null, `died of ${r.signal}\n${out}`)
      assert.doesNotMatch(r.stdout + r.stderr, STACK, out)
      const lost = diff.filter((d) => !d.startsWith('left '))
      assert.deepEqual(lost, [], `user files changed or removed\n${out}`)
      const left = diff.filter((d) => d.startsWith('left ') && !(s.mayLeave && s.mayLeave.test(d.slice(5))))
      if (r.status === 0 && s.mayFinish) return
      assert.deepEqual(left, [], `left behind\n${out}`)
      assert.equal(r.status, sig === 'SIGINT' ? 130 : 143, out)
      if (s.keepsPartial) {
        assert.match(r.stdout + r.stderr, /stopp|interrupt/i, `does not say it stopped\n${out}`)
        assert.ok(
          diff.some((d) => /^left runs\/[^.][^/]*\.json$/.test(d)),
          `the finished work was not saved\n${out}`,
        )
        return
      }
      assert.equal(lines(r.stderr).filter((l) => !/^\(stopping\)$/.test(l.trim())).length, 1, `not one line\n${out}`)
    })
  }
})

// ---------------------------------------------------------------------------------------------
// Terminal control characters in untrusted names (issue 12 item 20)
// ---------------------------------------------------------------------------------------------

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/

test('untrusted names never reach the terminal or report.md raw', async () => {
  if (INPUT_FILES.length === 0) setupInputs()
  const dir = caseDir()
  execFileSync(
    process.execPath,
    [bin, 'trace', 'convert', 'trace.csv', 'evil.moetrace', '--experts', '16', '--model-name', 'm\x1b[2J\x07\x9b'],
    {cwd: dir, stdio: 'ignore'},
  )
  const runs = await pool(
    [
      ['plan', 'evil.gguf', '--hardware', 'evil-hw.json'],
      ['profiles', 'show', 'evil-hw.json'],
      ['reuse', 'evil.moetrace'],
      ['plan', 'evil.gguf', '--hardware', 'hw.json', '-o', 'evil-plan.json'],
    ].map((args) => () => runCli(args, {cwd: dir, timeoutMs: TIMEOUT_MS})),
    4,
  )
  for (const r of runs) {
    assert.equal(r.status, 0, r.stderr)
    assert.doesNotMatch(r.stdout + r.stderr, CONTROL)
    assert.match(r.stdout, /\\x1b/) // shown, not hidden
  }
  const rep = await runCli(['report', 'evil-plan.json', 'evil.moetrace', '-o', 'rep'], {
    cwd: dir,
    timeoutMs: TIMEOUT_MS,
  })
  assert.equal(rep.status, 0, rep.stderr)
  const md = readdirSync(join(dir, 'rep')).find((f) => f.endsWith('.md'))
  assert.ok(md, 'report.md written')
  const text = readFileSync(join(dir, 'rep', md), 'utf8')
  assert.doesNotMatch(text, CONTROL)
  assert.match(text, /x1b/)
})

test('safeText/safeName, the escapers and the usage-error wording', () => {
  assert.equal(safeText('a\x1b[2Jb\nc\td'), 'a\\x1b[2Jb\nc\td')
  assert.equal(safeName('a\nb\x07\u202e\x9b'), 'a\\nb\\x07\\u202e\\x9b')
  assert.equal(safeName('Intel® Arc™ A770 — 16 GB'), 'Intel® Arc™ A770 — 16 GB')
  assert.doesNotMatch(escapeMd('x\x1b]0;t\x07'), CONTROL)
  assert.doesNotMatch(escapeHtml('<b>\x1b[31m</b>'), CONTROL)
  const flags = {
    ctx: {type: 'option', description: 'context length in tokens', min: 1},
    gpus: {type: 'option', description: 'use exactly N GPUs (default: best)', min: 0},
  }
  const err = Object.assign(
    new Error(
      'Parsing --ctx \n\tExpected an integer greater than or equal to 1 but received: 0\nSee more help with --help',
    ),
    {oclif: {exit: 2}},
  )
  assert.equal(
    describeUsageError(err, 'plan', flags, {}),
    '--ctx (context length in tokens) must be an integer ≥ 1, got 0',
  )
  const err2 = Object.assign(
    new Error('Parsing --gpus \n\tExpected an integer greater than or equal to 0 but received: -1'),
    {oclif: {exit: 2}},
  )
  assert.equal(
    describeUsageError(err2, 'plan', flags, {}),
    '--gpus (use exactly N GPUs) must be an integer ≥ 0, got -1',
  )
})

test('help: -h, help COMMAND, every command has a description or summary and examples', async () => {
  const [h, help, helpNested] = await pool(
    [
      ['plan', '-h'],
      ['help', 'plan'],
      ['help', 'profiles', 'show'],
    ].map((args) => () => runCli(args, {cwd: root, timeoutMs: TIMEOUT_MS})),
    3,
  )
  for (const r of [h, help, helpNested]) {
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /USAGE/)
  }
  assert.match(h.stdout, /moerig plan MODEL/)
  assert.equal(h.stdout, help.stdout)
  for (const cmd of ['engine', 'demo']) {
    const mod = (await import(join(root, 'dist', 'commands', `${cmd}.js`))) as {
      default: {description?: string; summary?: string; examples?: unknown[]}
    }
    assert.ok(mod.default.summary && mod.default.description, `${cmd} has a summary and a description`)
    assert.ok((mod.default.examples ?? []).length > 0, `${cmd} has examples`)
  }
})

test.after(() => {
  if (!process.env.MOERIG_KEEP_BAD_INPUT) rmSync(W, {recursive: true, force: true})
})
