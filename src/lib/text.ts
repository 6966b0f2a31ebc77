/**
 * Text that reaches a terminal. Model names (GGUF `general.name`), profile names, trace headers and
 * file names are untrusted: `\x1b]0;pwned\x07` would retitle the window and `\x1b[2J` clear the
 * screen if printed raw. Every text line moerig prints goes through `safeText` (the base command's
 * log and error paths do it), so a hostile name shows up as visible escapes instead.
 *
 * What is escaped: C0 controls except tab and newline (ESC, BEL, CR, backspace …), DEL, C1
 * controls (U+0080–U+009F, e.g. the 8-bit CSI U+009B), and Unicode bidi overrides/isolates
 * (U+202A–U+202E, U+2066–U+2069), which reorder what the reader sees ("Trojan Source").
 */

// eslint-disable-next-line no-control-regex
const UNSAFE_MULTILINE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g
// eslint-disable-next-line no-control-regex
const UNSAFE_ONE_LINE = /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g

function escapeChar(c: string): string {
  const cp = c.codePointAt(0) as number
  if (c === '\n') return '\\n'
  if (c === '\t') return '\\t'
  if (c === '\r') return '\\r'
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`
}

/**
 * Terminal-safe text: control characters become visible `\xNN` / `\uNNNN` escapes. Newlines and
 * tabs are kept (a rendered block of lines stays a block) unless `oneLine` is set, in which case
 * they are escaped too (a name inside a line must not break it).
 */
export function safeText(text: unknown, opts: {oneLine?: boolean} = {}): string {
  return String(text).replace(opts.oneLine ? UNSAFE_ONE_LINE : UNSAFE_MULTILINE, escapeChar)
}

/** A name inside one line of output (model, profile, file name): nothing in it can break the line. */
export function safeName(text: unknown): string {
  return safeText(text, {oneLine: true})
}

/** True when the text holds something safeText would escape. */
export function hasControlChars(text: string): boolean {
  return new RegExp(UNSAFE_ONE_LINE.source).test(text)
}
