import {Args, Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'
import {createProgress} from '../lib/progress.js'
import {parseBytes} from '../lib/units.js'
import {DEFAULT_OPT_MEMORY, DEFAULT_WARMUP_FRACTION, DEFAULT_WINDOW, POLICIES, analyzeReuse} from '../reuse/analyze.js'
import type {PolicyKind} from '../reuse/cost.js'
import {loadInventory, openReuseTrace, resolveBandwidths, resolveFacts} from '../reuse/inputs.js'
import {renderReuse} from '../reuse/render.js'
import {assertValid} from '../schemas/validate.js'
import {reuseResultSchema, type ReuseResult} from '../schemas/reuse.js'

function list<T>(flag: string, text: string, parse: (s: string) => T | null, what: string): T[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const v = parse(s)
      if (v === null) throw new MoerigError('E_USAGE', `--${flag} ${text}: "${s}" is not ${what}`)
      return v
    })
}

/** A size flag ("26.5MB", "1GiB"), undefined when not given. */
function size(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const b = parseBytes(v)
  if (b === null) throw new MoerigError('E_USAGE', `--${flag} ${v}: expected a size like 26.5MB or 1GiB`)
  return b
}

/** A bandwidth flag in GB/s, undefined when not given. */
function gbs(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const x = Number(v)
  if (!Number.isFinite(x) || x <= 0) throw new MoerigError('E_USAGE', `--${flag} ${v}: expected GB/s > 0`)
  return x
}

const positiveInt = (s: string) => (/^\d+$/.test(s) && Number(s) > 0 ? Number(s) : null)
const bytesArg = (s: string) => {
  const b = parseBytes(s)
  return b !== null && b > 0 ? b : null
}

export default class Reuse extends MoerigCommand {
  static override summary = 'Expert-reuse analysis and VRAM expert-cache simulation from a routing trace'

  static override description = `Reads a routing trace (moerig run --trace, or CSV token,layer,experts) and reports, per MoE layer and overall, how much consecutive tokens reuse experts, each beside its random-routing baseline, and how an expert cache in spare VRAM would do: LRU, LFU, a static hot set (learnt from a warm-up prefix, scored on the rest) and Belady's optimum, per layer capacity (--cache) or global VRAM budget (--vram). With bytes per expert (trace header, --gguf, --model or --expert-bytes) and bandwidths (--hardware or --*-gbs) it gives bytes over PCIe per token and a bandwidth-only decode tok/s estimate. See docs/readme-reuse.md.`

  static override examples = [
    '<%= config.bin %> reuse hello.moetrace',
    '<%= config.bin %> reuse routing.csv --experts 64 --cache 4,8,16,32',
    '<%= config.bin %> reuse r1.moetrace --model deepseek-r1 --quant Q4_K_M --hardware dual-8592-2xa770 --vram 4GiB,16GiB,32GiB',
  ]

  static override args = {
    trace: Args.string({
      description: 'routing trace: .moetrace (moerig run --trace) or CSV token,layer,experts',
      required: true,
    }),
  }

