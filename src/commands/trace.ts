import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'
import {checkOverwrite} from '../lib/fs.js'
import {convertTrace, isMoetrace, traceFormatFor, type TraceHeader} from '../trace/trace.js'

export default class Trace extends MoerigCommand {
  static override summary = 'Convert a routing trace between the binary format and CSV (token,layer,experts)'

  static override description = `The input's format is read from its content (MOETRACE magic, else CSV; CSV has no model header: --experts gives n_expert). The output's format comes from its name: .csv → CSV (gate weights dropped), anything else → .moetrace. Format: docs/trace-format.md. Writes atomically (temp file + rename); never over the input, and over an existing file only when it is a moerig trace (.moetrace) or with --force.`

  static override examples = [
    '<%= config.bin %> trace convert hello.moetrace hello.csv',
    '<%= config.bin %> trace convert routing.csv routing.moetrace --experts 64 --model-name "DeepSeek-V2-Lite"',
  ]

  static override args = {
    action: Args.string({description: 'what to do', options: ['convert'], required: true}),
    input: Args.string({description: 'trace to read (.moetrace or CSV)', required: true}),
    output: Args.string({description: 'file to write', required: true}),
  }

  static override flags = {
    experts: Flags.integer({description: 'n_expert, for CSV input', min: 1, max: 65536, helpValue: 'N'}),
    'model-name': Flags.string({description: 'model name for the header, for CSV input', helpValue: 'NAME'}),
    arch: Flags.string({description: 'architecture for the header, for CSV input', helpValue: 'ARCH'}),
    force: Flags.boolean({
      char: 'f',
      description: 'overwrite an existing output that is not a moerig trace (a CSV, say)',
    }),
  }

  async run(): Promise<{input: string; output: string; to: 'csv' | 'moetrace'; header: TraceHeader}> {
    const {args, flags} = await this.parse(Trace)
    const to = traceFormatFor(args.output)
    // never the input itself (also through a symlink or hard link); the overwrite rule: src/lib/fs.ts
    checkOverwrite(args.output, {kind: to === 'moetrace' ? 'moetrace' : null, force: flags.force, inputs: [args.input]})
    if (!isMoetrace(args.input) && flags.experts === undefined) {
      throw new MoerigError('E_USAGE', `trace ${args.input} is CSV (no MOETRACE magic): give n_expert with --experts N`)
    }
    const header = await convertTrace(args.input, args.output, to, {
      nExpert: flags.experts,
      model: flags['model-name'],
      arch: flags.arch,
    })
    this.log(
      `${args.input} → ${args.output} (${to}): ${header.nTokens} tokens × ${header.moeLayers.length} MoE layers × k ${header.k} of ${header.nExpert}`,
    )
    return {input: args.input, output: args.output, to, header}
  }
}
