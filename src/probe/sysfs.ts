/**
 * Read-only access to a Linux system tree (/proc, /sys) under a root directory, so that every
 * parser runs unchanged on this machine (root "/") and on fixture trees under test/fixtures/.
 * Nothing here throws for a missing or unreadable entry: missing → null, unreadable (EACCES, EIO …)
 * → null plus one line in `notes`, so probe can say what it could not see instead of crashing.
 */
import {readFileSync, readdirSync, readlinkSync, statSync} from 'node:fs'
import {join} from 'node:path'

export class SysTree {
  readonly root: string
  /** One line per entry that exists but could not be read. */
  readonly notes: string[] = []

  constructor(root = '/') {
    this.root = root
  }

  /** Absolute path of `p` (a path like "/sys/devices/…") inside the root. */
  path(p: string): string {
    return join(this.root, p)
  }

  /** File contents, trimmed; null when absent or unreadable. */
  read(p: string): string | null {
    try {
      return readFileSync(this.path(p), 'utf8').trim()
    } catch (e) {
      this.noteError(p, e)
      return null
    }
  }

  /** File contents as an integer (decimal or 0x hex); null when absent, unreadable or not a number. */
  readInt(p: string): number | null {
    const t = this.read(p)
    if (t === null || t === '') return null
    const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t, 16) : Number(t)
    return Number.isFinite(n) ? n : null
  }

  /** Directory entries, sorted; empty when absent or unreadable. */
  list(p: string): string[] {
    try {
      return readdirSync(this.path(p)).sort()
    } catch (e) {
      this.noteError(p, e)
      return []
    }
  }

  exists(p: string): boolean {
    try {
      statSync(this.path(p))
      return true
    } catch {
      return false
    }
  }

  isDir(p: string): boolean {
    try {
      return statSync(this.path(p)).isDirectory()
    } catch {
      return false
    }
  }

  /** Target of a symlink (as stored, possibly relative); null when not a link. */
  readlink(p: string): string | null {
    try {
      return readlinkSync(this.path(p))
    } catch {
      return null
    }
  }

  private noteError(p: string, e: unknown): void {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return
    const line = `${p}: unreadable (${code ?? 'error'})`
    if (!this.notes.includes(line)) this.notes.push(line)
  }
}

/** Parse a kernel CPU list ("0-3,8,10-11") into sorted CPU numbers; null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const t = text.trim()
  if (t === '') return []
  const out = new Set<number>()
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (!m) return null
    const a = Number(m[1])
    const b = m[2] === undefined ? a : Number(m[2])
    if (b < a || b - a > 1 << 16) return null
    for (let i = a; i <= b; i++) out.add(i)
  }
  return [...out].sort((x, y) => x - y)
}

/**
 * The online ids under a sysfs folder (/sys/devices/system/cpu, …/node): its `online` list, else
 * the numbers of its `<prefix>N` folders, sorted; null when neither says anything.
 */
export function onlineIds(sys: SysTree, base: string, prefix: string): number[] | null {
  const online = sys.read(`${base}/online`)
  const ids = online !== null ? parseCpuList(online) : null
  if (ids !== null && ids.length > 0) return ids
  const dirs = sys
    .list(base)
    .filter((d) => d.startsWith(prefix) && /^\d+$/.test(d.slice(prefix.length)))
    .map((d) => Number(d.slice(prefix.length)))
  return dirs.length > 0 ? dirs.sort((a, b) => a - b) : null
}

/** Format CPU numbers back into the kernel's compact list form ("0-3,8"). */
export function formatCpuList(cpus: readonly number[]): string {
  const s = [...cpus].sort((a, b) => a - b)
  const parts: string[] = []
  for (let i = 0; i < s.length;) {
    let j = i
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++
    parts.push(j === i ? `${s[i]}` : `${s[i]}-${s[j]}`)
    i = j + 1
  }
  return parts.join(',')
}

/** "48K", "2048K", "60M", "1.5 MiB", "61440 KB" → bytes (binary units, as sysfs and lscpu mean them). */
export function parseCacheSize(text: string): number | null {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(K|KB|KiB|M|MB|MiB|G|GB|GiB)?\s*$/i.exec(text)
  if (!m) return null
  const unit = (m[2] ?? '').toUpperCase()[0]
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1
  return Math.round(Number(m[1]) * mult)
}
