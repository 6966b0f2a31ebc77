import {Command} from '@oclif/core'
import {MoerigError, oneLine} from './errors.js'

/**
 * Base of every moerig command: `--json` on all of them (oclif's enableJsonFlag), and one error
 * path: a one-line message (or `{"error": {code, message}}` under --json) and a non-zero exit.
 */
export abstract class MoerigCommand extends Command {
  static override enableJsonFlag = true

  /** True when progress may be drawn: a TTY on stderr and not --json. */
  protected get interactive(): boolean {
    return Boolean(process.stderr.isTTY) && !this.jsonEnabled()
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}; code?: string}): Promise<never> {
    // oclif's own exits (help, version, this.exit()) pass through untouched.
    if (err.oclif?.exit !== undefined && !(err instanceof MoerigError) && err.message.startsWith('EEXIT')) throw err
    const code = err instanceof MoerigError ? err.code : (err.oclif ? 'E_USAGE' : 'E_INTERNAL')
    const exitCode = err instanceof MoerigError ? err.exitCode : (err.oclif?.exit ?? 1)
    const message = oneLine(err)
    if (this.jsonEnabled()) {
      process.stdout.write(JSON.stringify({error: {code, message}}, null, 2) + '\n')
    } else {
      process.stderr.write(`moerig: error: ${message}\n`)
    }
    if (code === 'E_INTERNAL' && process.env.MOERIG_DEBUG) process.stderr.write(`${err.stack}\n`)
    // this.exit throws oclif's ExitError, which oclif's handler turns into a silent exit(code).
    this.exit(exitCode)
  }
}
