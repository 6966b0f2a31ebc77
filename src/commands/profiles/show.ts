import {Args} from '@oclif/core'
import {MoerigCommand} from '../../lib/command.js'
import {safeName} from '../../lib/text.js'
import {loadHardware} from '../../probe/machine.js'
import {renderProfile} from '../../probe/summary.js'
import type {HardwareProfile} from '../../schemas/hardware.js'

export default class ProfilesShow extends MoerigCommand {
  static override summary =
    'Show one hardware profile (an id in profiles/hardware/, a file, or "probe") as probe prints it'

  static override examples = [
    '<%= config.bin %> profiles show dual-6454s-4090d',
    '<%= config.bin %> profiles show my-rig.json --json',
  ]

  static override args = {
    profile: Args.string({description: 'profile id, file path, or "probe"', required: true}),
  }

  async run(): Promise<HardwareProfile> {
    const {args} = await this.parse(ProfilesShow)
    const profile = await loadHardware(args.profile)
    for (const line of renderProfile(profile)) this.log(line)
    if (profile.citations) {
      this.log('Sources')
      for (const [path, source] of Object.entries(profile.citations))
        this.log(`  ${safeName(path)}: ${safeName(source)}`)
    }
    return profile
  }
}
