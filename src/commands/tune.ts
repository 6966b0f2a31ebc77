import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {createProgress} from '../lib/progress.js'
import {probeThisMachine} from '../probe/machine.js'
import {loadProfiles} from '../planner/run.js'
import {parseBudget} from '../runner/calibrate.js'
import {rpcDeviceLines, rpcFlag, rpcFlags} from '../runner/rpc-flags.js'
import type {TuneResult} from '../schemas/tune.js'
import {progressLine, tuneLines} from '../tune/render.js'
import {configFlags} from '../tune/space.js'
import {runTune, TUNE_TESTS} from '../tune/tune.js'

const SIGNAL_EXIT: Record<string, number> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export default class Tune extends MoerigCommand {
  static override summary = 'Find the fastest llama.cpp configuration for a model on this machine, by measurement'

  static override description = `Searches what a llama.cpp user would try one llama-bench run at a time: threads, -ub/-b, -fa, the KV cache type, --no-repack, the CPU variant, --numa on multi-node machines and, with GPUs, the placement (--n-cpu-moe N, -ot, -ts). The planner prunes what does not fit at --ctx and ranks the rest by predicted speed; short measurements (bench's runner) with successive halving follow, each one correcting the predictions of the rest; the top three are confirmed with full repetitions. Stops at --budget.
Prints the measured configurations ranked (pp and tg t/s mean ± sd, memory per device, ratios to llama.cpp's defaults and the plan's pick) and the winner as llama-server / llama-bench command lines; saves the result under --out-dir for moerig report. Ctrl-C stops after the current repetition and keeps everything measured.`

  static override examples = [
    '<%= config.bin %> tune model.gguf',
    '<%= config.bin %> tune model.gguf --objective prefill --budget 30m --ctx 16384',
    '<%= config.bin %> tune model.gguf --hardware my-rig.json --plan plan.json --json',
    '<%= config.bin %> tune model.gguf --hardware this.json,other.json --rpc 192.168.1.20:50052',
  ]

  static override args = {
    model: Args.string({description: 'GGUF model file', required: true}),
  }

  static override flags = {
    hardware: Flags.string({
      description:
        'hardware profile(s) (file or id) the planner prunes and predicts with; "probe" = this machine; several comma-separated machines (this one first) search llama.cpp RPC splits, each other machine served by one --rpc server in the same order',
      default: 'probe',
      helpValue: 'PROFILE',
    }),
    ctx: Flags.integer({
      description: "context every configuration must fit (default: 8192, or the model's trained context if shorter)",
      min: 1,
      helpValue: 'N',
    }),
    objective: Flags.string({
      description: 'what to maximise: decode (tg t/s), prefill (pp t/s) or balanced (their geometric mean)',
      options: ['decode', 'prefill', 'balanced'],
      default: 'decode',
    }),
    budget: Flags.string({description: 'time budget, e.g. 10m, 90s, 1m30s', default: '10m', helpValue: 'DURATION'}),
    plan: Flags.string({
      description: "compare with this plan's pick (JSON from moerig plan; default: the planner's pick here)",
      helpValue: 'FILE',
    }),
    'n-prompt': Flags.integer({
      char: 'p',
      description: 'prompt tokens of the pp test',
      default: TUNE_TESTS.nPrompt,
      min: 1,
      helpValue: 'N',
    }),
    'n-gen': Flags.integer({
      char: 'n',
      description: 'generated tokens of the tg test',
      default: TUNE_TESTS.nGen,
      min: 1,
      helpValue: 'N',
    }),
    repetitions: Flags.integer({
      char: 'r',
      description: 'repetitions of the confirmed top three (the first runs use 1)',
      default: 5,
      min: 1,
      max: 50,
    }),
    'out-dir': Flags.string({description: 'where the result is saved', default: 'reports/tune', helpValue: 'DIR'}),
    'no-save': Flags.boolean({description: 'do not save the result'}),
    ...rpcFlags,
  }

  async run(): Promise<TuneResult> {
    const {args, flags} = await this.parse(Tune)
    const budgetS = parseBudget(flags.budget)
    const rpc = rpcFlag(flags.rpc)
    const progress = createProgress(this.interactive)
    let stopSignal: 'SIGINT' | 'SIGTERM' | 'SIGHUP' | null = null
    const onSignal = (sig: (typeof SIGNALS)[number]) => {
      if (stopSignal) process.exit(SIGNAL_EXIT[sig] ?? 130) // a second Ctrl-C: abort now
      stopSignal = sig
      progress.step('stopping after the current repetition; everything measured is kept (Ctrl-C again to abort)')
    }
    const handlers = SIGNALS.map((s) => [s, () => onSignal(s)] as const)
    for (const [s, h] of handlers) process.on(s, h)
    try {
      progress.phase(flags.hardware === 'probe' ? 'probing this machine' : `reading ${flags.hardware}`)
      const profiles = await loadProfiles(flags.hardware, probeThisMachine)
      const result = await runTune(
        {
          model: args.model,
          profiles,
          rpc,
          ctx: flags.ctx,
          objective: flags.objective as 'decode' | 'prefill' | 'balanced',
          budgetS,
          planPath: flags.plan,
          tests: {nPrompt: flags['n-prompt'], nGen: flags['n-gen']},
          fullReps: flags.repetitions,
          outDir: flags['no-save'] ? null : flags['out-dir'],
          stopRequested: () => stopSignal !== null,
          stopSignal: () => stopSignal,
        },
        {
          onPhase: (label) => progress.phase(label),
          onSearch: (e) => {
            if (e.type === 'start') progress.phase(progressLine(e, configFlags(e.candidate.config)))
          },
          onRep: (i, n, tps) => progress.update(i + 1, `(${i + 1}/${n}, last ${tps.toFixed(2)} t/s)`),
          onNote: (line) => progress.step(line),
        },
      )
      progress.done()
      for (const line of tuneLines(result)) this.log(line)
      for (const line of rpcDeviceLines(result.provenance)) this.log(line)
      if (result.partial) process.exitCode = SIGNAL_EXIT[result.stoppedBy ?? 'SIGINT']
      return result
    } finally {
      progress.done()
      for (const [s, h] of handlers) process.off(s, h)
    }
  }
}
