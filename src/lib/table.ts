/**
 * The one text-table renderer. Plain tables (columns padded to their widest cell, or to a fixed
 * width, two spaces apart) for reuse, check-plan and plan; markdown tables with an alignment row
 * for bench, as llama-bench prints them. Cells are text already formatted (units.ts).
 */

export interface Column {
  /** Right-align (numbers); default left. */
  right?: boolean
  /**
   * Fixed width: cells are padded to it and never measured, so a longer cell overflows and shifts
   * the rest of its line. Default: the widest cell of the column, header included.
   */
  width?: number
  /** Text before this column (never before the first); default the table's gap. Plain tables only. */
  gap?: string
}

export interface TableOptions {
  /** Between columns of a plain table; default two spaces. */
  gap?: string
  /** Drop trailing spaces of each line (a left-aligned last column pads none). */
  trimEnd?: boolean
  /** `| a | b |` lines with a `| --- | --: |` alignment row under the header (needs a header). */
  markdown?: boolean
}

/** Columns from right-alignment flags, one per column. */
export function alignRight(flags: boolean[]): Column[] {
  return flags.map((right) => ({right}))
}

/**
 * Lines of a table: the header (when given), the markdown alignment row (markdown only), then one
 * line per row. Every row, and the header, has one cell per column.
 */
export function renderTable(
  header: string[] | null,
  rows: string[][],
  columns: Column[],
  opts: TableOptions = {},
): string[] {
  const all = header ? [header, ...rows] : rows
  const widths = columns.map((c, i) => c.width ?? Math.max(0, ...all.map((r) => r[i].length)))
  const cell = (text: string, i: number) => (columns[i].right ? text.padStart(widths[i]) : text.padEnd(widths[i]))
  if (opts.markdown) {
    const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`
    const rule = `| ${widths.map((n, i) => (columns[i].right ? `${'-'.repeat(n - 1)}:` : '-'.repeat(n))).join(' | ')} |`
    return header ? [line(header), rule, ...rows.map(line)] : rows.map(line)
  }
  const gap = opts.gap ?? '  '
  const line = (cells: string[]) => {
    const text = cells.map((c, i) => (i === 0 ? '' : (columns[i].gap ?? gap)) + cell(c, i)).join('')
    return opts.trimEnd ? text.trimEnd() : text
  }
  return all.map(line)
}
