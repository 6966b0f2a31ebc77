import {safeName, safeText} from '../lib/text.js'

/**
 * Escaping for text that reaches a report. Model names, GGUF metadata and profile fields are
 * attacker-controlled: a model named `<script>alert(1)</script>` must show up as those characters,
 * and one holding terminal control characters (ESC, BEL, C1, bidi overrides) must not drive the
 * terminal of whoever runs `cat report.md`: both escapers make them visible `\xNN` first.
 */

/** HTML text and attribute values (double- or single-quoted). */
export function escapeHtml(text: unknown): string {
  return safeText(text).replace(
    /[&<>"']/g,
    (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] as string,
  )
}

/**
 * Markdown inline text (paragraphs and table cells): backslash-escape what makes emphasis, code,
 * links and table cells (with `[` escaped no link or image can form, so parentheses stay as they
 * are), entity-encode `<`, `>` and `&` (renderers pass raw HTML through), defuse headings and list
 * markers at the start, and fold newlines.
 */
export function escapeMd(text: unknown): string {
  return safeName(String(text).replace(/\r?\n|\r/g, ' '))
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/[&<>]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'})[c] as string)
    .replace(/^(\s*)([#+=-])/, '$1\\$2')
    .replace(/^(\s*\d+)([.)])/, '$1\\$2')
}

/** A string safe as a file name part: lower-case letters, digits and dashes. */
export function slug(text: string, fallback = 'item'): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
  return s === '' ? fallback : s
}
