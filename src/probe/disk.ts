/** Free space where models will live (statfs of --models-dir). */
import {statfsSync} from 'node:fs'
import {resolve} from 'node:path'

/** R1 Q4_K_M is ≈404 GB on disk (unsloth split GGUF); the question users ask is "does 400 GB fit". */
export const MODEL_SIZE_CHECK_BYTES = 400e9

export interface DiskSection {
  path: string
  freeBytes: number | null
  totalBytes: number | null
  fits400GB: boolean | null
}

export function diskFree(path: string, notes: string[]): DiskSection {
  const abs = resolve(path)
  try {
    const s = statfsSync(abs)
    const freeBytes = s.bavail * s.bsize
    return {path: abs, freeBytes, totalBytes: s.blocks * s.bsize, fits400GB: freeBytes >= MODEL_SIZE_CHECK_BYTES}
  } catch (e) {
    notes.push(`disk: cannot stat ${abs} (${(e as NodeJS.ErrnoException).code ?? 'error'})`)
    return {path: abs, freeBytes: null, totalBytes: null, fits400GB: null}
  }
}
