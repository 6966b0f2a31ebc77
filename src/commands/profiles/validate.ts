import {Args} from '@oclif/core'
import {MoerigCommand} from '../../lib/command.js'
import {MoerigError} from '../../lib/errors.js'
import {profileFileErrors} from '../../profiles/hardware.js'
import {profileValidationSchema, type ProfileValidation} from '../../schemas/hardware.js'
import {assertValid} from '../../schemas/validate.js'

export default class ProfilesValidate extends MoerigCommand {
  static override summary =
    'Check hardware profile files: one line per problem, naming the JSON path and what was expected'

  static override examples = [
    '<%= config.bin %> profiles validate my-rig.json',
    '<%= config.bin %> profiles validate profiles/hardware/*.json --json',
  ]

  static override strict = false

  static override args = {
    file: Args.string({description: 'hardware profile JSON file(s)', required: true}),
  }

  async run(): Promise<ProfileValidation> {
    const {argv} = await this.parse(ProfilesValidate)
    const results: ProfileValidation['results'] = (argv as string[]).map((file) => {
      const {errors} = profileFileErrors(file)
      return {file, valid: errors.length === 0, errors}
    })
    const out = {results}
    assertValid(profileValidationSchema, out, 'validation result')
    for (const r of results) {
      if (r.valid) this.log(`ok       ${r.file}`)
      else for (const e of r.errors) this.log(`invalid  ${r.file}: ${e}`)
    }
    const bad = results.filter((r) => !r.valid)
    if (bad.length > 0) {
      if (this.jsonEnabled()) {
        process.exitCode = 1
        return out
      }
      // the problems are listed above, one line each; the error line only counts them (not a repeat)
      const problems = bad.reduce((n, r) => n + r.errors.length, 0)
      throw new MoerigError(
        'E_PROFILE',
        `${bad.length} of ${results.length} hardware profile file${results.length === 1 ? '' : 's'} invalid (${problems} problem${problems === 1 ? '' : 's'} listed above)`,
      )
    }
    return out
  }
}
