/**
 * This machine as a hardware profile, for "probe" in --hardware: profiles/ reads profile files and
 * ids, probe/ supplies the machine itself.
 */
import {loadHardwareProfile} from '../profiles/hardware.js'
import type {HardwareProfile} from '../schemas/hardware.js'

/** This machine, probed now, without the bandwidth benchmark. */
export async function probeThisMachine(): Promise<HardwareProfile> {
  // loaded on demand: plan of a file profile never loads the probe modules
  const {probeMachine} = await import('./probe.js')
  // free disk where `moerig probe` measures it by default (its --models-dir is "."), so a plan
  // of a catalog model can say whether the download fits
  return (await probeMachine({modelsDir: '.'})).profile
}

/** A hardware profile by file path, by id in profiles/hardware/, or "probe" for this machine. */
export function loadHardware(pathOrId: string, opts: {dir?: string} = {}): Promise<HardwareProfile> {
  return loadHardwareProfile(pathOrId, {...opts, probe: probeThisMachine})
}
