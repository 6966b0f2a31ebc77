import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {createProgress} from '../lib/progress.js'
import {BENCH_DEFAULTS, benchTable, memoryLines, planLines, runBench} from '../runner/bench.js'
import {checkTable} from '../runner/checkplan.js'
import {
  contextFlags,
  cpuVariantFlag,
  engineFlags,
  intList,
  llamaShortFlags,
  placementFlags,
  placementFromFlags,
} from '../runner/cliflags.js'
import type {BenchResult} from '../schemas/bench.js'
import {cpuEngineLine} from '../runner/provenance.js'
import {signalExitCode} from '../runner/child.js'
import {rpcDeviceLines, rpcFlag, rpcFlags} from '../runner/rpc-flags.js'

export default class Bench extends MoerigCommand {
  static override summary = 'Measure prompt processing and generation speed, llama-bench style'

  static override description = `pp<N> = one prompt batch of N tokens, tg<N> = N single-token decode steps, "@ d<D>" = after D tokens already in the context (-d); a warm-up run, then -r repetitions, t/s as mean ± sd.
The model runs in a child process: a llama.cpp abort is one error line. Every result is saved under --runs-dir with provenance.
--plan executes a plan's placement and context and prints planned vs measured memory per device and predicted vs measured t/s.
Ctrl-C stops after the current repetition and keeps (and saves) the finished ones, marked partial.`

  static override examples = [
    '<%= config.bin %> bench model.gguf',
    '<%= config.bin %> bench model.gguf -p 512 -n 128 -r 5 -t 16',
    '<%= config.bin %> bench model.gguf -p 512 -n 128 -d 0,4096',
    '<%= config.bin %> bench model.gguf --plan plan.json',
    '<%= config.bin %> bench model.gguf --n-gpu-layers 99 --override-tensor "exps=CPU"',
  ]

  static override args = {
    model: Args.string({description: 'GGUF model file (optional with --plan when the plan names it)', required: false}),
  }

  static override flags = {
    'n-prompt': Flags.string({
      char: 'p',
      description: 'prompt tokens per pp test, comma list; 0 = no pp test',
      default: String(BENCH_DEFAULTS.nPrompt),
      helpValue: 'N',
    }),
    'n-gen': Flags.string({
      char: 'n',
      description: 'generated tokens per tg test, comma list; 0 = no tg test',
      default: String(BENCH_DEFAULTS.nGen),
      helpValue: 'N',
    }),
    'n-depth': Flags.string({
      char: 'd',
      description:
        'tokens already in the context when each test starts (filled untimed before every repetition), comma list; llama-bench -d',
      default: '0',
      helpValue: 'N',
    }),
    repetitions: Flags.integer({char: 'r', description: 'repetitions per test', default: BENCH_DEFAULTS.reps, min: 1}),
    threads: Flags.integer({char: 't', description: "threads (default: physical cores, or the plan's)", min: 1}),
    ...contextFlags,
    'no-warmup': Flags.boolean({description: 'skip the warm-up run'}),
    plan: Flags.string({
      description: 'execute this plan (JSON from moerig plan): placement, context, threads',
      helpValue: 'FILE',
    }),
    force: Flags.boolean({
      description: "run a plan even though it does not fit; run tests past the model's trained context",
    }),
    'memory-only': Flags.boolean({
      description:
        'load with the placement and allocate the context, print memory per device, time nothing (checks a GPU placement even on a software Vulkan device)',
    }),
    'runs-dir': Flags.string({description: 'where results are saved', default: 'reports/runs', helpValue: 'DIR'}),
    'no-save': Flags.boolean({description: 'do not save the result'}),
    ...placementFlags,
    ...engineFlags,
    ...rpcFlags,
  }

  async run(): Promise<BenchResult> {
    this.argv = llamaShortFlags(this.argv) // -ngl 99, -ot …, -ts … as llama.cpp spells them
    const {args, flags} = await this.parse(Bench)
    const progress = createProgress(this.interactive)
    const placementGiven = this.argv.some((a) =>
      Object.keys(placementFlags).some((k) => a === `--${k}` || a.startsWith(`--${k}=`)),
    )
    const result = await runBench(
      {
        path: args.model,
        nPrompt: intList('-p', flags['n-prompt']),
        nGen: intList('-n', flags['n-gen']),
        nDepth: intList('-d', flags['n-depth']),
        reps: flags.repetitions,
        threads: flags.threads,
        warmup: !flags['no-warmup'],
        nBatch: flags['batch-size'],
        nUbatch: flags['ubatch-size'],
        typeK: flags['cache-type-k'],
        typeV: flags['cache-type-v'],
        flashAttn: flags['flash-attn'] as 'auto' | 'on' | 'off' | undefined,
        opOffload: flags['no-op-offload'] ? false : undefined,
        // with --plan the plan's placement wins; flags given anyway are kept only where it says nothing
        placement:
          flags.plan && !placementGiven
            ? {mmap: !flags['no-mmap'], mlock: flags.mlock, repack: !flags['no-repack']}
            : placementFromFlags(flags),
        cpuVariant: cpuVariantFlag(flags['cpu-variant']),
        rpc: rpcFlag(flags.rpc),
        pastTrainedContext: Boolean(flags.force),
        plan: flags.plan ? {path: flags.plan, force: Boolean(flags.force)} : undefined,
        runsDir: flags['no-save'] ? null : flags['runs-dir'],
        memoryOnly: flags['memory-only'],
      },
      {
        onPhase: (label, total) => progress.phase(label, total),
        onFallback: (line) => {
          progress.done()
          this.logToStderr(line)
        },
        onRep: (_test, i, reps, tps) => {
          progress.update(i + 1, `(${i + 1}/${reps} repetitions, last ${tps.toFixed(2)} t/s)`)
        },
        onInterrupt: () => progress.step('stopping after the current repetition (Ctrl-C again to abort)'),
        onPlanCheck: (r) => {
          progress.done()
          for (const l of checkTable(r)) this.log(l)
          this.log('')
        },
      },
    )
    progress.done()
    if (result.memoryOnly) this.log(`${result.model.desc}: loaded and allocated, nothing timed (--memory-only)`)
    else this.log(benchTable(result))
    this.log('')
    for (const l of memoryLines(result.memory)) this.log(l)
    if (result.plan) for (const l of planLines(result.plan)) this.log(l)
    this.log(
      `llama.cpp ${result.provenance.llamaRelease}, ${result.provenance.backend}, ${result.provenance.cpu}, ${result.config.threads} threads, ${cpuEngineLine(result.provenance)}`,
    )
    for (const l of rpcDeviceLines(result.provenance)) this.log(l)
    if (result.partial)
      this.log(
        `partial: stopped early${result.stoppedBy ? ` (${result.stoppedBy})` : ''}, the table holds the finished repetitions`,
      )
    if (result.savedTo) this.log(`saved: ${result.savedTo}`)
    if (result.partial) process.exitCode = signalExitCode(result.stoppedBy ?? null)
    return result
  }
}
