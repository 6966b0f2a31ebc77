/**
 * Issue 12, data loss: nothing of the user's is overwritten or removed, no temp file is left, and
 * every refusal is one line (or `{"error": {code, message}}` under --json) with a non-zero exit.
 * CLI behaviour is tested by spawning bin/run.js (build first: `npx tsc -b`).
 */
import {tempDir} from '../support/tmp.js'
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {join, resolve} from 'node:path'
import {MoerigError} from '../../src/lib/errors.js'
import {
  checkOutputFolder,
  checkOverwrite,
  freshPath,
  ownKind,
  parseJsonText,
  writeFileAtomic,
} from '../../src/lib/fs.js'
import {runDemo} from '../../src/demo/demo.js'
import {readJsonFile} from '../../src/schemas/validate.js'
import {tinyHeader} from '../support/reuse-synth.js'
import {createTraceWriter, openTrace, writeTrace, type TraceHeader} from '../../src/trace/trace.js'
import {planSchema} from '../../src/schemas/plan.js'

const BIN = resolve('bin/run.js')
const FIX = resolve('test/fixtures/report')
const CSV = resolve('test/fixtures/traces/markov-tiny.csv')
const HARDWARE = resolve('profiles/hardware/dual-8592-2xa770.json')

function tmp(): string {
  return tempDir('moerig-safety-')
}

interface Ran {
  status: number | null
  stdout: string
  stderr: string
}

function moerig(args: string[], cwd?: string): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], {encoding: 'utf8', cwd, timeout: 120_000})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** A refusal: non-zero exit, exactly one stderr line matching `re`. */
function refused(r: Ran, re: RegExp): void {
  assert.notEqual(r.status, 0, `expected a non-zero exit; stdout: ${r.stdout}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`)
  assert.match(lines[0], /^moerig: error: /)
  assert.match(lines[0], re)
}

/** The same refusal under --json: {"error": {code, message}} on stdout. */
function refusedJson(r: Ran, code: string, re: RegExp): void {
  assert.notEqual(r.status, 0)
  const j = JSON.parse(r.stdout) as {error: {code: string; message: string}}
  assert.equal(j.error.code, code)
  assert.match(j.error.message, re)
  assert.doesNotMatch(j.error.message, /\n/)
}

/** Every file under `dir` (relative), hidden ones included: temp files must not survive. */
function tree(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    if (e.isDirectory()) out.push(...tree(join(dir, e.name)).map((f) => `${e.name}/${f}`))
    else out.push(e.name)
  }
  return out.sort()
}

function noTemps(dir: string): void {
  const left = tree(dir).filter((f) => /\.tmp-|\.old-|\.f16-/.test(f))
  assert.deepEqual(left, [], `temp files left in ${dir}`)
}

const weightedHeader = (nTokens: number): TraceHeader => tinyHeader(nTokens, {hasWeights: true})

/** A small MOETRACE with gate weights (the part a CSV round trip would lose). */
function weightedTrace(path: string, nTokens = 20): void {
  const n = nTokens * 3
  const ids = new Uint16Array(n * 2)
  const weights = new Float32Array(n * 2)
  for (let r = 0; r < n; r++) {
    ids[2 * r] = r % 16
    ids[2 * r + 1] = (r + 5) % 16
    weights[2 * r] = 0.75
    weights[2 * r + 1] = 0.25
  }
  writeTrace(path, weightedHeader(nTokens), ids, weights)
}

// ---------------------------------------------------------------- report -o

