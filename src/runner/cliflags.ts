/**
 * Placement and engine flags shared by `bench` and `run`, named as llama.cpp's own tools name them
 * (long forms; oclif takes single-letter short flags only).
 */
import {Flags} from '@oclif/core'
import {MoerigError} from '../lib/errors.js'
import type {PlacementRun} from '../schemas/bench.js'

export const placementFlags = {
  'n-gpu-layers': Flags.integer({
    description: 'layers to offload to the GPU(s), -1 = all (llama.cpp -ngl)',
    default: 0,
    min: -1,
    helpGroup: 'PLACEMENT',
  }),
  'override-tensor': Flags.string({
    description: 'tensor buffer override PATTERN=DEVICE, repeatable, first match wins (llama.cpp -ot), e.g. "exps=CPU"',
    multiple: true,
    helpValue: 'PATTERN=DEVICE',
    helpGroup: 'PLACEMENT',
  }),
  'n-cpu-moe': Flags.integer({
    description: 'keep the routed experts of the first N layers in CPU RAM (llama.cpp --n-cpu-moe)',
    default: 0,
    min: 0,
    helpGroup: 'PLACEMENT',
  }),
  'split-mode': Flags.string({
    description: 'how to split across GPUs (llama.cpp -sm)',
    options: ['none', 'layer', 'row'],
    default: 'layer',
    helpGroup: 'PLACEMENT',
  }),
  'tensor-split': Flags.string({
    description: 'proportions per GPU, e.g. 3,1 (llama.cpp -ts)',
    helpValue: 'N,N…',
    helpGroup: 'PLACEMENT',
  }),
  'main-gpu': Flags.integer({
    description: 'GPU for the whole model with --split-mode none (llama.cpp -mg)',
    default: 0,
    min: 0,
    helpGroup: 'PLACEMENT',
  }),
  device: Flags.string({
    description: 'offload only to these devices, comma-separated, or none for CPU only (llama.cpp -dev, --device)',
    helpValue: 'DEV,DEV…|none',
    helpGroup: 'PLACEMENT',
  }),
  'no-mmap': Flags.boolean({description: 'read the model into memory instead of mapping it', helpGroup: 'PLACEMENT'}),
  mlock: Flags.boolean({description: 'lock the model in RAM (no swapping)', helpGroup: 'PLACEMENT'}),
  numa: Flags.string({
    description: 'NUMA strategy (llama.cpp --numa)',
    options: ['disabled', 'distribute', 'isolate', 'numactl', 'mirror'],
    default: 'disabled',
    helpGroup: 'PLACEMENT',
  }),
}

/** CPU backend choices, named as llama.cpp's (-nr/--no-repack) or as ggml names the variants. */
export const engineFlags = {
  'no-repack': Flags.boolean({
    description: "keep weights out of the CPU's extra buffer types (AMX, CPU_REPACK): llama.cpp -nr, --no-repack",
    helpGroup: 'ENGINE',
  }),
  'cpu-variant': Flags.string({
    description:
      "load this CPU backend variant (libggml-cpu-NAME.so) instead of ggml's pick; `moerig engine` lists them",
    helpValue: 'NAME',
    helpGroup: 'ENGINE',
  }),
}

/** Context flags shared by bench and run, llama.cpp's names and defaults (llama-bench's). */
export const contextFlags = {
  'batch-size': Flags.integer({description: 'logical batch size (llama.cpp -b)', min: 1, helpGroup: 'CONTEXT'}),
  'ubatch-size': Flags.integer({description: 'physical batch size (llama.cpp -ub)', min: 1, helpGroup: 'CONTEXT'}),
  'cache-type-k': Flags.string({description: 'K cache type (f16, bf16, q8_0, q4_0 …)', helpGroup: 'CONTEXT'}),
  'cache-type-v': Flags.string({description: 'V cache type', helpGroup: 'CONTEXT'}),
  'flash-attn': Flags.string({
    description: 'flash attention (llama.cpp -fa)',
    options: ['auto', 'on', 'off'],
    helpGroup: 'CONTEXT',
  }),
  'no-op-offload': Flags.boolean({
    description:
      'keep ops on weights in RAM on the CPU (llama.cpp --no-op-offload, llama-bench -nopo 1); by default a GPU takes batches of ≥ 32 tokens, copying those weights over PCIe',
    helpGroup: 'CONTEXT',
  }),
}

