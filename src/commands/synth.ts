import {Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {createProgress} from '../lib/progress.js'
import {fmtBinary} from '../lib/units.js'
import {DEFAULT_SEED, checkModel, inFlight, removeTemps, stopSynth, synthModel} from '../runner/synth.js'
import {DEFAULT_SYNTH_QUANT, KV_LAYOUTS, SYNTH_PRESETS, SYNTH_QUANTS} from '../model/synth-presets.js'
import {cpuVariantFlag, engineFlags} from '../runner/cliflags.js'
import {synthResultSchema, type SynthResult} from '../schemas/synth.js'
import {assertValid} from '../schemas/validate.js'

const SIGNAL_EXIT: Record<string, number> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}
const SIGNALS = Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]

export default class Synth extends MoerigCommand {
  static override summary = 'Write a synthetic MoE model (GGUF, random weights) that llama.cpp loads and runs'

  static override description = `Presets:
${Object.values(SYNTH_PRESETS)
  .map((p) => `  ${p.name.padEnd(14)} ${p.description}`)
  .join('\n')}

Built with ggml's own GGUF writer; every tensor gets the type llama.cpp's own per-tensor rules give it (llama_model_quantize in dry-run mode on the header), and its data are random but valid blocks of that type written directly on -t threads (no F16 intermediate, no quantization pass). The tokenizer is a real BPE vocabulary copied from a vocab-only GGUF of the llama.cpp source. Same preset + seed = byte-identical file. The output is meaningless text; use it for tests and benchmarks.`

  static override examples = [
    '<%= config.bin %> synth --preset tiny -o models/tiny.gguf',
    '<%= config.bin %> synth --preset tiny --kv-layout legacy -o models/tiny-legacy.gguf',
    '<%= config.bin %> synth --preset r1-mini --quant Q4_K_M -o models/r1-mini-Q4_K_M.gguf --check',
    '<%= config.bin %> synth --preset r1-dram -o models/r1-dram.gguf -t 4',
  ]

  static override flags = {
    preset: Flags.string({
      char: 'p',
      summary: `model preset: ${Object.keys(SYNTH_PRESETS).join(', ')}`,
      required: true,
    }),
    quant: Flags.string({
      char: 'q',
      summary: `quantization (${SYNTH_QUANTS.join(', ')})`,
      default: DEFAULT_SYNTH_QUANT,
    }),
    output: Flags.string({char: 'o', summary: 'GGUF file to write', required: true, helpValue: 'FILE'}),
    'kv-layout': Flags.string({
      summary: `deepseek2 KV layout: ${KV_LAYOUTS.join(' (attn_k_b/attn_v_b, default) | ')} (attn_kv_b)`,
    }),
    force: Flags.boolean({char: 'f', summary: 'overwrite an existing output file'}),
    seed: Flags.integer({summary: 'random seed (same seed, same bytes)', default: DEFAULT_SEED, min: 0}),
    threads: Flags.integer({char: 't', summary: 'threads generating blocks (default: all cores)', min: 1}),
    check: Flags.boolean({
      summary: 'then load the file with llama.cpp (in the runner child process) and decode one prompt',
    }),
    ...engineFlags,
  }

  async run(): Promise<SynthResult> {
    const {flags} = await this.parse(Synth)
    const progress = createProgress(this.interactive)
    // Ctrl-C, kill or a closed terminal while native code writes: drop the temp files (the output
    // path is untouched) and exit 128 + the signal's number with one line.
    const onSignal = (sig: NodeJS.Signals) => {
      progress.done()
      // the native writer first: node's exit waits for it, and it must not recreate what we remove
      stopSynth()
      for (const p of inFlight) removeTemps(p)
      process.stderr.write(`moerig: ${sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`}; nothing written\n`)
      process.exit(SIGNAL_EXIT[sig])
    }
    for (const sig of SIGNALS) process.on(sig, onSignal)
    let phase = ''
    const quantLabel = flags.quant.toUpperCase()
    try {
      const summary = await synthModel({
        preset: flags.preset,
        output: flags.output,
        quant: flags.quant,
        kvLayout: flags['kv-layout'],
        force: flags.force,
        seed: flags.seed,
        threads: flags.threads,
        onProgress: (p) => {
          if (p.phase !== phase) {
            phase = p.phase
            progress.phase(
              p.phase === 'write' ? `writing ${quantLabel} tensors` : `quantizing to ${quantLabel}`,
              p.total,
            )
          }
          progress.update(p.done, p.tensor)
        },
      })
      progress.done()
      const result: SynthResult = {...summary}
      if (flags.check) {
        progress.phase('loading with llama.cpp')
        const c = await checkModel(summary.path, {
          threads: flags.threads ?? 1,
          cpuVariant: cpuVariantFlag(flags['cpu-variant']),
          repack: !flags['no-repack'],
        })
        progress.done()
        result.check = {
          desc: c.desc,
          nTokens: c.nTokens,
          logitsFinite: c.logitsFinite,
          loadSeconds: c.loadSeconds,
          decodeSeconds: c.decodeSeconds,
        }
      }
      assertValid<SynthResult>(synthResultSchema, result, 'synth result')
      const types = Object.entries(result.typeCounts)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')
      const size = fmtBinary(result.fileBytes, {units: ['MiB', 'GiB'], digits: {MiB: 1, GiB: 2}})
      this.log(
        `${result.path}: ${result.preset} (${result.arch}${result.kvLayout ? `, ${result.kvLayout} KV layout` : ''}) ${result.quant}, ${size}`,
      )
      this.log(
        `  ${(result.params / 1e6).toFixed(1)} M params, ${result.nLayer} blocks, ${result.nExpert} experts top-${result.nExpertUsed}, vocab ${result.nVocab}, seed ${result.seed}`,
      )
      this.log(`  ${result.tensorCount} tensors: ${types}`)
      this.log(`  written in ${result.seconds.toFixed(1)} s (${result.mbPerSecond.toFixed(0)} MB/s, measured)`)
      if (result.check) {
        const ok = result.check.logitsFinite ? 'logits finite' : 'NON-FINITE LOGITS'
        this.log(
          `  llama.cpp: ${result.check.desc}; loaded in ${result.check.loadSeconds.toFixed(2)} s, ${result.check.nTokens}-token prompt decoded in ${result.check.decodeSeconds.toFixed(3)} s, ${ok}`,
        )
      }
      return result
    } finally {
      for (const sig of SIGNALS) process.removeListener(sig, onSignal)
    }
  }
}
