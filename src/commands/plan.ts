import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {assertUbatchWithinBatch} from '../lib/flagcheck.js'
import {checkOverwrite, writeJsonFile} from '../lib/fs.js'
import {DEFAULT_THREADS_RULE} from '../lib/llama-defaults.js'
import {renderPlan} from '../planner/render.js'
import type {MmapMode, OpOffloadMode} from '../planner/plan.js'
import {runPlan} from '../planner/run.js'
import {probeThisMachine} from '../probe/machine.js'
import {engineValues, kvTypeValues, type Engine, type KvType, type Plan} from '../schemas/plan.js'

export default class PlanCommand extends MoerigCommand {
  static override summary =
    'Plan a MoE model on your hardware: memory per device, context limits, offload placement, predicted speed, ready commands'

  static override description = `MODEL is a catalog id (moerig models) or a GGUF file (any shard of a split; only the header is read).
Memory is exact per tensor and per engine (llama.cpp's MLA latent cache, FlashMoE's per-head cache, ktransformers' NUMA replication); speed is a predicted range with its assumptions listed. The plan (-o plan.json) is what \`moerig bench --plan\` executes.`

  static override examples = [
    '<%= config.bin %> plan deepseek-r1 --quant Q4_K_M --hardware probe',
    '<%= config.bin %> plan deepseek-r1 --hardware dual-8592-2xa770 --ctx 32768 --emit',
    '<%= config.bin %> plan deepseek-r1 --hardware my-rig.json --engine flashmoe --gpus 1',
    '<%= config.bin %> plan deepseek-r1 --hardware my-rig.json --quants Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q8_0',
    '<%= config.bin %> plan /models/DeepSeek-R1-Q4_K_M-00001-of-00009.gguf --hardware box-a.json,box-b.json -o plan.json',
  ]

  static override args = {
    model: Args.string({description: 'catalog id (deepseek-r1 …) or path to a GGUF', required: true}),
  }

  static override flags = {
    quant: Flags.string({
      description: "quant of a catalog model (default: the model's usual one, e.g. Q4_K_M)",
      helpValue: 'TYPE',
    }),
    layout: Flags.string({
      description:
        'deepseek2 GGUF layout of a catalog model: mla (attn_k_b/attn_v_b, current converter) or legacy (attn_kv_b, early-2025 files)',
      options: ['mla', 'legacy'],
    }),
    hardware: Flags.string({
      description:
        'hardware profile(s): file, profile id or "probe"; several comma-separated machines plan llama.cpp RPC',
      default: 'probe',
      helpValue: 'FILE[,FILE…]',
    }),
    ctx: Flags.integer({
      description: "context length in tokens (default: 8192, or the model's trained context when shorter)",
      min: 1,
    }),
    engine: Flags.string({description: 'inference engine', options: [...engineValues], default: 'llama.cpp'}),
    gpus: Flags.integer({description: 'use exactly N GPUs (default: the count with the best predicted speed)', min: 0}),
    'kv-type': Flags.string({
      description: 'KV cache type (default: f16; FlashMoE i8 = q8_0; ktransformers bf16)',
      options: [...kvTypeValues],
    }),
    ubatch: Flags.integer({description: 'physical batch (llama.cpp -ub)', min: 1}),
    batch: Flags.integer({description: 'logical batch (llama.cpp -b)', min: 1}),
    threads: Flags.integer({description: `CPU threads (default: ${DEFAULT_THREADS_RULE})`, min: 1}),
    'flash-attn': Flags.string({
      description: 'flash attention (default: on for llama.cpp and ktransformers, off for FlashMoE)',
      options: ['on', 'off'],
    }),
    placement: Flags.string({
      description:
        'llama.cpp placement: auto (search), all-gpu (-ngl 99), exps-cpu (-ot exps=CPU), n-cpu-moe=N (--n-cpu-moe N)',
      default: 'auto',
      helpValue: 'MODE',
    }),
    mmap: Flags.string({
      description:
        "llama.cpp's model mapping: auto (--no-mmap where a GPU runs prefill on weights in RAM and RAM holds them: pinned copies, ≈ 6× the prefill of mapped ones), on, off",
      options: ['auto', 'on', 'off'],
      default: 'auto',
    }),
    'op-offload': Flags.string({
      description:
        "llama.cpp's op offload for prefill: auto (--no-op-offload where the CPU computing the weights it holds beats a GPU copying them over PCIe each ubatch), on (llama.cpp's default), off",
      options: ['auto', 'on', 'off'],
      default: 'auto',
    }),
    quants: Flags.string({description: 'compare quants of a catalog model, one row each', helpValue: 'Q2_K,Q4_K_M,…'}),
    emit: Flags.boolean({
      description: 'print the ready commands: llama-server, llama-bench, FlashMoE, ktransformers YAML + launch, RPC',
    }),
    output: Flags.string({
      char: 'o',
      description: 'write the plan (JSON) to this file (replaces only a plan moerig wrote)',
      helpValue: 'FILE',
    }),
    force: Flags.boolean({char: 'f', description: 'with -o: overwrite a file that is not a moerig plan'}),
  }

  async run(): Promise<Plan> {
    const {args, flags} = await this.parse(PlanCommand)
    assertUbatchWithinBatch(flags.ubatch, flags.batch, {ubatch: '--ubatch', batch: '--batch'})
    // refuse a bad -o before planning (the overwrite rule: src/lib/fs.ts)
    if (flags.output !== undefined)
      checkOverwrite(flags.output, {
        kind: 'plan',
        force: flags.force,
        inputs: [args.model, ...flags.hardware.split(',')],
        what: 'output',
      })
    const plan = await runPlan({
      model: args.model,
      quant: flags.quant,
      layout: flags.layout as 'mla' | 'legacy' | undefined,
      hardware: flags.hardware,
      ctx: flags.ctx,
      engine: flags.engine as Engine,
      gpus: flags.gpus,
      kvType: flags['kv-type'] as KvType | undefined,
      ubatch: flags.ubatch,
      batch: flags.batch,
      threads: flags.threads,
      flashAttention: flags['flash-attn'] === undefined ? undefined : flags['flash-attn'] === 'on',
      placement: flags.placement,
      mmap: flags.mmap as MmapMode,
      opOffload: flags['op-offload'] as OpOffloadMode,
      probe: probeThisMachine,
      quants:
        flags.quants === undefined
          ? undefined
          : flags.quants
              .split(',')
              .map((q) => q.trim())
              .filter(Boolean),
    })
    if (flags.output) writeJsonFile(flags.output, plan)
    this.log(renderPlan(plan, {emit: flags.emit}))
    if (flags.output) this.log(`saved: ${flags.output}`)
    return plan
  }
}
