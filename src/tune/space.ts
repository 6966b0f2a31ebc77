/**
 * The configurations `moerig tune` searches (issue 14): the flags a llama.cpp user tries one
 * llama-bench run at a time. Pure: hardware facts in, candidate configurations out.
 *
 * Dimensions and where their values come from:
 *   threads     1 … logical CPUs, physical cores first (llama.cpp's own default is the physical
 *               core count, common/common.cpp cpu_get_num_math); on machines with more than
 *               THREAD_LADDER_ABOVE logical CPUs a ladder (powers of two, per NUMA node, cores,
 *               all) instead of every count
 *   ubatch/batch -ub 128…2048 (powers of two, at most the pp test: a larger ubatch than the prompt
 *               changes nothing), -b max(2048, ub) (llama.cpp's default logical batch)
 *   flash attn  -fa auto | on | off
 *   KV cache    -ctk/-ctv f16 | q8_0 (what the R1 recipes use; q4_0 loses quality)
 *   repack      extra buffer types on | off (--no-repack)
 *   CPU variant ggml's pick and the next runnable variant (libggml-cpu-<name>.so), when several run
 *   NUMA        --numa disabled | distribute | isolate on multi-node machines
 *   op offload  on | off (--no-op-offload) where a GPU placement keeps weights in RAM: whether the
 *               GPU copies them for each prefill ubatch or the CPU computes them (plan --op-offload)
 *   placement   CPU only; with GPUs, per GPU count: the planner's placement, -ot exps=CPU, all on
 *               GPU, and --n-cpu-moe N at a few N; -ts is the planner's split for each
 */

export type FlashAttn = 'auto' | 'on' | 'off'
export type NumaRun = 'disabled' | 'distribute' | 'isolate'
export type PlacementMode = 'cpu' | 'auto' | 'all-gpu' | 'exps-cpu' | 'n-cpu-moe'

/** Where the layers go: as a planner placement (`plan --placement`) on `gpus` GPUs. */
export interface PlacementChoice {
  gpus: number
  mode: PlacementMode
  /** --n-cpu-moe N for mode n-cpu-moe, else null */
  nCpuMoe: number | null
}

export interface TuneConfig {
  threads: number
  nUbatch: number
  nBatch: number
  flashAttn: FlashAttn
  /** K and V cache type (-ctk, -ctv) */
  kvType: string
  /** extra buffer types (CPU_REPACK, AMX); false = --no-repack */
  repack: boolean
  /** libggml-cpu-<name>.so; null = ggml's pick */
  cpuVariant: string | null
  numa: NumaRun
  placement: PlacementChoice
  /** false = --no-op-offload; absent = true (llama.cpp's default) */
  opOffload?: boolean
}

/** llama.cpp's defaults (llama-bench cmd_params_defaults, common_params): -ub 512, -b 2048, -fa auto, f16 cache. */
export const LLAMA_DEFAULT_UBATCH = 512
export const LLAMA_DEFAULT_BATCH = 2048
/** Above this many logical CPUs, threads follow a ladder instead of every count. */
export const THREAD_LADDER_ABOVE = 16
/** ubatch values tried (llama.cpp users try 128 … 2048; 4096 only pays on GPUs with huge prompts). */
export const UBATCH_VALUES = [128, 256, 512, 1024, 2048]
export const KV_TYPES = ['f16', 'q8_0']
/** --n-cpu-moe values tried per GPU count besides the planner's own (evenly spaced over the MoE layers). */
export const N_CPU_MOE_STEPS = 4

export interface SpaceInput {
  logicalCpus: number
  physicalCores: number
  numaNodes: number
  /** GPUs usable (the hardware profile's, limited to what the engine sees) */
  gpus: number
  /** index of the first MoE layer and the layer count: --n-cpu-moe counts blocks from 0 */
  firstMoeLayer: number
  nLayer: number
  /** CPU variants this CPU runs, best first (ggml's pick first) */
  cpuVariants: string[]
  /** prompt tokens of the pp test (bounds ubatch) */
  nPrompt: number
  kvTypes?: string[]
  /** tests: a smaller space */
  ubatchValues?: number[]
  threads?: number[]
}