test('report -o . refuses: the working folder holds the input (it used to be wiped)', () => {
  const dir = tmp()
  try {
    copyFileSync(join(FIX, 'plan-reference.json'), join(dir, 'plan.json'))
    writeFileSync(join(dir, 'notes.txt'), 'mine')
    const before = tree(dir)
    refused(moerig(['report', 'plan.json', '-o', '.'], dir), /report folder \. holds the input plan\.json/)
    assert.deepEqual(tree(dir), before)
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine')
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('report -o FILE refuses and leaves the file a file', () => {
  const dir = tmp()
  try {
    const victim = join(dir, 'victim.json')
    writeFileSync(victim, '{"mine": true}\n')
    refused(
      moerig(['report', join(FIX, 'plan-reference.json'), '-o', victim]),
      /victim\.json is a file, not a folder; give a new or empty folder/,
    )
    assert.equal(readFileSync(victim, 'utf8'), '{"mine": true}\n')
    refusedJson(
      moerig(['report', join(FIX, 'plan-reference.json'), '-o', victim, '--json']),
      'E_REPORT_FOLDER',
      /is a file/,
    )
    assert.deepEqual(tree(dir), ['victim.json'])
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('report of results inside the target folder refuses (bench results were deleted)', () => {
  const dir = tmp()
  try {
    const runs = join(dir, 'runs')
    mkdirSync(runs)
    copyFileSync(join(FIX, 'bench-2t.json'), join(runs, 'bench.json'))
    refused(moerig(['report', join(runs, 'bench.json'), '-o', runs]), /holds the input .*bench\.json/)
    assert.deepEqual(tree(dir), ['runs/bench.json'])
    // a folder of the user's, even without the inputs in it, is never replaced
    writeFileSync(join(dir, 'x.txt'), 'keep')
    refused(moerig(['report', join(FIX, 'plan-reference.json'), '-o', dir]), /is not empty and holds no moerig report/)
    assert.deepEqual(tree(dir), ['runs/bench.json', 'x.txt'])
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('report replaces its own report folder, but not a file the user put in it', () => {
  const dir = tmp()
  try {
    const out = join(dir, 'r')
    const plan = join(FIX, 'plan-reference.json')
    assert.equal(moerig(['report', plan, '-o', out]).status, 0)
    assert.ok(existsSync(join(out, '.moerig-report')), 'marker written')
    const marker = JSON.parse(readFileSync(join(out, '.moerig-report'), 'utf8')) as {kind: string; files: string[]}
    assert.equal(marker.kind, 'report')
    assert.deepEqual([...marker.files, '.moerig-report'].sort(), tree(out))
    // a second report replaces the first
    assert.equal(moerig(['report', plan, '-o', out, '--title', 'second']).status, 0)
    assert.match(readFileSync(join(out, 'index.html'), 'utf8'), /second/)
    writeFileSync(join(out, 'my-notes.md'), 'mine')
    refused(moerig(['report', plan, '-o', out]), /holds my-notes\.md, which moerig did not write/)
    assert.equal(readFileSync(join(out, 'my-notes.md'), 'utf8'), 'mine')
    noTemps(dir)
    rmSync(join(out, 'my-notes.md'))
    // a report without charts (a hardware profile alone) is replaced the same way
    assert.equal(moerig(['report', join(FIX, 'hardware.json'), '-o', out]).status, 0)
    assert.equal(moerig(['report', join(FIX, 'hardware.json'), '-o', out]).status, 0)
    // an empty folder is fine
    mkdirSync(join(dir, 'empty'))
    assert.equal(moerig(['report', plan, '-o', join(dir, 'empty')]).status, 0)
    assert.ok(existsSync(join(dir, 'empty', 'index.html')))
    noTemps(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

// ---------------------------------------------------------------- trace convert

test('trace convert X X refuses (also through a symlink or a hard link); the input is untouched', () => {
  const dir = tmp()
  try {
    const t = join(dir, 'a.moetrace')
    weightedTrace(t)
    const bytes = readFileSync(t)
    refused(moerig(['trace', 'convert', t, t]), /is the input file/)
    symlinkSync(t, join(dir, 'link.csv'))
    refused(moerig(['trace', 'convert', t, join(dir, 'link.csv'), '--force']), /is the input file/)
    linkSync(t, join(dir, 'hard.moetrace'))
    refusedJson(
      moerig(['trace', 'convert', join(dir, 'hard.moetrace'), t, '--force', '--json']),
      'E_SAME_FILE',
      /is the input file/,
    )
    assert.deepEqual(readFileSync(t), bytes)
    const csv = join(dir, 'b.csv')
    copyFileSync(CSV, csv)
    refused(moerig(['trace', 'convert', csv, csv, '--experts', '16']), /is the input file/)
    assert.deepEqual(readFileSync(csv), readFileSync(CSV))
    noTemps(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('trace convert picks the format from the output name: csv → csv is CSV, moetrace → moetrace keeps the weights', async () => {
  const dir = tmp()
  try {
    const out = join(dir, 'copy.csv')
    const r = moerig(['trace', 'convert', CSV, out, '--experts', '16', '--json'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).to, 'csv')
    assert.match(readFileSync(out, 'utf8'), /^token,layer,experts\n0,1,/)
    const t = join(dir, 'w.moetrace')
    weightedTrace(t)
    const copy = join(dir, 'w2.moetrace')
    assert.equal(moerig(['trace', 'convert', t, copy]).status, 0)
    assert.deepEqual(readFileSync(copy), readFileSync(t))
    const src = openTrace(copy)
    assert.equal(src.header.hasWeights, true)
    for await (const c of src.chunks()) assert.equal(c.weights?.[0], 0.75)
    noTemps(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('trace convert over an existing file: a moerig trace is replaced, anything else needs --force', () => {
  const dir = tmp()
  try {
    const t = join(dir, 'a.moetrace')
    weightedTrace(t)
    const other = join(dir, 'other.moetrace')
    weightedTrace(other, 5)
    assert.equal(moerig(['trace', 'convert', t, other]).status, 0, 'an old moerig trace is replaced')
    const mine = join(dir, 'mine.csv')
    writeFileSync(mine, 'my spreadsheet\n')
    refused(moerig(['trace', 'convert', t, mine]), /mine\.csv already exists; pass --force to overwrite it/)
    assert.equal(readFileSync(mine, 'utf8'), 'my spreadsheet\n')
    const notes = join(dir, 'notes.bin')
    writeFileSync(notes, 'not a trace')
    refusedJson(
      moerig(['trace', 'convert', t, notes, '--json']),
      'E_EXISTS',
      /already exists and was not written by moerig; pass --force/,
    )
    assert.equal(readFileSync(notes, 'utf8'), 'not a trace')
    assert.equal(moerig(['trace', 'convert', t, mine, '-f']).status, 0)
    assert.match(readFileSync(mine, 'utf8'), /^token,layer,experts\n/)
    refused(moerig(['trace', 'convert', t, dir, '--force']), /is a folder; give a file name/)
    noTemps(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test("demo --cache refuses a folder of the user's (the demo removes its outputs there before rebuilding)", async () => {
  const dir = tmp()
  try {
    writeFileSync(join(dir, 'bench.json'), '{"mine": true}')
    const silent = {phase() {}, update() {}, step() {}, done() {}}
    await assert.rejects(
      runDemo({
        root: resolve('.'),
        preset: 'tiny',
        cacheDir: dir,
        reportDir: join(dir, 'report'),
        fresh: true,
        hasCommand: () => true,
        log: () => {},
        progress: silent,
      }),
      (e: Error) =>
        e instanceof Error &&
        /cache folder .* is not empty and is not a moerig cache/.test(e.message) &&
        !e.message.includes('\n'),
    )
    assert.deepEqual(tree(dir), ['bench.json'])
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

// ---------------------------------------------------------------- run --trace, plan -o, probe --save

test('run --trace FOLDER fails up front with one line and leaves no temp file', () => {
  const dir = tmp()
  try {
    // the model does not even exist: the --trace check comes before anything else
    refused(
      moerig(['run', join(dir, 'none.gguf'), '--prompt', 'hi', '--trace', dir, '--no-save']),
      /--trace .* is a folder; give a file name/,
    )
    const mine = join(dir, 'mine.txt')
    writeFileSync(mine, 'mine')
    refusedJson(
      moerig(['run', join(dir, 'none.gguf'), '--prompt', 'hi', '--trace', mine, '--no-save', '--json']),
      'E_EXISTS',
      /not written by moerig; pass --force/,
    )
    assert.deepEqual(tree(dir), ['mine.txt'])
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('plan -o: over a plan is fine, over another file needs --force, errno shown once', () => {
  const dir = tmp()
  try {
    const out = join(dir, 'plan.json')
    const args = ['plan', 'deepseek-r1', '--hardware', HARDWARE]
    assert.equal(moerig([...args, '-o', out]).status, 0)
    assert.equal(ownKind(out), 'plan')
    assert.equal(moerig([...args, '-o', out]).status, 0, 'a plan moerig wrote is replaced')
    const mine = join(dir, 'mine.json')
    writeFileSync(mine, '{"mine": 1}\n')
    refused(moerig([...args, '-o', mine]), /mine\.json already exists and was not written by moerig; pass --force/)
    assert.equal(readFileSync(mine, 'utf8'), '{"mine": 1}\n')
    // a probed profile is a moerig file, but not a plan
    const prof = join(dir, 'rig.json')
    writeFileSync(prof, JSON.stringify({schemaVersion: 1, kind: 'hardware', origin: 'probe'}))
    refused(moerig([...args, '-o', prof]), /is a moerig hardware file, not a plan/)
    assert.equal(moerig([...args, '-o', mine, '--force']).status, 0)
    assert.equal(ownKind(mine), 'plan')
    // the hardware input itself can never be the output
    copyFileSync(HARDWARE, join(dir, 'hw.json'))
    refused(
      moerig(['plan', 'deepseek-r1', '--hardware', join(dir, 'hw.json'), '-o', join(dir, 'hw.json'), '--force']),
      /is the input file/,
    )
    // one errno message, not "cannot write … (E_FILE)"
    const r = moerig([...args, '-o', '/proc/version/plan.json'])
    refused(r, /\/proc\/version is not a folder/)
    assert.doesNotMatch(r.stderr, /E_FILE|cannot write .*cannot write/)
    noTemps(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('probe --save over a file probe did not write needs --force (checked before probing)', () => {
  const dir = tmp()
  try {
    const sysroot = resolve('test/fixtures/probe/dual-spr-2numa')
    const ref = join(dir, 'reference.json')
    copyFileSync(HARDWARE, ref) // a hand-written reference rig: the user's work
    const before = readFileSync(ref, 'utf8')
    refused(
      moerig(['probe', '--sysroot', sysroot, '--save', ref]),
      /--save .*reference\.json already exists and was not written by moerig; pass --force/,
    )
    assert.equal(readFileSync(ref, 'utf8'), before)
    const out = join(dir, 'probed.json')
    assert.equal(moerig(['probe', '--sysroot', sysroot, '--save', out]).status, 0)
    assert.equal(moerig(['probe', '--sysroot', sysroot, '--save', out]).status, 0, 'a probed profile is replaced')
    assert.equal(moerig(['probe', '--sysroot', sysroot, '--save', ref, '--force']).status, 0)
    noTemps(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

// ---------------------------------------------------------------- JSON readers

test('JSON: a byte-order mark is accepted; 200 k levels of nesting are one line naming the file', () => {
  const dir = tmp()
  try {
    const bom = join(dir, 'bom-plan.json')
    writeFileSync(bom, '\ufeff' + readFileSync(join(FIX, 'plan-reference.json'), 'utf8'))
    assert.equal(readJsonFile<{kind: string}>(bom, planSchema, 'plan').kind, 'plan')
    assert.equal(moerig(['report', bom, '-o', join(dir, 'r')]).status, 0, 'report reads a plan with a BOM')
    const deep = join(dir, 'deep.json')
    writeFileSync(deep, '['.repeat(200_000) + ']'.repeat(200_000))
    assert.throws(
      () => readJsonFile(deep, planSchema, 'plan'),
      (e: Error) => {
        assert.ok(e instanceof MoerigError)
        assert.match(e.message, /plan .*deep\.json: not usable JSON \(nested more than 512 levels deep\)/)
        return true
      },
    )
    refused(
      moerig(['report', deep, '-o', join(dir, 'r2')]),
      /deep\.json: not usable JSON \(nested more than 512 levels deep\)/,
    )
    refused(
      moerig(['plan', 'deepseek-r1', '--hardware', deep]),
      /hardware profile .*deep\.json: not usable JSON \(nested more than 512 levels deep\)/,
    )
    const deepProfile = moerig(['profiles', 'validate', deep])
    assert.notEqual(deepProfile.status, 0)
    assert.match(deepProfile.stdout + deepProfile.stderr, /deep\.json: not usable JSON/)
    assert.doesNotMatch(deepProfile.stdout + deepProfile.stderr, /call stack/)
    const bomProfile = join(dir, 'bom-rig.json')
    writeFileSync(bomProfile, '\ufeff' + readFileSync(HARDWARE, 'utf8'))
    assert.equal(moerig(['profiles', 'validate', bomProfile]).status, 0, 'a profile with a BOM is valid')
    assert.throws(() => parseJsonText('{"a": [1,}', 'x.json'), /x\.json: not valid JSON/)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

// ---------------------------------------------------------------- writers and temp files

test('a failed write is one line naming the file and leaves no temp file', () => {
  const dir = tmp()
  try {
    mkdirSync(join(dir, 'taken'))
    assert.throws(
      () => writeFileAtomic(join(dir, 'taken'), 'x'),
      /cannot write .*taken: it is a folder \(EISDIR\)|cannot write .*taken: .*\(E/,
    )
    noTemps(dir)
    // the streaming trace writer (run --trace): rename onto a folder used to leave "models.tmp-PID"
    const w = createTraceWriter(join(dir, 'taken'), {...weightedHeader(0), hasWeights: false})
    w.append(new Uint16Array([0, 1, 2, 3, 4, 5]))
    assert.throws(
      () => w.close(),
      (e: Error) => {
        assert.ok(e instanceof MoerigError, `MoerigError, got ${e.stack}`)
        assert.match(e.message, /taken/)
        assert.doesNotMatch(e.message, /\.tmp-|\n/)
        return true
      },
    )
    noTemps(dir)
    assert.throws(() => checkOverwrite(join(dir, 'taken'), {kind: 'plan'}), /is a folder/)
    assert.throws(() => checkOverwrite('/dev/null', {kind: null, force: true}), /not a regular file/)
    writeFileSync(join(dir, 'runs'), 'a file')
    assert.throws(() => checkOutputFolder(join(dir, 'runs'), '--runs-dir'), /--runs-dir .*runs is a file, not a folder/)
    checkOutputFolder(join(dir, 'new', 'runs'), '--runs-dir')
    // result files named by the second: a second run in the same second gets its own name
    const r = join(dir, '20260101T000000Z-bench-tiny.json')
    assert.equal(freshPath(r), r)
    writeFileSync(r, '{}')
    assert.equal(freshPath(r), join(dir, '20260101T000000Z-bench-tiny-2.json'))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('SIGTERM, SIGINT and SIGHUP during an atomic write: exit 128+n, one line, no temp file', async () => {
  const dir = tmp()
  try {
    const script = join(dir, 'writer.ts')
    writeFileSync(
      script,
      `import {startTemp} from ${JSON.stringify(resolve('src/lib/fs.ts'))}
import {writeFileSync} from 'node:fs'
const t = startTemp(process.argv[2])
writeFileSync(t.tmp, 'half')
process.stdout.write('ready\\n')
setInterval(() => {}, 1000)
`,
    )
    for (const [sig, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
      ['SIGHUP', 129],
    ] as const) {
      const out = join(dir, `${sig}.json`)
      const child = spawn(process.execPath, ['--import', 'tsx', script, out], {stdio: ['ignore', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      await new Promise<void>((r) => child.stdout.once('data', () => r()))
      assert.equal(tree(dir).filter((f) => f.includes('.tmp-')).length, 1, 'the temp file exists while writing')
      child.kill(sig)
      const status = await new Promise<number | null>((r) => child.on('close', (c) => r(c)))
      assert.equal(status, code, `${sig}: ${stderr}`)
      assert.equal(stderr.trim().split('\n').length, 1, stderr)
      assert.match(stderr, /moerig: (interrupted|stopped by SIG\w+); unfinished output removed/)
      assert.ok(!existsSync(out))
      noTemps(dir)
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('synth -o over a pipe or device is refused even with --force (the rename would replace the node)', () => {
  const dir = tmp()
  try {
    const fifo = join(dir, 'pipe')
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0)
    refused(moerig(['synth', '--preset', 'tiny', '-o', fifo, '--force']), /pipe is not a regular file/)
    assert.deepEqual(readdirSync(dir), ['pipe'])
    assert.equal(lstatSync(fifo).isFIFO(), true)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})

test('synth: SIGTERM while writing leaves no hidden .tmp/.f16 file and exits 143 with one line', async () => {
  const dir = tmp()
  try {
    const out = join(dir, 't.gguf')
    const child = spawn(process.execPath, [BIN, 'synth', '--preset', 'tiny', '-o', out, '-t', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)))
    // wait until the native writer has created a temp file, then stop it
    let seen = false
    for (let i = 0; i < 4000 && child.exitCode === null; i++) {
      if (readdirSync(dir).some((f) => f.startsWith('.t.gguf.'))) {
        seen = true
        child.kill('SIGTERM')
        break
      }
      await new Promise((r) => setTimeout(r, 5))
    }
    const status = await closed
    assert.ok(seen, `no temp file seen (synth exited ${status}: ${stderr})`)
    assert.equal(status, 143, stderr)
    assert.match(stderr, /moerig: stopped by SIGTERM; nothing written/)
    assert.deepEqual(readdirSync(dir), [])
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
})