  static override flags = {
    experts: Flags.integer({
      description: 'n_expert for a CSV trace (default: from --gguf/--model)',
      min: 1,
      max: 65536,
      helpValue: 'N',
    }),
    cache: Flags.string({
      description: 'experts cached per MoE layer, comma-separated',
      default: '4,8,16,32,64',
      helpValue: 'LIST',
    }),
    vram: Flags.string({
      description: 'VRAM budgets for cached experts, split evenly over the MoE layers (e.g. 4GiB,16GiB)',
      helpValue: 'LIST',
    }),
    policies: Flags.string({
      description: 'cache policies: lru, lfu, static, opt',
      default: POLICIES.join(','),
      helpValue: 'LIST',
    }),
    window: Flags.integer({
      description: 'window w of "reuse in w tokens"',
      default: DEFAULT_WINDOW,
      min: 1,
      helpValue: 'W',
    }),
    warmup: Flags.string({
      description: 'warm-up prefix of the static policy: tokens, or a fraction < 1 of the trace',
      default: String(DEFAULT_WARMUP_FRACTION),
      helpValue: 'N|FRACTION',
    }),
    gguf: Flags.string({
      description: 'GGUF of the traced model: bytes per expert and non-routed bytes',
      helpValue: 'FILE',
      exclusive: ['model'],
    }),
    model: Flags.string({description: 'catalog model id (profiles/models) for bytes per expert', helpValue: 'ID'}),
    quant: Flags.string({
      description: 'quant of the catalog model (default: its default quant)',
      helpValue: 'NAME',
      dependsOn: ['model'],
    }),
    'expert-bytes': Flags.string({
      description: 'bytes of one routed expert (gate+up+down), e.g. 26.5MB',
      helpValue: 'SIZE',
    }),
    'dense-bytes': Flags.string({description: 'non-routed bytes read per token, e.g. 9.92GB', helpValue: 'SIZE'}),
    hardware: Flags.string({
      description: 'hardware profile (file, id in profiles/hardware, or "probe") for PCIe, GPU and CPU bandwidth',
      helpValue: 'PROFILE',
    }),
    gpu: Flags.integer({
      description: 'GPU index in the hardware profile',
      min: 0,
      dependsOn: ['hardware'],
      helpValue: 'INDEX',
    }),
    'pcie-gbs': Flags.string({description: 'host→GPU bandwidth, GB/s', helpValue: 'GBS'}),
    'gpu-gbs': Flags.string({description: 'GPU memory bandwidth, GB/s', helpValue: 'GBS'}),
    'cpu-gbs': Flags.string({description: 'CPU memory bandwidth, GB/s (a measured triad is best)', helpValue: 'GBS'}),
    from: Flags.string({
      description:
        'analyse from this token on: a number, or "prompt" to skip the prompt tokens a moerig run trace records',
      default: '0',
      helpValue: 'N|prompt',
    }),
    'opt-memory': Flags.string({
      description:
        "memory for OPT's per-layer columns: 2 bytes per access of each layer held, + 4 per access of one layer (more layers per pass over the trace)",
      default: '1GiB',
      helpValue: 'SIZE',
    }),
  }

  async run(): Promise<ReuseResult> {
    const {args, flags} = await this.parse(Reuse)
    const capacities = list('cache', flags.cache, positiveInt, 'a positive integer')
    const vram = flags.vram ? list('vram', flags.vram, bytesArg, 'a size like 16GiB') : []
    const policies = list(
      'policies',
      flags.policies,
      (s) => ((POLICIES as readonly string[]).includes(s) ? (s as PolicyKind) : null),
      `one of ${POLICIES.join(', ')}`,
    )
    if (policies.length === 0) throw new MoerigError('E_USAGE', '--policies: at least one of lru, lfu, static, opt')
    if (capacities.length === 0 && vram.length === 0)
      throw new MoerigError('E_USAGE', 'nothing to simulate: give --cache and/or --vram')
    const warmup = Number(flags.warmup)
    if (!Number.isFinite(warmup) || warmup <= 0 || (warmup > 1 && !Number.isInteger(warmup)))
      throw new MoerigError('E_USAGE', `--warmup ${flags.warmup}: expected a token count or a fraction between 0 and 1`)

    const model = await loadInventory({gguf: flags.gguf, model: flags.model, quant: flags.quant})
    const {src, from} = await openReuseTrace(args.trace, {from: flags.from, experts: flags.experts, model})
    const facts = resolveFacts(
      src.header,
      {expertBytes: size('expert-bytes', flags['expert-bytes']), denseBytes: size('dense-bytes', flags['dense-bytes'])},
      model,
    )
    const bandwidth = await resolveBandwidths({
      hardware: flags.hardware,
      gpu: flags.gpu,
      pcieGBs: gbs('pcie-gbs', flags['pcie-gbs']),
      gpuGBs: gbs('gpu-gbs', flags['gpu-gbs']),
      cpuGBs: gbs('cpu-gbs', flags['cpu-gbs']),
    })
    const progress = createProgress(this.interactive)
    let phase = ''
    let result: ReuseResult
    try {
      result = await analyzeReuse(src, {
        capacities,
        vram,
        policies,
        window: flags.window,
        warmup,
        facts,
        bandwidth,
        optMemoryBytes: size('opt-memory', flags['opt-memory']) ?? DEFAULT_OPT_MEMORY,
        fromToken: from,
        onProgress: (label, done, total) => {
          if (label !== phase) progress.phase((phase = label), total)
          progress.update(done)
        },
      })
    } finally {
      progress.done()
    }
    assertValid<ReuseResult>(reuseResultSchema, result, 'reuse result')
    if (!this.jsonEnabled()) for (const line of renderReuse(result)) this.log(line)
    return result
  }
}
