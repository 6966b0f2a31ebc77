/**
 * Devices as llama.cpp's backends see them (CPU, Vulkan0, CUDA0 …), beside the PCI view: the
 * names plans and check-plan use for GPU<i>. Listed by the runner child process (a GPU driver that
 * crashes on init is one note, not a dead probe); the command passes the lister in
 * (runner's listEngineDevices), so probe/ never imports runner/. Without the native addon or with the engine
 * failing, the list is absent and a note says why.
 */
import {oneLine} from '../lib/errors.js'
import type {LlamaInitResult} from '../engine/addon.js'
import type {HardwareProfile} from '../schemas/hardware.js'

export type EngineDevice = NonNullable<HardwareProfile['engineDevices']>[number]

/** `list` is the runner's child-process device listing (commands/probe.ts passes listEngineDevices). */
export async function probeEngineDevices(
  list: () => Promise<LlamaInitResult>,
): Promise<{devices: EngineDevice[] | null; note: string | null}> {
  try {
    const r = await list()
    const devices = r.devices.map((d) => ({
      name: d.name,
      backend: d.backend,
      description: d.description,
      type: d.type,
      memoryTotalBytes: d.totalBytes > 0 ? Math.round(d.totalBytes) : null,
      memoryFreeBytes: d.freeBytes > 0 ? Math.round(d.freeBytes) : null,
    }))
    const failed = r.failed.length > 0 ? `GPU backend libraries that failed to load: ${r.failed.join('; ')}` : null
    return {devices, note: failed}
  } catch (e) {
    return {devices: null, note: `engine devices not listed: ${oneLine(e)}`}
  }
}
