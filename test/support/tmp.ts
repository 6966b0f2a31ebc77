/** One scratch folder helper for every test file: made under the OS temp dir, removed when the test process exits. */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

const made: string[] = []
// Each test file runs in its own process under `node --test`, so 'exit' is the end of the file's tests.
// MOERIG_KEEP_TEST_TMP=1 keeps them for a post-mortem. A file killed by a signal leaves its folders.
process.on('exit', () => {
  if (process.env.MOERIG_KEEP_TEST_TMP === '1') return
  for (const dir of made) rmSync(dir, {recursive: true, force: true})
})

export function tempDir(prefix = 'moerig-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.push(dir)
  return dir
}
