/**
 * User-facing errors. Anything a user can cause (bad input, missing file, impossible plan) is a
 * MoerigError: the CLI prints its one-line message (or `{"error": …}` under --json) and exits with
 * `exitCode`, never with a stack trace.
 */
export class MoerigError extends Error {
  /** Stable machine-readable code for --json consumers, e.g. "E_GGUF_TRUNCATED". */
  readonly code: string
  readonly exitCode: number

  constructor(code: string, message: string, exitCode = 1) {
    super(message)
    this.name = 'MoerigError'
    this.code = code
    this.exitCode = exitCode
  }
}

/** One line from any thrown value: first line of the message, no stack. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return (
    msg
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? 'unknown error'
  )
}
