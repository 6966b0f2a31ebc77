import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {createProgress} from '../lib/progress.js'
import {checkPlanFile, checkTable, ERROR_BOUNDS_PCT, outOfBounds} from '../runner/checkplan.js'
import {cpuVariantFlag, engineFlags} from '../runner/cliflags.js'
import {rpcFlag, rpcFlags} from '../runner/rpc-flags.js'
import type {CheckPlanResult} from '../schemas/checkplan.js'

export default class CheckPlan extends MoerigCommand {
  static override summary =
    "Execute a plan's placement in llama.cpp and compare the memory it planned per device with what was allocated"

  static override description = `Loads the plan's model with exactly its placement (-ngl, tensor overrides, --n-cpu-moe, tensor split), creates a context with its size, ubatch, cache types and flash attention (nothing is decoded), reads every buffer llama.cpp allocated (weights, KV cache, compute buffers, host buffers) and prints planned vs allocated per device with the error of each.
The model is loaded without mmap unless --mmap, so that every figure is memory really allocated (with mmap llama.cpp reports the file span of the CPU tensors instead).
Plan devices GPU<i> are the engine's i-th GPU (Vulkan0, CUDA0 …); a plan whose model file is missing or differs from the one planned is refused.`

  static override examples = [
    '<%= config.bin %> check-plan plan.json',
    '<%= config.bin %> check-plan plan.json --json',
    'GGML_VK_VISIBLE_DEVICES=0 <%= config.bin %> check-plan plan.json   # llvmpipe, a software Vulkan device',
  ]

  static override args = {
    plan: Args.string({description: 'plan JSON (moerig plan … -o plan.json)', required: true}),
  }

  static override flags = {
    model: Flags.string({description: "the model file (default: the plan's model.path)", helpValue: 'FILE'}),
    force: Flags.boolean({description: 'check a plan that does not fit'}),
    mmap: Flags.boolean({
      description:
        'load with mmap, as a plain run does (CPU weights then counted as the resident share of the mapped file span)',
    }),
    ...engineFlags,
    ...rpcFlags,
  }

  async run(): Promise<CheckPlanResult> {
    const {args, flags} = await this.parse(CheckPlan)
    const progress = createProgress(this.interactive)
    const r = await checkPlanFile(args.plan, {
      modelPath: flags.model,
      force: flags.force,
      mmap: flags.mmap,
      repack: !flags['no-repack'],
      cpuVariant: cpuVariantFlag(flags['cpu-variant']),
      rpc: rpcFlag(flags.rpc),
      onPhase: (label) => progress.phase(label),
      onFallback: (line) => {
        progress.done()
        this.logToStderr(line)
      },
    })
    progress.done()
    for (const l of checkTable(r)) this.log(l)
    const over = outOfBounds(r)
    this.log(
      over.length === 0
        ? `within bounds (weights and KV ${ERROR_BOUNDS_PCT.weights} %, compute ${ERROR_BOUNDS_PCT.compute} %)`
        : `over bounds: ${over.join(', ')}`,
    )
    return r
  }
}
