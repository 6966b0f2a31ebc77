import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'

test('moerig --help lists commands', () => {
  const out = execFileSync(process.execPath, ['bin/run.js', '--help'], {encoding: 'utf8'})
  assert.match(out, /USAGE/)
  assert.match(out, /COMMANDS/)
})

test('unknown command exits non-zero with one line', () => {
  let code = 0
  let stderr = ''
  try {
    execFileSync(process.execPath, ['bin/run.js', 'nope'], {encoding: 'utf8', stdio: 'pipe'})
  } catch (e) {
    code = (e as {status: number}).status
    stderr = (e as {stderr: string}).stderr
  }
  assert.notEqual(code, 0)
  assert.match(stderr, /nope/)
})