/**
 * llama.cpp's multi-letter short flags (`-ngl 99 -ot exps=CPU -ts 3,1`), which oclif would read as
 * a one-letter flag and its value (`-n gl`), spelled as the long flags they are.
 */
const LLAMA_SHORT: Record<string, string> = {
  '-ngl': '--n-gpu-layers',
  '-ot': '--override-tensor',
  '-ts': '--tensor-split',
  '-sm': '--split-mode',
  '-mg': '--main-gpu',
  '-nr': '--no-repack',
  '-dev': '--device',
  '-ub': '--ubatch-size',
  '-ctk': '--cache-type-k',
  '-ctv': '--cache-type-v',
  '-fa': '--flash-attn',
}

export function llamaShortFlags(argv: string[]): string[] {
  const end = argv.indexOf('--')
  return argv.map((a, i) => (end >= 0 && i > end ? a : (LLAMA_SHORT[a] ?? a)))
}

/** --cpu-variant's name: a file-name stem, never a path (the engine only loads variants it listed). */
export function cpuVariantFlag(v: string | undefined): string | undefined {
  if (v === undefined) return undefined
  if (!/^[a-z0-9_]+$/.test(v))
    throw new MoerigError(
      'E_USAGE',
      `--cpu-variant ${JSON.stringify(v)}: expected a variant name such as sapphirerapids, zen4, haswell, x64 (see moerig engine)`,
    )
  return v
}

export interface PlacementFlagValues {
  'n-gpu-layers': number
  'override-tensor'?: string[]
  'n-cpu-moe': number
  'split-mode': string
  'tensor-split'?: string
  'main-gpu': number
  device?: string
  'no-mmap': boolean
  mlock: boolean
  numa: string
  'no-repack'?: boolean
}

/** "512" / "128,256" → [512] / [128, 256] (llama-bench takes comma lists). */
export function intList(flag: string, text: string): number[] {
  const v = text.split(',').map((s) => s.trim())
  if (v.some((s) => !/^\d+$/.test(s)))
    throw new MoerigError('E_USAGE', `${flag} ${text}: expected non-negative integers, comma-separated`)
  return v.map(Number)
}

/** --device's value → engine device names; "none" → [] (CPU only), as llama.cpp's parse_device_list. */
export function deviceList(text: string): string[] {
  const names = text.split(',').map((s) => s.trim())
  if (names.length === 1 && names[0].toLowerCase() === 'none') return []
  const bad = names.find((s) => !/^[A-Za-z0-9_]+$/.test(s))
  if (bad !== undefined)
    throw new MoerigError(
      'E_USAGE',
      `--device ${text}: expected device names such as CUDA0,Vulkan1 (moerig engine lists them) or none`,
    )
  return names
}

export function placementFromFlags(f: PlacementFlagValues): Partial<PlacementRun> {
  const overrides = (f['override-tensor'] ?? [])
    .flatMap((s) => s.split(','))
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf('=')
      if (i <= 0 || i === s.length - 1)
        throw new MoerigError(
          'E_USAGE',
          `--override-tensor ${s}: expected PATTERN=DEVICE, e.g. "blk\\.[0-9]+\\.ffn_.*_exps=CPU"`,
        )
      return {pattern: s.slice(0, i), device: s.slice(i + 1)}
    })
  let split: number[] = []
  if (f['tensor-split']) {
    split = f['tensor-split'].split(/[,/]/).map((x) => Number(x.trim()))
    if (split.some((x) => !Number.isFinite(x) || x < 0))
      throw new MoerigError('E_USAGE', `--tensor-split ${f['tensor-split']}: expected non-negative numbers, e.g. 3,1`)
  }
  return {
    ...(f.device === undefined ? {} : {devices: deviceList(f.device)}),
    nGpuLayers: f['n-gpu-layers'],
    tensorOverrides: overrides,
    nCpuMoe: f['n-cpu-moe'],
    splitMode: f['split-mode'] as PlacementRun['splitMode'],
    tensorSplit: split,
    mainGpu: f['main-gpu'],
    mmap: !f['no-mmap'],
    mlock: f.mlock,
    numa: f.numa as PlacementRun['numa'],
    repack: !f['no-repack'],
  }
}
