import {Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'
import {createProgress} from '../lib/progress.js'
import {runDemo} from '../demo/demo.js'
import {demoResultSchema, type DemoResultJson} from '../schemas/report.js'
import {assertValid} from '../schemas/validate.js'

export default class Demo extends MoerigCommand {
  static override summary =
    'End to end on this machine: probe, synth r1-mini, plan R1 here and on a 2 × A770 rig, bench, trace, reuse, report'

  static override description = `Runs the real commands one after another (each in its own process) and writes a report. Inputs are cached under --cache (the probe profile, the synthetic GGUF, bench result, routing trace), so a second run takes seconds; --fresh rebuilds them. Steps whose command this build lacks are skipped with a line saying so.`

  static override examples = [
    '<%= config.bin %> demo',
    '<%= config.bin %> demo --preset tiny',
    '<%= config.bin %> demo --fresh -o reports/demo-again',
    '<%= config.bin %> demo --json',
  ]

  static override flags = {
    preset: Flags.string({summary: 'synthetic model preset', default: 'r1-mini'}),
    cache: Flags.string({summary: 'folder for the inputs the demo builds', default: '.moerig-cache/demo'}),
    output: Flags.string({char: 'o', summary: 'report folder', default: 'reports/demo'}),
    fresh: Flags.boolean({summary: 'rebuild every cached input'}),
  }

  async run(): Promise<DemoResultJson> {
    const {flags} = await this.parse(Demo)
    const json = this.jsonEnabled()
    const result = await runDemo({
      root: this.config.root,
      preset: flags.preset,
      cacheDir: flags.cache,
      reportDir: flags.output,
      fresh: flags.fresh,
      hasCommand: (id) => this.config.findCommand(id) !== undefined,
      log: (line) => (json ? undefined : this.log(line)),
      progress: createProgress(this.interactive),
      announce: !this.interactive,
    })
    const failed = result.steps.filter((s) => s.status === 'failed')
    if (!json) {
      this.log(`demo finished in ${result.seconds.toFixed(1)} s`)
      if (result.report) this.log(`report: ${result.report}`)
    }
    if (failed.length > 0)
      throw new MoerigError(
        'E_DEMO',
        `demo: ${failed.length} step${failed.length > 1 ? 's' : ''} failed: ${failed.map((f) => `${f.step}: ${f.detail}`).join('; ')}${result.report ? ` (report written: ${result.report})` : ''}`,
      )
    return assertValid<DemoResultJson>(demoResultSchema, result, 'demo result')
  }
}
