/**
 * Progress for long work (model load, bench runs, synth, report rendering): drawn on stderr only
 * when stderr is a TTY and the command is not under --json; silent when piped.
 */
export interface Progress {
  /** Start or switch to a named phase; `total` enables a percentage. */
  phase(label: string, total?: number): void
  /** Report `done` units of the current phase. */
  update(done: number, detail?: string): void
  /** Print a finished-step line (kept on screen). */
  step(message: string): void
  done(): void
}

const silent: Progress = {phase() {}, update() {}, step() {}, done() {}}

export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled || !stream.isTTY) return silent
  let label = ''
  let total: number | undefined
  let last = 0
  const clear = () => stream.write('\r\x1b[2K')
  const draw = (done: number, detail?: string) => {
    const now = Date.now()
    if (now - last < 80 && (total === undefined || done < total)) return
    last = now
    const pct = total ? ` ${Math.min(100, Math.floor((100 * done) / total))}%` : ''
    const cols = stream.columns || 80
    const line = `${label}${pct}${detail ? ` ${detail}` : ''}`
    clear()
    stream.write(line.slice(0, cols - 1))
  }
  return {
    phase(l, t) {
      label = l
      total = t
      last = 0
      draw(0)
    },
    update(done, detail) {
      draw(done, detail)
    },
    step(message) {
      clear()
      stream.write(`${message}\n`)
      last = 0
    },
    done() {
      clear()
    },
  }
}
