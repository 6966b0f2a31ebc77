// The pinned llama.cpp source for the build scripts (build-native, build-rpc, build-backend):
// node-llama-cpp's git bundle, the parts a script needs checked out with git. No network.
import {execFileSync} from 'node:child_process'
import {rmSync} from 'node:fs'
import {join} from 'node:path'

/** The first line of a failed child's stderr, or of the error's message. */
export function firstLine(e) {
  return String(e.stderr || e.message)
    .trim()
    .split('\n')[0]
}

/**
 * Checks out `paths` (git pathspecs) of the bundle's HEAD into `dest`, emptied first, without its
 * .git afterwards. Throws an Error whose message is one line naming git's complaint.
 */
export function extractBundle(bundle, dest, paths) {
  rmSync(dest, {recursive: true, force: true})
  const git = (...a) => execFileSync('git', a, {stdio: ['ignore', 'ignore', 'pipe']})
  try {
    git('clone', '-q', '--no-checkout', bundle, dest)
    git('-C', dest, '-c', 'advice.detachedHead=false', 'checkout', '-q', 'HEAD', '--', ...paths)
  } catch (e) {
    throw new Error(`could not extract the llama.cpp bundle with git (${firstLine(e)}); is git installed?`, {cause: e})
  }
  rmSync(join(dest, '.git'), {recursive: true, force: true})
}
