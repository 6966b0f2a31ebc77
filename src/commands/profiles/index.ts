import {Flags} from '@oclif/core'
import {MoerigCommand} from '../../lib/command.js'
import {MoerigError} from '../../lib/errors.js'
import {renderTable} from '../../lib/table.js'
import {fmtGiB} from '../../lib/units.js'
import {hardwareProfilesDir, listHardwareProfiles} from '../../profiles/hardware.js'
import {profileListSchema, type ProfileList} from '../../schemas/hardware.js'
import {assertValid} from '../../schemas/validate.js'

export default class Profiles extends MoerigCommand {
  static override summary = 'List and validate the hardware profiles in profiles/hardware/'

  static override description =
    'Each profile is checked against the hardware-profile schema and for consistency (threads ≥ cores, NUMA ids, channels × MT/s × 8 = peak GB/s, citations on reference rigs). Exits non-zero when any profile is invalid.'

  static override examples = [
    '<%= config.bin %> profiles',
    '<%= config.bin %> profiles --json',
    '<%= config.bin %> profiles show dual-8592-2xa770',
    '<%= config.bin %> profiles validate my-rig.json',
  ]

  static override flags = {
    dir: Flags.string({description: 'profiles folder', default: hardwareProfilesDir, helpValue: 'DIR'}),
  }

  async run(): Promise<ProfileList> {
    const {flags} = await this.parse(Profiles)
    const list = listHardwareProfiles(flags.dir)
    const result: ProfileList = {
      dir: flags.dir,
      profiles: list.map((p) => ({
        file: p.file,
        id: p.id,
        name: p.name,
        valid: p.valid,
        error: p.error,
        cpu: p.profile ? `${p.profile.cpu.sockets} × ${p.profile.cpu.model}` : null,
        memoryBytes: p.profile ? p.profile.memory.totalBytes : null,
        theoreticalBandwidthGBs: p.profile ? p.profile.memory.theoreticalBandwidthGBs : null,
        gpus: p.profile ? p.profile.gpus.map((g) => g.name) : [],
      })),
    }
    assertValid(profileListSchema, result, 'profiles list')
    if (list.length === 0) this.log(`no hardware profiles in ${flags.dir}`)
    const idW = Math.max(2, ...result.profiles.map((p) => (p.id ?? '').length))
    const rows = result.profiles.map((p) => {
      if (!p.valid) return ['INVALID', p.error ?? '']
      const bw =
        p.theoreticalBandwidthGBs != null ? `${p.theoreticalBandwidthGBs.toFixed(0)} GB/s peak` : 'peak unknown'
      const gpus = p.gpus.length > 0 ? p.gpus.join(', ') : 'none'
      return [p.id ?? '', `${p.cpu}, ${fmtGiB(p.memoryBytes, 0)} (${bw}); GPUs: ${gpus}`]
    })
    // the id column is as wide as the longest id (an INVALID marker may overflow it), as before
    for (const line of renderTable(null, rows, [{width: idW}, {}], {trimEnd: true})) this.log(line)
    const bad = result.profiles.filter((p) => !p.valid)
    if (bad.length > 0) {
      if (this.jsonEnabled()) {
        // The listing is the answer; the exit status says some entries are invalid.
        process.exitCode = 1
        return result
      }
      throw new MoerigError(
        'E_PROFILE',
        `${bad.length} of ${result.profiles.length} hardware profiles are invalid (first: ${bad[0].error})`,
      )
    }
    return result
  }
}
