/** Formatting with units. GB = 1e9 bytes, GiB = 2^30 bytes; we say which. */
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
  const mult: Record<string, number> = {b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: MiB, gb: 1e9, gib: GiB, tb: 1e12, tib: 1024 ** 4}
  return Math.round(n * mult[unit])
}
