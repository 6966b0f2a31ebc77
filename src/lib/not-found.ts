import type {Hook} from '@oclif/core'
import {safeName} from './text.js'

/**
 * oclif `command_not_found` hook: `moerig nope` gets the one-line error every other mistake gets
 * (and `{"error": …}` under --json) instead of oclif's boxed message, plus the command list.
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  const typed = opts.id.replace(/:/g, ' ')
  const ids = opts.config.commands
    .filter((c) => !c.hidden)
    .map((c) => c.id.replace(/:/g, ' '))
    .sort()
  const message = safeName(`no command "${typed}"; commands: ${ids.join(', ')} (see moerig --help)`)
  if ((opts.argv ?? []).includes('--json') || process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({error: {code: 'E_USAGE', message}}, null, 2) + '\n')
  } else {
    process.stderr.write(`moerig: error: ${message}\n`)
  }
  process.exit(2)
}

export default hook
