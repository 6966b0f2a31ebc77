import {Args, loadHelpClass} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'

export default class Help extends MoerigCommand {
  static override summary = 'Show help for moerig or for one command (same as COMMAND --help or -h)'

  static override enableJsonFlag = false
  static override strict = false

  static override args = {
    command: Args.string({description: 'command to show help for, e.g. plan or profiles show', required: false}),
  }

  static override examples = [
    '<%= config.bin %> help',
    '<%= config.bin %> help plan',
    '<%= config.bin %> help profiles show',
  ]

  async run(): Promise<void> {
    const {argv} = await this.parse(Help)
    const words = (argv as string[]).filter((a) => !a.startsWith('-'))
    if (words.length > 0) {
      const id = words.join(':')
      if (!this.config.findCommand(id) && !this.config.findTopic(id)) {
        const ids = this.config.commands
          .filter((c) => !c.hidden)
          .map((c) => c.id.replace(/:/g, ' '))
          .sort()
        throw new MoerigError('E_USAGE', `no command "${words.join(' ')}"; commands: ${ids.join(', ')}`, 2)
      }
    }
    const HelpClass = await loadHelpClass(this.config)
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(
      words.length > 0 ? [words.join(':')] : [],
    )
  }
}