/** 1 … logical CPUs, physical cores first; a ladder on big machines. */
export function threadValues(logical: number, cores: number, numaNodes = 1): number[] {
  const c = Math.max(1, Math.min(cores, logical))
  let first: number[]
  let rest: number[]
  if (logical <= THREAD_LADDER_ABOVE) {
    first = Array.from({length: c}, (_, i) => i + 1)
    rest = Array.from({length: logical - c}, (_, i) => c + i + 1)
  } else {
    const s = new Set<number>()
    for (let t = 1; t < c; t *= 2) s.add(t)
    const perNode = Math.floor(c / Math.max(1, numaNodes))
    for (const t of [perNode, Math.round(c * 0.75), c - 2, c - 1, c]) if (t >= 1 && t <= c) s.add(t)
    first = [...s].sort((a, b) => a - b)
    rest = logical > c ? [Math.round((c + logical) / 2), logical].filter((t) => t > c) : []
  }
  // physical cores first: the counts llama.cpp users start from, then the SMT siblings
  return [...first.slice().reverse(), ...rest]
}

/** The placements to try: CPU only, and per GPU count the planner's, exps=CPU, all-gpu and --n-cpu-moe steps. */
export function placementChoices(gpus: number, firstMoeLayer: number, nLayer: number): PlacementChoice[] {
  const out: PlacementChoice[] = [{gpus: 0, mode: 'cpu', nCpuMoe: null}]
  const moe = Math.max(0, nLayer - firstMoeLayer)
  for (let g = 1; g <= gpus; g++) {
    out.push({gpus: g, mode: 'auto', nCpuMoe: null})
    out.push({gpus: g, mode: 'exps-cpu', nCpuMoe: null})
    out.push({gpus: g, mode: 'all-gpu', nCpuMoe: null})
    const ns = new Set<number>()
    for (let i = 1; i < N_CPU_MOE_STEPS + 1 && moe > 1; i++)
      ns.add(firstMoeLayer + Math.round((i * moe) / (N_CPU_MOE_STEPS + 1)))
    for (const n of [...ns].sort((a, b) => a - b)) out.push({gpus: g, mode: 'n-cpu-moe', nCpuMoe: n})
  }
  return out
}

export interface SpaceValues {
  threads: number[]
  ubatch: number[]
  flashAttn: FlashAttn[]
  kvTypes: string[]
  repack: boolean[]
  cpuVariants: Array<string | null>
  numa: NumaRun[]
  placements: PlacementChoice[]
  /** [true] without GPUs; [true, false] with (tried only on placements that keep weights in RAM) */
  opOffload: boolean[]
}

/** The values of every dimension on this machine (what the result's `space` records). */
export function spaceValues(s: SpaceInput): SpaceValues {
  const ub = (s.ubatchValues ?? UBATCH_VALUES).filter((u) => u <= Math.max(s.nPrompt, UBATCH_VALUES[0]))
  return {
    threads: s.threads ?? threadValues(s.logicalCpus, s.physicalCores, s.numaNodes),
    ubatch: ub.length > 0 ? ub : [LLAMA_DEFAULT_UBATCH],
    flashAttn: ['auto', 'on', 'off'],
    kvTypes: s.kvTypes ?? KV_TYPES,
    repack: [true, false],
    // ggml's pick (null) and the next runnable variant: the others are older ISAs, slower by construction
    cpuVariants: s.cpuVariants.length > 1 ? [null, s.cpuVariants[1]] : [null],
    numa: s.numaNodes > 1 ? ['disabled', 'distribute', 'isolate'] : ['disabled'],
    placements: placementChoices(s.gpus, s.firstMoeLayer, s.nLayer),
    opOffload: s.gpus > 0 ? [true, false] : [true],
  }
}

/** Placements where --no-op-offload changes something: a GPU, and weights left in RAM. */
export function keepsWeightsInRam(p: PlacementChoice): boolean {
  return p.gpus > 0 && p.mode !== 'all-gpu'
}

