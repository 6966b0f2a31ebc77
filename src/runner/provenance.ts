/** Provenance of a measurement and the machine facts a run needs (threads, CPU name). */
import {cpus, hostname} from 'node:os'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {projectRoot} from '../lib/paths.js'
import {engineBuild, type LlamaDevice} from '../engine/addon.js'
import type {EngineSetup} from '../engine/engine.js'
import type {LoadRecord} from './child.js'
import type {RunProvenance} from '../schemas/bench.js'
import {rpcDevices} from './rpc-engine.js'

/** This machine's physical cores (the default thread count): lib/threads.ts. */
export {physicalCores} from '../lib/threads.js'

export function moerigVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')).version)
  } catch {
    return 'unknown'
  }
}

/** llama-bench's backend column: the non-CPU backends of the devices, else "CPU". */
export function backendLabel(devices: LlamaDevice[]): string {
  const gpu = [...new Set(devices.filter((d) => d.type !== 'cpu').map((d) => d.backend))]
  return gpu.length ? gpu.join(',') : 'CPU'
}

/** What the engine's CPU side was: the variant loaded, the extra buffer types in use, the AMX guard, a fallback. */
export function cpuEngineProvenance(rec: LoadRecord, repack: boolean, fallback?: string) {
  return {
    ...(rec.failed.length ? {backendLibsFailed: rec.failed} : {}),
    ...(rec.cpu.cpuVariant ? {cpuVariant: rec.cpu.cpuVariant} : {}),
    ...(rec.cpu.cpuVariantBest ? {cpuVariantBest: rec.cpu.cpuVariantBest} : {}),
    extraBufferTypes: repack && !fallback ? rec.cpu.cpuExtraBufferTypes : [],
    amxGuardedTensors: rec.amxGuarded.length,
    ...(fallback ? {extraBufferFallback: fallback} : {}),
  }
}

export function makeProvenance(a: {
  setup: EngineSetup
  origin: string
  devices: LlamaDevice[]
  loaded: string[]
  threads: number
  time: Date
  loadMs?: number
  cpuEngine?: ReturnType<typeof cpuEngineProvenance>
}): RunProvenance {
  return {
    moerigVersion: moerigVersion(),
    llamaRelease: a.setup.release,
    engineOrigin: a.origin,
    backend: backendLabel(a.devices),
    backendLibs: a.loaded,
    devices: a.devices.map((d) => ({
      name: d.name,
      description: d.description,
      type: d.type,
      backend: d.backend,
      totalBytes: Math.max(0, Math.round(d.totalBytes)),
    })),
    cpu: cpus()[0]?.model?.trim() || 'unknown',
    threads: a.threads,
    hostname: hostname(),
    node: process.version,
    time: a.time.toISOString(),
    ...(a.loadMs !== undefined ? {loadMs: Math.round(a.loadMs)} : {}),
    ...a.cpuEngine,
    ...(a.devices.some((d) => d.backend === 'RPC') ? {rpc: rpcDevices(a.devices)} : {}),
  }
}

/**
 * Provenance of a finished bench or run: the engine setup, what the runner child reported while
 * loading (devices, libraries, load time, CPU side), the threads and the start time; `repack`:
 * extra buffer types asked for, `fallback`: why the run fell back to none.
 */
export function runProvenance(
  setup: EngineSetup,
  rec: LoadRecord,
  threads: number,
  time: Date,
  repack: boolean,
  fallback?: string,
): RunProvenance {
  return makeProvenance({
    setup,
    origin: engineBuild().origin,
    devices: rec.devices,
    loaded: rec.loaded,
    threads,
    time,
    loadMs: rec.loadMs,
    cpuEngine: cpuEngineProvenance(rec, repack, fallback),
  })
}

/** "CPU variant sapphirerapids, extra buffer types AMX, CPU_REPACK (2 3-D weights kept out of AMX)" */
export function cpuEngineLine(p: RunProvenance): string {
  const variant = p.cpuVariant
    ? `CPU variant ${p.cpuVariant}${p.cpuVariantBest && p.cpuVariantBest !== p.cpuVariant ? ` (ggml would pick ${p.cpuVariantBest})` : ''}`
    : 'CPU variant unknown'
  const extra =
    p.extraBufferTypes === undefined
      ? ''
      : p.extraBufferTypes.length
        ? `, extra buffer types ${p.extraBufferTypes.join(', ')}`
        : ', no extra buffer types'
  const guard = p.amxGuardedTensors ? ` (${p.amxGuardedTensors} 3-D weights kept out of AMX)` : ''
  return `${variant}${extra}${guard}`
}
