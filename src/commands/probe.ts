import {Flags} from '@oclif/core'
import {MoerigCommand, USAGE_EXIT} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'
import {endpointText} from '../engine/rpc.js'
import {preflightRpc} from '../runner/rpc-engine.js'
import {checkOverwrite, writeJsonFile} from '../lib/fs.js'
import {createProgress} from '../lib/progress.js'
import {measureBandwidth} from '../probe/bandwidth.js'
import {probeEngineDevices} from '../probe/engine.js'
import {probeMachine} from '../probe/probe.js'
import {renderProfile} from '../probe/summary.js'
import {listEngineDevices} from '../runner/checkplan.js'
import {rpcFlag, rpcFlags} from '../runner/rpc-flags.js'
import {hardwareProfileSchema, type HardwareProfile} from '../schemas/hardware.js'
import {assertValid} from '../schemas/validate.js'

export default class Probe extends MoerigCommand {
  static override summary = "Read this machine's CPUs, NUMA nodes, memory, GPUs and disk into a hardware profile"

  static override description = `Every value carries its provenance (sysfs, procfs, dmi, cpuid, lscpu, tool, spec, derived, measured); what the platform hides is null, never 0.
--measure adds the STREAM memory-bandwidth benchmark (one thread per physical core, per NUMA node); --save writes the profile for plan/report (--hardware FILE).`

  static override examples = [
    '<%= config.bin %> probe',
    '<%= config.bin %> probe --measure --save my-rig.json',
    '<%= config.bin %> probe --json --models-dir /models',
  ]

  static override flags = {
    measure: Flags.boolean({
      description: 'also measure memory bandwidth (STREAM copy/scale/add/triad; about a minute on a large machine)',
    }),
    save: Flags.string({
      description: 'write the profile (JSON) to this file (replaces only a profile probe wrote)',
      helpValue: 'FILE',
    }),
    force: Flags.boolean({char: 'f', description: 'with --save: overwrite a file that is not a probed profile'}),
    'models-dir': Flags.string({
      description: 'where models will be stored: report its free space',
      default: '.',
      helpValue: 'DIR',
    }),
    repetitions: Flags.integer({
      description: 'timed repetitions per bandwidth kernel (best is kept)',
      default: 10,
      min: 1,
      max: 100,
    }),
    sysroot: Flags.string({
      description:
        'read a recorded system tree (root/ + lscpu.txt, memlayout.json, nvidia-smi.csv) instead of this machine',
      hidden: true,
    }),
    ...rpcFlags,
  }

  async run(): Promise<HardwareProfile> {
    const {flags} = await this.parse(Probe)
    const rpc = rpcFlag(flags.rpc)
    if (rpc.length && flags.save !== undefined)
      throw new MoerigError(
        'E_USAGE',
        '--rpc with --save: a hardware profile describes one machine; run probe --save on each host and plan with --hardware this.json,other.json',
        USAGE_EXIT,
      )
    // a server that cannot be reached is one error line here, not a note in the profile
    if (rpc.length) await preflightRpc(rpc.map(endpointText))
    // refuse a bad --save before probing (the overwrite rule: src/lib/fs.ts)
    if (flags.save !== undefined) checkOverwrite(flags.save, {kind: 'hardware', force: flags.force, what: '--save'})
    const progress = createProgress(this.interactive)
    progress.phase('probing hardware')
    const {profile, topology} = await probeMachine({modelsDir: flags['models-dir'], sysroot: flags.sysroot ?? null})
    if (!flags.sysroot) {
      // what llama.cpp's backends see (Vulkan0, CUDA0 …), from the runner child process
      progress.phase('engine devices')
      // --rpc: the servers' devices join the list (backend RPC, description = their endpoint)
      const e = await probeEngineDevices(() => listEngineDevices(undefined, undefined, rpc))
      if (e.devices) profile.engineDevices = e.devices
      if (e.note) profile.notes = [...(profile.notes ?? []), e.note]
    }
    progress.done()
    if (flags.measure) {
      progress.phase('memory bandwidth')
      profile.bandwidth = await measureBandwidth(profile, topology, {
        repetitions: flags.repetitions,
        onProgress: (p) => {
          progress.phase(`memory bandwidth: ${p.phase}`, p.total)
          progress.update(p.done)
        },
      })
      progress.done()
    }
    assertValid<HardwareProfile>(hardwareProfileSchema, profile, 'probe result')
    if (flags.save) writeJsonFile(flags.save, profile)
    for (const line of renderProfile(profile)) this.log(line)
    if (flags.save) this.log(`saved: ${flags.save}`)
    return profile
  }
}
