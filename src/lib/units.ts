/** Formatting with units. GB = 1e9 bytes, GiB = 2^30 bytes; we say which. */

/**
 * The one symbol for a missing value in a table cell or a number slot of a text line (a rate,
 * size or bandwidth that is not known): "PCIe — GB/s", a "—" cell. fmtPercent and fmtTps print it
 * by default. The byte formatters below still say "unknown" by default: probe's and plan's text
 * use them inside sentences ("L2 unknown", "free unknown"), which a dash would not read as.
 */
export const MISSING = '—'

export const GiB = 1024 ** 3
export const MiB = 1024 ** 2
export const GB = 1e9

export function fmtGiB(bytes: number | null | undefined, digits = 1): string {
  return bytes === null || bytes === undefined ? 'unknown' : `${(bytes / GiB).toFixed(digits)} GiB`
}

export function fmtGB(bytes: number | null | undefined, digits = 1): string {
  return bytes === null || bytes === undefined ? 'unknown' : `${(bytes / GB).toFixed(digits)} GB`
}

export function fmtMiB(bytes: number | null | undefined, digits = 1): string {
  return bytes === null || bytes === undefined ? 'unknown' : `${(bytes / MiB).toFixed(digits)} MiB`
}

/** Parse "16GiB", "4GB", "512MiB", "1.5TiB", "1024" (bytes). Returns null when unparsable. */
export function parseBytes(text: string): number | null {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?\s*$/i.exec(text)
  if (!m) return null
  const n = Number(m[1])
  const unit = (m[2] ?? 'B').toLowerCase()
  const mult: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 1024,
    mb: 1e6,
    mib: MiB,
    gb: 1e9,
    gib: GiB,
    tb: 1e12,
    tib: 1024 ** 4,
  }
  return Math.round(n * mult[unit])
}

export type BinaryUnit = 'B' | 'KiB' | 'MiB' | 'GiB'
const UNIT_BYTES: Record<BinaryUnit, number> = {B: 1, KiB: 1024, MiB: MiB, GiB: GiB}

/**
 * Bytes in the largest of `units` that the value reaches (the smallest of them below that);
 * `digits` is one count, or one per unit (default 1). Bytes (B) are printed as they are. The one
 * binary size formatter: every "… MiB" / "… GiB" text comes from here or fmtGiB/fmtMiB.
 */
export function fmtBinary(
  bytes: number,
  opts: {units?: BinaryUnit[]; digits?: number | Partial<Record<BinaryUnit, number>>} = {},
): string {
  const units = [...(opts.units ?? ['B', 'KiB', 'MiB', 'GiB'])].sort((a, b) => UNIT_BYTES[b] - UNIT_BYTES[a])
  const unit = units.find((u) => bytes >= UNIT_BYTES[u]) ?? units[units.length - 1]
  if (unit === 'B') return `${bytes} B`
  const d = typeof opts.digits === 'number' ? opts.digits : (opts.digits?.[unit] ?? 1)
  return `${(bytes / UNIT_BYTES[unit]).toFixed(d)} ${unit}`
}

export type DecimalUnit = 'B' | 'kB' | 'MB' | 'GB'
const DECIMAL_BYTES: Record<DecimalUnit, number> = {B: 1, kB: 1e3, MB: 1e6, GB: 1e9}

/**
 * Bytes in the largest decimal unit (B, kB, MB, GB) the value reaches; `digits` per unit (default
 * 1, and 0 for B). The decimal twin of fmtBinary, for rates and traffic ("1.2 MB per token").
 */
export function fmtDecimal(bytes: number, opts: {digits?: Partial<Record<DecimalUnit, number>>} = {}): string {
  const unit = (['GB', 'MB', 'kB'] as const).find((u) => bytes >= DECIMAL_BYTES[u]) ?? 'B'
  const d = opts.digits?.[unit] ?? (unit === 'B' ? 0 : 1)
  return `${(bytes / DECIMAL_BYTES[unit]).toFixed(d)} ${unit}`
}

/** Decimal file size in MB (at 1 digit), for the small files GB would show as "0.0 GB". */
export function fmtMB(bytes: number | null | undefined, digits = 1): string {
  return bytes === null || bytes === undefined ? 'unknown' : `${(bytes / 1e6).toFixed(digits)} MB`
}

/**
 * A fraction (0.5) as a percentage ("50.0%"); `missing` (default MISSING) for null/undefined. `space` puts a space
 * before the sign (the report's style, "50.0 %").
 */
export function fmtPercent(
  fraction: number | null | undefined,
  opts: {digits?: number; space?: boolean; missing?: string} = {},
): string {
  if (fraction === null || fraction === undefined) return opts.missing ?? MISSING
  return `${(100 * fraction).toFixed(opts.digits ?? 1)}${opts.space ? ' ' : ''}%`
}

/** A rate in tokens per second ("12.34 t/s"); `missing` (default MISSING) for null/undefined. */
export function fmtTps(tps: number | null | undefined, opts: {digits?: number; missing?: string} = {}): string {
  if (tps === null || tps === undefined) return opts.missing ?? MISSING
  return `${tps.toFixed(opts.digits ?? 2)} t/s`
}
