/**
 * Escaping for text that reaches a report. Model names, GGUF metadata and profile fields are
 * attacker-controlled: a model named `<script>alert(1)</script>` must show up as those characters.
 */

/** HTML text and attribute values (double- or single-quoted). */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c] as string)
}

/**
 * Markdown inline text (paragraphs and table cells): backslash-escape markdown punctuation,
 * entity-encode `<`, `>` and `&` (renderers pass raw HTML through) and fold newlines.
 */
export function escapeMd(text: unknown): string {
  return String(text)
    .replace(/\r?\n|\r/g, ' ')
    .replace(/[\\`*_{}[\]()#+\-.!|~]/g, (c) => `\\${c}`)
    .replace(/[&<>]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'})[c] as string)
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
