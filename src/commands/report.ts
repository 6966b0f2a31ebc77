import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'
import {createProgress} from '../lib/progress.js'
import {runReport} from '../report/report.js'
import {reportResultSchema, type ReportResult} from '../schemas/report.js'
import {assertValid} from '../schemas/validate.js'

export default class Report extends MoerigCommand {
  static override summary =
    'Render a report (HTML, Markdown, PNG charts) from profiles, plans, bench results, reuse analyses and traces'

  static override description = `Inputs are recognised by content: hardware profiles (probe --json / profiles/hardware/*.json), plans (plan --json or -o), bench and run results (reports/runs/*.json), reuse analyses (reuse --json) and routing traces (run --trace; CSV traces need --experts). Several plans or bench results are compared side by side. The folder gets index.html (self-contained, opens offline), report.md and charts/*.png.`

  static override strict = false

  static override args = {
    input: Args.string({description: 'input files (any mix, any number)'}),
  }

  static override flags = {
    output: Flags.string({char: 'o', summary: 'report folder (replaced atomically)', default: 'reports/report'}),
    title: Flags.string({summary: 'report title'}),
    experts: Flags.integer({summary: 'n_expert for CSV routing traces', min: 1, max: 65536}),
  }

  static override examples = [
    '<%= config.bin %> report plan-q4.json plan-q2.json reports/runs/*.json -o reports/r1',
    '<%= config.bin %> report profiles/hardware/dual-8592-2xa770.json plan.json run.moetrace reuse.json',
  ]

  async run(): Promise<ReportResult> {
    const {argv, flags} = await this.parse(Report)
    const inputs = argv as string[]
    if (inputs.length === 0)
      throw new MoerigError(
        'E_USAGE',
        'report: give at least one input file (profile, plan, bench result, reuse analysis or trace)',
      )
    const progress = createProgress(this.interactive)
    const result = await runReport(inputs, {output: flags.output, title: flags.title, experts: flags.experts, progress})
    progress.done()
    this.log(`report: ${result.dir}/index.html (${result.charts.length} chart${result.charts.length === 1 ? '' : 's'})`)
    return assertValid<ReportResult>(reportResultSchema, result, 'report result')
  }
}