/** Every combination of the dimensions (pruning by fit is the predictor's job). */
export function candidateConfigs(v: SpaceValues): TuneConfig[] {
  const out: TuneConfig[] = []
  for (const placement of v.placements)
    for (const threads of v.threads)
      for (const nUbatch of v.ubatch)
        for (const flashAttn of v.flashAttn)
          for (const kvType of v.kvTypes)
            for (const repack of v.repack)
              for (const cpuVariant of v.cpuVariants)
                for (const numa of v.numa)
                  for (const opOffload of v.opOffload) {
                    if (!opOffload && !keepsWeightsInRam(placement)) continue
                    out.push({
                      threads,
                      nUbatch,
                      nBatch: Math.max(LLAMA_DEFAULT_BATCH, nUbatch),
                      flashAttn,
                      kvType,
                      repack,
                      cpuVariant,
                      numa,
                      placement,
                      ...(opOffload ? {} : {opOffload: false}),
                    })
                  }
  return out
}

/**
 * llama.cpp's defaults on this machine: its default threads (physical cores), -ub 512, -b 2048,
 * -fa auto, f16 cache, repacking on, ggml's CPU variant, no NUMA strategy, and llama-bench's -ngl 99
 * (every layer on the GPUs) where there are GPUs.
 */
export function llamaDefaults(s: Pick<SpaceInput, 'logicalCpus' | 'physicalCores' | 'gpus'>): TuneConfig {
  return {
    threads: Math.max(1, Math.min(s.physicalCores, s.logicalCpus)),
    nUbatch: LLAMA_DEFAULT_UBATCH,
    nBatch: LLAMA_DEFAULT_BATCH,
    flashAttn: 'auto',
    kvType: 'f16',
    repack: true,
    cpuVariant: null,
    numa: 'disabled',
    placement: s.gpus > 0 ? {gpus: s.gpus, mode: 'all-gpu', nCpuMoe: null} : {gpus: 0, mode: 'cpu', nCpuMoe: null},
  }
}

/** A stable id: equal configurations, equal ids. */
export function configKey(c: TuneConfig): string {
  const p = c.placement
  const place = p.mode === 'cpu' ? 'cpu' : `${p.gpus}gpu:${p.mode}${p.mode === 'n-cpu-moe' ? `=${p.nCpuMoe}` : ''}`
  return [
    `t${c.threads}`,
    `ub${c.nUbatch}`,
    `b${c.nBatch}`,
    `fa-${c.flashAttn}`,
    `kv-${c.kvType}`,
    c.repack ? 'repack' : 'no-repack',
    `cpu-${c.cpuVariant ?? 'pick'}`,
    `numa-${c.numa}`,
    place,
    ...(c.opOffload === false ? ['nopo'] : []),
  ].join(' ')
}

/** The dimensions as values, for the similarity used by the feedback (search.ts). */
export function dimensions(c: TuneConfig): string[] {
  const p = c.placement
  return [
    String(c.threads),
    `${c.nUbatch}/${c.nBatch}`,
    c.flashAttn,
    c.kvType,
    String(c.repack),
    c.cpuVariant ?? '',
    c.numa,
    `${p.gpus}:${p.mode}:${p.nCpuMoe ?? ''}`,
    String(c.opOffload !== false),
  ]
}

/**
 * The configuration as llama.cpp flags (the table's config column): threads, batch sizes, flash
 * attention, cache type, then only what differs from llama.cpp's own behaviour (--no-repack, the
 * CPU variant, --numa). The placement is added by the caller (planner/emit.ts placementFlags).
 */
export function configFlags(c: TuneConfig): string {
  const parts = [`-t ${c.threads}`, `-ub ${c.nUbatch}`, `-b ${c.nBatch}`, `-fa ${c.flashAttn}`, `-ctk ${c.kvType}`]
  if (!c.repack) parts.push('--no-repack')
  if (c.cpuVariant) parts.push(`--cpu-variant ${c.cpuVariant}`)
  if (c.numa !== 'disabled') parts.push(`--numa ${c.numa}`)
  if (c.opOffload === false) parts.push('--no-op-offload')
  return parts.join(' ')
}
