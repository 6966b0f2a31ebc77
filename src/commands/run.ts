import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {safeText} from '../lib/text.js'
import {checkOverwrite} from '../lib/fs.js'
import {createProgress} from '../lib/progress.js'
import {
  contextFlags,
  cpuVariantFlag,
  engineFlags,
  llamaShortFlags,
  placementFlags,
  placementFromFlags,
} from '../runner/cliflags.js'
import {rpcFlag, rpcFlags} from '../runner/rpc-flags.js'
import {runPrompt} from '../runner/run.js'
import {signalExitCode} from '../runner/child.js'
import type {RunResult} from '../schemas/run.js'

export default class Run extends MoerigCommand {
  static override summary =
    'Generate text from a prompt, print prefill/decode speed, optionally record the expert routing'

  static override description = `Streams the generated text to stdout, then prefill and decode tokens/s to stderr.
--trace writes the routing trace (docs/trace-format.md): for every prompt and generated token, for every MoE layer, the selected experts in gate order and their weights.
Greedy by default; --temperature > 0 samples with --seed. Ctrl-C stops and keeps what was generated.`

  static override examples = [
    '<%= config.bin %> run model.gguf --prompt "Explain mixture of experts"',
    '<%= config.bin %> run model.gguf --prompt "Hello" -n 256 --trace hello.moetrace',
  ]

  static override args = {
    model: Args.string({description: 'GGUF model file', required: true}),
  }

  static override flags = {
    prompt: Flags.string({description: 'the prompt', required: true}),
    'n-predict': Flags.integer({char: 'n', description: 'tokens to generate', default: 128, min: 1}),
    trace: Flags.string({
      description: 'write the routing trace to this file (replaces only a moerig trace)',
      helpValue: 'FILE',
    }),
    force: Flags.boolean({char: 'f', description: 'with --trace: overwrite a file that is not a moerig trace'}),
    threads: Flags.integer({char: 't', description: 'threads (default: physical cores)', min: 1}),
    'ctx-size': Flags.integer({
      char: 'c',
      description: 'context size in tokens (default: 4096, or the trained context if smaller)',
      min: 16,
    }),
    temperature: Flags.string({description: 'sampling temperature; 0 = greedy', default: '0'}),
    seed: Flags.integer({description: 'sampling seed', default: 0, min: 0}),
    'runs-dir': Flags.string({description: 'where the result is saved', default: 'reports/runs', helpValue: 'DIR'}),
    'no-save': Flags.boolean({description: 'do not save the result'}),
    ...contextFlags,
    ...placementFlags,
    ...engineFlags,
    ...rpcFlags,
  }

  async run(): Promise<RunResult> {
    this.argv = llamaShortFlags(this.argv) // -ngl 99, -ot …, -ts … as llama.cpp spells them
    const {args, flags} = await this.parse(Run)
    // a --trace path that cannot be written is refused before generating (overwrite rule: src/lib/fs.ts)
    if (flags.trace !== undefined)
      checkOverwrite(flags.trace, {kind: 'moetrace', force: flags.force, inputs: [args.model], what: '--trace'})
    const temperature = Number(flags.temperature)
    if (!Number.isFinite(temperature) || temperature < 0)
      this.error(`--temperature ${flags.temperature}: expected a number >= 0`)
    const progress = createProgress(this.interactive)
    const json = this.jsonEnabled()
    let streaming = false
    const result = await runPrompt(
      {
        path: args.model,
        prompt: flags.prompt,
        nPredict: flags['n-predict'],
        threads: flags.threads,
        nCtx: flags['ctx-size'],
        temperature,
        seed: flags.seed,
        nBatch: flags['batch-size'],
        nUbatch: flags['ubatch-size'],
        typeK: flags['cache-type-k'],
        typeV: flags['cache-type-v'],
        flashAttn: flags['flash-attn'] as 'auto' | 'on' | 'off' | undefined,
        opOffload: flags['no-op-offload'] ? false : undefined,
        placement: placementFromFlags(flags),
        cpuVariant: cpuVariantFlag(flags['cpu-variant']),
        rpc: rpcFlag(flags.rpc),
        tracePath: flags.trace,
        runsDir: flags['no-save'] ? null : flags['runs-dir'],
      },
      {
        onPhase: (label) => progress.phase(label),
        onFallback: (line) => {
          progress.done()
          this.logToStderr(line)
        },
        onText: (text) => {
          if (json) return
          if (!streaming) progress.done()
          streaming = true
          // model output is untrusted too: a random or hostile model can emit terminal control codes
          process.stdout.write(safeText(text))
        },
        onInterrupt: () => process.stderr.write('\n(stopping)\n'),
      },
    )
    progress.done()
    if (!json) {
      if (streaming) process.stdout.write('\n')
      const tps = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)} t/s`)
      this.logToStderr(
        `prefill: ${result.prefill.tokens} tokens in ${result.prefill.seconds.toFixed(3)} s = ${tps(result.prefill.tps)} · decode: ${result.decode.tokens} tokens in ${result.decode.seconds.toFixed(3)} s = ${tps(result.decode.tps)} (measured, ${result.threads} threads)`,
      )
      if (result.trace)
        this.logToStderr(
          `trace: ${result.trace.path} (${result.trace.nTokens} tokens × ${result.trace.moeLayers.length} MoE layers × k ${result.trace.k})`,
        )
      if (result.savedTo) this.logToStderr(`saved: ${result.savedTo}`)
    }
    if (result.partial) process.exitCode = signalExitCode(result.stoppedBy ?? null)
    return result
  }
}
