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

test('moerig engine --json lists the CPU device and validates', () => {
  const out = execFileSync(process.execPath, ['bin/run.js', 'engine', '--json'], {encoding: 'utf8'})
  const info = JSON.parse(out) as {release: string; devices: Array<{name: string; backend: string}>}
  assert.match(info.release, /^v\d+\.\d+\.\d+$|^custom$/)
  assert.ok(info.devices.some((d) => d.name === 'CPU' && d.backend === 'CPU'))
})
