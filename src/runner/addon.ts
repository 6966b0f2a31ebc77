/**
 * The one TS file that types the whole native addon (build/native/Release/moerig.node).
 * Everything else imports `loadAddon()` from here; nobody `require`s the .node directly.
 * Slow calls are AsyncWorkers on the native side and return Promises here.
 *
 * Sections: engine info · memory bandwidth (probe) · llama.cpp runner.
 * Each section's functions are registered by its own native/src/bind_*.cpp file.
 */
import {createRequire} from 'node:module'
import {existsSync, readFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {MoerigError} from '../lib/errors.js'

/** Project root: this file lives in src/runner/ (tsx) or dist/runner/ (built). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const addonPath = join(projectRoot, 'build', 'native', 'Release', 'moerig.node')
const engineJsonPath = join(projectRoot, 'build', 'native', 'engine.json')

// ---------------------------------------------------------------- engine info

/** What scripts/build-native.mjs recorded about the llama.cpp the addon was built against. */
export interface EngineBuild {
  release: string
  libDir: string
  libs: string[]
  source: string
  origin: string
}

// ---------------------------------------------------------------- memory bandwidth

/** One NUMA node to measure: its id and the CPUs to run on (one per physical core). */
export interface MemBwNode {
  id: number
  cpus: number[]
}

export interface MemBwOptions {
  nodes: MemBwNode[]
  /** Bytes per array per thread (three arrays a, b, c per thread). */
  arrayBytesPerThread: number
  /** Timed repetitions per kernel; the best is kept (STREAM convention). */
  repetitions: number
  /** Also measure every node alone (per-node figures) before all together. */
  perNode: boolean
}

export interface MemBwKernels {
  copyGBs: number
  scaleGBs: number
  addGBs: number
  triadGBs: number
}

export interface MemBwResult extends MemBwKernels {
  threads: number
  arrayBytesPerThread: number
  repetitions: number
  perNode: Array<MemBwKernels & {node: number; threads: number}>
}

export interface MemBwProgress {
  /** "node 0", "all nodes" */
  phase: string
  done: number
  total: number
}

// ---------------------------------------------------------------- the addon

export interface MoerigAddon {
  engineInfo(): {llamaSystemInfo: string}
  /** STREAM copy/scale/add/triad; runs on worker threads, never blocks the event loop. */
  memBandwidth?(opts: MemBwOptions, onProgress?: (p: MemBwProgress) => void): Promise<MemBwResult>
}

let cached: MoerigAddon | undefined

/** Load the addon once; a missing or broken binary is one clear line with how to rebuild. */
export function loadAddon(): MoerigAddon {
  if (cached) return cached
  if (!existsSync(addonPath)) {
    throw new MoerigError('E_ADDON_MISSING', `native addon not built (${addonPath} is missing); run: npm run build:native`)
  }
  try {
    cached = createRequire(import.meta.url)(addonPath) as MoerigAddon
  } catch (e) {
    const first = String((e as Error).message).split('\n')[0]
    throw new MoerigError('E_ADDON_LOAD', `native addon failed to load (${first}); run: npm run build:native`)
  }
  return cached
}

export function engineBuild(): EngineBuild {
  if (!existsSync(engineJsonPath)) {
    throw new MoerigError('E_ADDON_MISSING', `native addon not built (${engineJsonPath} is missing); run: npm run build:native`)
  }
  return JSON.parse(readFileSync(engineJsonPath, 'utf8')) as EngineBuild
}
