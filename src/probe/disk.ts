/** Free space where models will live (statfs of --models-dir). */
import {statfsSync} from 'node:fs'
import {resolve} from 'node:path'
import {errnoText} from '../lib/fs.js'
import type {HardwareProfile} from '../schemas/hardware.js'

/** R1 Q4_K_M is ≈404 GB on disk (unsloth split GGUF); the question users ask is "does 400 GB fit". */
export const MODEL_SIZE_CHECK_BYTES = 400e9

/** The disk section as the probe fills it: the schema's, every optional field present. */
export type DiskSection = Required<NonNullable<HardwareProfile['disk']>>

export function diskFree(path: string, notes: string[]): DiskSection {
  const abs = resolve(path)
  try {
    const s = statfsSync(abs)
    const freeBytes = s.bavail * s.bsize
    return {path: abs, freeBytes, totalBytes: s.blocks * s.bsize, fits400GB: freeBytes >= MODEL_SIZE_CHECK_BYTES}
  } catch (e) {
    notes.push(`disk: cannot stat ${abs}: ${errnoText(e)}`)
    return {path: abs, freeBytes: null, totalBytes: null, fits400GB: null}
  }
}
