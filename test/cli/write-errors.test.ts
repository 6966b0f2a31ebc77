/**
 * `plan -o` and `probe --save` when the file cannot be written: exactly one line, the errno words
 * once (writeJsonFile's MoerigError is not wrapped a second time: no "(E_FILE)" text), a non-zero
 * exit, and no hang under /proc (Node 20's recursive mkdirSync never returns there; lib/fs.ts
 * ensureDir walks the folders itself). Spawns bin/run.js (built by `tsc -b`) with a hard timeout.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {MoerigError} from '../../src/lib/errors.js'
import {writeJsonFile} from '../../src/lib/fs.js'
import {rig} from '../fixtures/plan/rigs.js'
import {tempDir} from '../support/tmp.js'

const dir = tempDir('moerig-write-')
const hwFile = join(dir, 'rig.json')
writeFileSync(hwFile, JSON.stringify(rig({id: 'rig', gpus: 1})))
const root = process.getuid?.() === 0

function moerig(args: string[]): {code: number | null; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8', timeout: 60_000})
  assert.equal(r.error, undefined, `${args.join(' ')}: ${r.error}`)
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

/** The command fails with exactly `message`: one stderr line in text mode, {"error"} under --json. */
function failsWith(args: string[], message: string): void {
  const r = moerig(args)
  assert.equal(r.code, 1, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`)
  assert.equal(r.stderr, `moerig: error: ${message}\n`)
  const j = moerig([...args, '--json'])
  assert.equal(j.code, 1)
  assert.deepEqual(JSON.parse(j.stdout), {error: {code: 'E_FILE', message}})
}

const plan = ['plan', 'deepseek-v2-lite', '--hardware', hwFile]

test('plan -o under a file (/proc/version): one line naming the folder that is a file', () => {
  failsWith([...plan, '-o', '/proc/version/plan.json'], 'output /proc/version/plan.json: /proc/version is not a folder')
})

test('plan -o in a folder /proc will not create: the errno line, once, and no hang', () => {
  // root passes the up-front check (it may write in /proc) and fails in writeJsonFile; others are refused first
  failsWith(
    [...plan, '-o', '/proc/moerig-no-such/plan.json'],
    root
      ? 'cannot create folder /proc/moerig-no-such: no such file or folder (ENOENT)'
      : 'output /proc/moerig-no-such/plan.json: cannot write in /proc: permission denied (EACCES)',
  )
})

test('probe --save under a file (/proc/version): one line, before probing', () => {
  failsWith(['probe', '--save', '/proc/version/hw.json'], '--save /proc/version/hw.json: /proc/version is not a folder')
})

test('writeJsonFile: one MoerigError with the errno words, never wrapped twice', () => {
  const target = join(dir, 'a-folder')
  writeJsonFile(join(target, 'inner.json'), {ok: true}) // creates a-folder
  assert.throws(
    () => writeJsonFile(target, {}),
    (e: unknown) =>
      e instanceof MoerigError &&
      e.code === 'E_FILE' &&
      e.message === `cannot write ${target}: it is a folder (EISDIR)`,
  )
  assert.throws(
    () => writeJsonFile('/proc/version/plan.json', {}),
    (e: unknown) =>
      e instanceof MoerigError && e.message === 'cannot create folder /proc/version: a file of that name is in the way',
  )
})
