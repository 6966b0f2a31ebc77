/**
 * `moerig synth`: complete GGUF models with deterministic random weights that llama.cpp loads and
 * runs, for tests and benchmarks. Presets are plain data here; the native side
 * (native/src/synth.cpp) writes them with ggml's GGUF writer. Every tensor gets the type
 * llama.cpp's own per-tensor rules give it (`llama_model_quantize` in dry-run mode on the header),
 * and its data is written directly as random but valid blocks of that type, on `threads` threads:
 * no F16 intermediate, no quantization pass.
 *
 * Validation happens here first (preset, quant, output path, disk space) with one-line
 * MoerigErrors; the native code re-checks the hyper-parameters because llama.cpp aborts on
 * inconsistent ones. The file is written under a temp name next to the output and renamed into
 * place only when complete, so an existing file is never half-overwritten.
 */
import {existsSync, renameSync, statSync, statfsSync, accessSync, constants as fsc} from 'node:fs'
import {createHash} from 'node:crypto'
import {availableParallelism} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {MoerigError, oneLine} from '../lib/errors.js'
import {ensureDir, removeTemp, trackTemp, untrackTemp} from '../lib/fs.js'
import {compareTensorNames, type TensorShape} from '../model/arch.js'
import {tensorBytes} from '../model/ggml-types.js'
import {quantizeTypes} from '../model/quant.js'
import {buildDir, cacheDir as projectCacheDir} from '../lib/paths.js'
import {engineBuild, loadAddon, type SynthNativeProgress, type SynthNativeSpec} from '../engine/addon.js'

/** Quant levels synth writes (llama_ftype names; K-quant mixes follow llama.cpp's rules). */
export const SYNTH_QUANTS = ['Q2_K', 'Q3_K_M', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0', 'F16'] as const
export type SynthQuant = (typeof SYNTH_QUANTS)[number]

/**
 * deepseek2 KV layouts. `mla`: attn_k_b/attn_v_b + the *_mla keys, head_count_kv 1 (what current
 * converters write; this release caches only the latent, K = kv_lora + rope per block).
 * `legacy`: one attn_kv_b per block, per-head K/V cache (the Jan-2025 R1 GGUFs).
 */
export const KV_LAYOUTS = ['mla', 'legacy'] as const
export type KvLayout = (typeof KV_LAYOUTS)[number]

/**
 * Vocab-only GGUFs shipped in the llama.cpp source (extracted to build/llama-src/models by
 * scripts/build-native.mjs). Their tokenizer.* keys are copied verbatim: real BPE vocabularies,
 * so prompts tokenize like real text. `tokens` is the list length (checked by the native side).
 */
export const SYNTH_VOCABS = {
  'deepseek-coder': {file: 'ggml-vocab-deepseek-coder.gguf', tokens: 32256},
  'deepseek-llm': {file: 'ggml-vocab-deepseek-llm.gguf', tokens: 102400},
  qwen2: {file: 'ggml-vocab-qwen2.gguf', tokens: 151936},
} as const
export type SynthVocab = keyof typeof SYNTH_VOCABS

/** Hyper-parameters of one preset: the native spec minus paths, quant and run options. */
export type SynthHparams = Omit<
  SynthNativeSpec,
  'name' | 'preset' | 'vocabPath' | 'outPath' | 'workPath' | 'quant' | 'seed' | 'threads'
>

export interface SynthPreset {
  name: string
  description: string
  vocab: SynthVocab
  hparams: SynthHparams
}

/**
 * DeepSeek-R1 / V3 structure (HF config.json; GGUF keys per llama.cpp v0.4.0): MLA with q/kv LoRA
 * ranks and rope 64 / nope 128 / v 128 head dims, leading dense blocks, routed experts with sigmoid
 * gating, expert bias (exp_probs_b), group-limited top-k, one shared expert, expert weights
 * normalized and scaled by 2.5, YaRN rope scaling.
 */
const R1_ROUTING = {gatingFunc: 2, expertWeightsScale: 2.5, expertWeightsNorm: true, nExpertShared: 1} as const
const R1_HEAD = {ropeDim: 64, nopeDim: 128, vHeadDim: 128} as const

const tiny: SynthHparams = {
  arch: 'deepseek2',
  // 4 blocks, 1 dense; every row length a multiple of 256 except attn_k_b (nope = 128, as in R1),
  // so Q4_K_M gives a true Q4_K/Q6_K mix. The vocabulary dominates the size (2 × 256 × 32256).
  nLayer: 4,
  nDenseLead: 1,
  nEmbd: 256,
  nHead: 4,
  nFf: 512,
  nFfExp: 256,
  nExpert: 16,
  nExpertUsed: 4,
  nGroup: 4,
  nGroupUsed: 2,
  qLoraRank: 256,
  kvLoraRank: 256,
  ...R1_HEAD,
  ...R1_ROUTING,
  kvLayout: 'mla',
  // trained context 16384 (metadata only: YaRN's original context is explicit) so plans and
  // check-plan can sweep contexts 512 … 16384 (issue 7)
  nCtxTrain: 16384,
  ropeFreqBase: 10000,
  rmsEps: 1e-6,
  yarnFactor: 4,
  yarnOrigCtx: 1024,
  yarnLogMul: 0.1,
}

export const SYNTH_PRESETS: Record<string, SynthPreset> = {
  tiny: {
    name: 'tiny',
    description:
      'deepseek2 (R1 structure, MLA layout): 4 blocks (1 dense), 16 experts top-4 in 4 groups, n_embd 256; for tests',
    vocab: 'deepseek-coder',
    hparams: tiny,
  },
  'tiny-legacy': {
    name: 'tiny-legacy',
    description: 'tiny with the legacy attn_kv_b layout (per-head K/V cache, like the Jan-2025 R1 GGUFs)',
    vocab: 'deepseek-coder',
    hparams: {...tiny, kvLayout: 'legacy'},
  },
  'r1-mini': {
    name: 'r1-mini',
    description:
      'deepseek2 with R1 proportions: 12 blocks (1 dense), 256 experts top-8, 8 groups / 4 used, n_embd 1024; ≈1.5 GB at Q4_K_M, for benchmarks',
    vocab: 'deepseek-llm',
    hparams: {
      arch: 'deepseek2',
      // R1 ÷ 7 in width (7168 → 1024), rounded to multiples of 256 so every K-quant row is whole:
      // n_ff 18432 → 2560, expert 2048 → 256, q_lora 1536 → 256, heads 128 → 16. Head geometry and
      // kv_lora (512) are R1's own, so KV bytes per token per block equal R1's. 12 blocks keep the
      // file at 1–2 GB; R1 has 61 (3 dense).
      nLayer: 12,
      nDenseLead: 1,
      nEmbd: 1024,
      nHead: 16,
      nFf: 2560,
      nFfExp: 256,
      nExpert: 256,
      nExpertUsed: 8,
      nGroup: 8,
      nGroupUsed: 4,
      qLoraRank: 256,
      kvLoraRank: 512,
      ...R1_HEAD,
      ...R1_ROUTING,
      kvLayout: 'mla',
      // R1's rope: YaRN factor 40 over 4096 → 163840, yarn_log_multiplier 0.1 (= 0.1 × mscale_all_dim).
      nCtxTrain: 163840,
      ropeFreqBase: 10000,
      rmsEps: 1e-6,
      yarnFactor: 40,
      yarnOrigCtx: 4096,
      yarnLogMul: 0.1,
    },
  },
  'r1-dram': {
    name: 'r1-dram',
    description:
      'deepseek2, R1 structure, DRAM-bound: 24 blocks (1 dense), 64 experts (width 1536) top-8 in 8 groups (4 used), n_embd 2048; ≈9.0 GB at Q4_K_M, 1.43 GiB of weights read per decoded token',
    vocab: 'deepseek-llm',
    hparams: {
      arch: 'deepseek2',
      // Decode reads every active weight once per token, so bytes per token is what a DRAM-bound
      // benchmark needs: here 1.43 GiB at Q4_K_M (presetBytes), ≥ 4× the last-level
      // cache of large servers (this project's reference machine reports 480 MiB L3), so no cache
      // holds the working set and decode speed measures DRAM bandwidth. R1 itself reads ≈ 37 B
      // params ≈ 20 GiB per token; its 8-of-256 sparsity at 1 GiB active would need a 30+ GB file,
      // so this preset keeps R1's structure (MLA with R1's head geometry and kv_lora 512, sigmoid
      // group-limited routing, one shared expert, a leading dense block, YaRN) with a denser
      // top-8 of 64 (12.5 % of the experts per token) to fit a 24 GB machine with room to run:
      // ≈ 9.0 GB of weights (mmapped) + a small KV cache and compute buffers.
      // Width 2048 (R1 ÷ 3.5) and expert width 1536 are multiples of 256, so the K-quant mix is
      // the true one (only attn_k_b's 128-wide rows fall back, as in R1 files).
      nLayer: 24,
      nDenseLead: 1,
      nEmbd: 2048,
      nHead: 16,
      nFf: 8192,
      nFfExp: 1536,
      nExpert: 64,
      nExpertUsed: 8,
      nGroup: 8,
      nGroupUsed: 4,
      qLoraRank: 512,
      kvLoraRank: 512,
      ...R1_HEAD,
      ...R1_ROUTING,
      kvLayout: 'mla',
      nCtxTrain: 163840,
      ropeFreqBase: 10000,
      rmsEps: 1e-6,
      yarnFactor: 40,
      yarnOrigCtx: 4096,
      yarnLogMul: 0.1,
    },
  },
  'qwen3moe-tiny': {
    name: 'qwen3moe-tiny',
    description:
      'qwen3moe (Qwen3-30B-A3B structure: GQA with q/k norms, softmax top-k, no shared expert): 4 blocks, 16 experts top-4, n_embd 128',
    vocab: 'qwen2',
    hparams: {
      arch: 'qwen3moe',
      nLayer: 4,
      nEmbd: 128,
      nHead: 4,
      nHeadKv: 2,
      headDim: 64,
      nFfExp: 256,
      nFf: 1024,
      nExpert: 16,
      nExpertUsed: 4,
      nCtxTrain: 16384,
      ropeFreqBase: 1000000,
      rmsEps: 1e-6, // 16384: check-plan's context sweep
    },
  },
}

export interface SynthOptions {
  preset: string
  output: string
  quant?: string
  kvLayout?: string
  force?: boolean
  seed?: number
  threads?: number
  /**
   * "direct" (default): random blocks of the rule types written straight into the file.
   * "quantize": the reference the tests compare it with (F16 file, then llama_model_quantize).
   * "header": direct's header with the data section left a hole (all-zero blocks, a sparse file):
   * lets tests read a big preset's tensor types and offsets without writing its data. Not a model
   * to run: zero scales give zero weights.
   */
  pipeline?: SynthPipeline
  onProgress?: (p: SynthNativeProgress) => void
}

export const SYNTH_PIPELINES = ['direct', 'quantize', 'header'] as const
export type SynthPipeline = (typeof SYNTH_PIPELINES)[number]

export interface SynthSummary {
  path: string
  preset: string
  arch: 'deepseek2' | 'qwen3moe'
  quant: SynthQuant
  /** deepseek2 only; null for qwen3moe. */
  kvLayout: KvLayout | null
  fileBytes: number
  tensorCount: number
  params: number
  nVocab: number
  nLayer: number
  nExpert: number
  nExpertUsed: number
  seed: number
  /** ggml type name → tensor count in the written file. */
  typeCounts: Record<string, number>
  /** The whole native call: type rules, header and data (measured). */
  seconds: number
  /** fileBytes / seconds in MB/s (10^6 bytes), measured. */
  mbPerSecond: number
}

export const DEFAULT_SEED = 1

/** Version of the bytes synth writes for a given spec (part of cachedSynthModel's key). */
const SYNTH_WRITER = 'direct-1'

/** Disk a header-only file takes (the vocabulary dominates: ≈ 3 MB for 150 K tokens), generously. */
const HEADER_BYTES = 64 * 1024 ** 2

/** Bits per weight used only for the free-space estimate (Q4_K_M real files: ≈ 4.85). */
const EST_BPW: Record<SynthQuant, number> = {
  Q2_K: 3.0,
  Q3_K_M: 4.0,
  Q4_K_M: 4.9,
  Q5_K_M: 5.7,
  Q6_K: 6.6,
  Q8_0: 8.5,
  F16: 16,
}

export function presetNames(): string[] {
  return Object.keys(SYNTH_PRESETS)
}

export function parseQuant(q: string | undefined): SynthQuant {
  const want = (q ?? 'Q4_K_M').toUpperCase()
  const hit = SYNTH_QUANTS.find((x) => x === want)
  if (!hit) throw new MoerigError('E_USAGE', `unknown quant "${q}"; synth writes ${SYNTH_QUANTS.join(', ')}`)
  return hit
}

export function getPreset(name: string): SynthPreset {
  const p = Object.hasOwn(SYNTH_PRESETS, name) ? SYNTH_PRESETS[name] : undefined
  if (!p) throw new MoerigError('E_USAGE', `unknown preset "${name}"; presets: ${presetNames().join(', ')}`)
  return p
}

/** Every tensor of a preset with its shape (ggml order, ne0 first), as native/src/synth.cpp plans them. */
export function presetTensors(h: SynthHparams, nVocab: number): TensorShape[] {
  const E = h.nEmbd
  const out: TensorShape[] = [{name: 'token_embd.weight', shape: [E, nVocab]}]
  const t = (name: string, ...shape: number[]) => out.push({name, shape})
  for (let i = 0; i < h.nLayer; i++) {
    const b = `blk.${i}.`
    t(`${b}attn_norm.weight`, E)
    if (h.arch === 'deepseek2') {
      const q = h.qLoraRank!,
        kv = h.kvLoraRank!,
        rope = h.ropeDim!,
        nope = h.nopeDim!,
        v = h.vHeadDim!,
        H = h.nHead
      t(`${b}attn_q_a_norm.weight`, q)
      t(`${b}attn_kv_a_norm.weight`, kv)
      t(`${b}attn_q_a.weight`, E, q)
      t(`${b}attn_q_b.weight`, q, H * (nope + rope))
      t(`${b}attn_kv_a_mqa.weight`, E, kv + rope)
      if ((h.kvLayout ?? 'mla') === 'mla') {
        t(`${b}attn_k_b.weight`, nope, kv, H)
        t(`${b}attn_v_b.weight`, kv, v, H)
      } else {
        t(`${b}attn_kv_b.weight`, kv, H * (nope + v))
      }
      t(`${b}attn_output.weight`, H * v, E)
      t(`${b}ffn_norm.weight`, E)
      if (i < (h.nDenseLead ?? 0)) {
        t(`${b}ffn_gate.weight`, E, h.nFf!)
        t(`${b}ffn_down.weight`, h.nFf!, E)
        t(`${b}ffn_up.weight`, E, h.nFf!)
      } else {
        const X = h.nExpert,
          F = h.nFfExp,
          Fs = h.nFfExp * (h.nExpertShared ?? 0)
        t(`${b}ffn_gate_inp.weight`, E, X)
        t(`${b}exp_probs_b.bias`, X)
        t(`${b}ffn_gate_exps.weight`, E, F, X)
        t(`${b}ffn_down_exps.weight`, F, E, X)
        t(`${b}ffn_up_exps.weight`, E, F, X)
        t(`${b}ffn_gate_shexp.weight`, E, Fs)
        t(`${b}ffn_down_shexp.weight`, Fs, E)
        t(`${b}ffn_up_shexp.weight`, E, Fs)
      }
    } else {
      const D = h.headDim!,
        X = h.nExpert,
        F = h.nFfExp
      t(`${b}attn_q.weight`, E, D * h.nHead)
      t(`${b}attn_k.weight`, E, D * h.nHeadKv!)
      t(`${b}attn_v.weight`, E, D * h.nHeadKv!)
      t(`${b}attn_output.weight`, D * h.nHead, E)
      t(`${b}attn_k_norm.weight`, D)
      t(`${b}attn_q_norm.weight`, D)
      t(`${b}ffn_norm.weight`, E)
      t(`${b}ffn_gate_inp.weight`, E, X)
      t(`${b}ffn_gate_exps.weight`, E, F, X)
      t(`${b}ffn_down_exps.weight`, F, E, X)
      t(`${b}ffn_up_exps.weight`, E, F, X)
    }
  }
  t('output_norm.weight', E)
  t('output.weight', E, nVocab)
  return out
}

/** Elements of all tensors (same shapes as native/src/synth.cpp writes). */
export function presetParams(h: SynthHparams, nVocab: number): number {
  return presetTensors(h, nVocab).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0)
}

export interface PresetBytes {
  /** Tensor data of the file (no header, no alignment padding). */
  weights: number
  /**
   * Weight bytes one decoded token reads: every tensor except token_embd (one row) and the routed
   * experts (n_expert_used of n_expert per MoE block). This is what decode streams from memory.
   */
  activePerToken: number
  /** ggml type name per tensor, llama.cpp v0.4.0's rules as src/model/quant.ts ports them. */
  types: Record<string, string>
}

/**
 * Sizes of a preset at a quant as a pure function: the planner's port of llama-quantize's rules
 * (src/model/quant.ts, itself checked against llama.cpp on synth files) gives each tensor's type.
 */
export function presetBytes(h: SynthHparams, nVocab: number, quant: SynthQuant): PresetBytes {
  const tensors = presetTensors(h, nVocab).sort((a, b) => compareTensorNames(a.name, b.name))
  const nGqa = h.arch === 'qwen3moe' ? h.nHead / h.nHeadKv! : (h.kvLayout ?? 'mla') === 'mla' ? h.nHead : 1
  const types = quantizeTypes(tensors, {
    arch: h.arch,
    ftype: quant,
    rules: 'v0.4.0',
    nLayer: h.nLayer,
    nExpert: h.nExpert,
    nGqa,
  })
  let weights = 0
  let active = 0
  const names: Record<string, string> = {}
  tensors.forEach((t, i) => {
    const type = types[i]
    const bytes = tensorBytes(t.shape, type)
    if (bytes === null)
      throw new MoerigError('E_SYNTH', `tensor ${t.name} ${JSON.stringify(t.shape)} is not whole ${type.name} blocks`)
    names[t.name] = type.name
    weights += bytes
    if (t.name === 'token_embd.weight') active += bytes / t.shape[1]
    else if (t.name.includes('_exps.')) active += (bytes * h.nExpertUsed) / h.nExpert
    else active += bytes
  })
  return {weights, activePerToken: active, types: names}
}

function vocabDir(): string {
  try {
    return join(engineBuild().source, 'models')
  } catch {
    return join(buildDir, 'llama-src', 'models')
  }
}

interface Paths {
  out: string
  tmp: string
  work: string | undefined
}

/**
 * Output checks: not a directory, no silent overwrite, parent creatable and writable, disk space.
 * `work`: for quantized files, the header-only F16 probe llama.cpp's type rules read (a sparse
 * file, a few MB on disk); for the reference pipeline, the full F16 intermediate.
 */
function preparePaths(output: string, force: boolean, quant: SynthQuant, need: number): Paths {
  const out = resolve(output)
  if (existsSync(out)) {
    const st = statSync(out)
    if (st.isDirectory())
      throw new MoerigError(
        'E_USAGE',
        `output ${output} is a directory; give a file name, e.g. ${join(output, 'model.gguf')}`,
      )
    // the rename would replace a device or pipe node itself (as root: /dev/null), --force or not
    if (!st.isFile())
      throw new MoerigError(
        'E_FILE',
        `output ${output} is not a regular file (a device, pipe or socket); give a file name`,
      )
    if (!force) throw new MoerigError('E_EXISTS', `output ${output} already exists; use --force to overwrite it`)
  }
  const dir = dirname(out)
  try {
    ensureDir(dir) // never Node 20's recursive mkdir: it loops forever under /proc (lib/fs.ts)
    accessSync(dir, fsc.W_OK)
  } catch (e) {
    if (e instanceof MoerigError) throw e
    throw new MoerigError('E_FILE', `cannot write to ${dir} (${(e as NodeJS.ErrnoException).code ?? oneLine(e)})`)
  }
  try {
    const fs = statfsSync(dir)
    const free = fs.bavail * fs.bsize
    if (free < need * 1.05) {
      throw new MoerigError(
        'E_DISK',
        `not enough free space in ${dir}: needs about ${(need / 1e9).toFixed(2)} GB, has ${(free / 1e9).toFixed(2)} GB`,
      )
    }
  } catch (e) {
    if (e instanceof MoerigError) throw e // statfs unsupported: let the write fail with its own error
  }
  const tag = `${process.pid}-${Date.now().toString(36)}`
  return {
    out,
    tmp: join(dir, `.${basename(out)}.tmp-${tag}`),
    work: quant === 'F16' ? undefined : join(dir, `.${basename(out)}.f16-${tag}`),
  }
}

/** Remove temp files of an interrupted or failed synth. */
export function removeTemps(paths: {tmp: string; work?: string}): void {
  for (const p of [paths.tmp, paths.work]) if (p) removeTemp(p)
}

/** Stop the native writer (a signal handler's first step): it stops between write jobs and removes its files. */
export function stopSynth(): void {
  try {
    loadAddon().synthStop()
  } catch {
    // no addon, nothing running
  }
}

/** The temp files of the synth in progress, for a SIGINT handler. */
export const inFlight = new Set<{tmp: string; work?: string}>()

export async function synthModel(opts: SynthOptions): Promise<SynthSummary> {
  const preset = getPreset(opts.preset)
  const quant = parseQuant(opts.quant)
  let h: SynthHparams = preset.hparams
  if (opts.kvLayout !== undefined) {
    if (!(KV_LAYOUTS as readonly string[]).includes(opts.kvLayout)) {
      throw new MoerigError('E_USAGE', `unknown KV layout "${opts.kvLayout}"; use ${KV_LAYOUTS.join(' or ')}`)
    }
    if (h.arch !== 'deepseek2')
      throw new MoerigError('E_USAGE', `--kv-layout applies to deepseek2 presets only (${preset.name} is ${h.arch})`)
    h = {...h, kvLayout: opts.kvLayout as KvLayout}
  }
  const seed = opts.seed ?? DEFAULT_SEED
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new MoerigError('E_USAGE', `seed must be a non-negative integer, got ${opts.seed}`)
  const threads = opts.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1)
    throw new MoerigError('E_USAGE', `threads must be a positive integer, got ${opts.threads}`)

  const vocab = SYNTH_VOCABS[preset.vocab]
  const vocabPath = join(vocabDir(), vocab.file)
  if (!existsSync(vocabPath)) {
    throw new MoerigError(
      'E_VOCAB',
      `vocabulary ${vocabPath} is missing (it comes with the llama.cpp source); run: npm run build:native`,
    )
  }
  const pipeline = opts.pipeline ?? 'direct'
  if (!(SYNTH_PIPELINES as readonly string[]).includes(pipeline))
    throw new MoerigError('E_USAGE', `unknown pipeline "${pipeline}"; use one of ${SYNTH_PIPELINES.join(', ')}`)
  const params = presetParams(h, vocab.tokens)
  const final = (params * EST_BPW[quant]) / 8
  const need =
    pipeline === 'header' ? HEADER_BYTES : pipeline === 'quantize' && quant !== 'F16' ? params * 2 + final : final
  const paths = preparePaths(opts.output, opts.force ?? false, quant, need)

  const addon = loadAddon()
  const spec: SynthNativeSpec = {
    ...h,
    name: `moerig synth ${preset.name}`,
    preset: preset.name,
    vocabPath,
    outPath: paths.tmp,
    ...(paths.work ? {workPath: paths.work} : {}),
    quant,
    seed,
    threads,
    pipeline,
  }
  inFlight.add(paths)
  // The native writer creates these; TS owns them: src/lib/fs.ts removes them on a failure, on
  // process.exit and on SIGINT/SIGTERM/SIGHUP, so no hidden temp file (a multi-GB partial output,
  // the sparse type probe or the reference pipeline's F16 file) is left behind.
  trackTemp(paths.tmp)
  if (paths.work) trackTemp(paths.work)
  let res
  try {
    res = await addon.synth(spec, opts.onProgress)
    renameSync(paths.tmp, paths.out)
    untrackTemp(paths.tmp)
    if (paths.work) removeTemp(paths.work)
  } catch (e) {
    removeTemps(paths)
    if (e instanceof MoerigError) throw e
    throw new MoerigError('E_SYNTH', `synth ${preset.name} failed: ${oneLine(e)}`)
  } finally {
    inFlight.delete(paths)
  }
  return {
    path: paths.out,
    preset: preset.name,
    arch: h.arch,
    quant,
    kvLayout: h.arch === 'deepseek2' ? (h.kvLayout ?? 'mla') : null,
    fileBytes: res.fileBytes,
    tensorCount: res.tensorCount,
    params: res.params,
    nVocab: res.nVocab,
    nLayer: h.nLayer,
    nExpert: h.nExpert,
    nExpertUsed: h.nExpertUsed,
    seed,
    typeCounts: res.typeCounts,
    seconds: res.seconds,
    mbPerSecond: res.seconds > 0 ? res.fileBytes / 1e6 / res.seconds : 0,
  }
}

/** Load `path` with llama.cpp in the runner child and decode one prompt (runner/decodecheck.ts). */
export {checkModel} from './decodecheck.js'

/**
 * A synth model in a cache folder, made once and reused (tests and benches of other modules use
 * this instead of re-synthesizing). The file name carries a hash of everything that determines the
 * bytes (preset data, vocabulary, quant, layout, seed, llama.cpp release, writer version), so
 * editing a preset, upgrading llama.cpp or changing how blocks are generated makes a new file. Concurrent callers may both write; the rename makes the
 * last one win with identical bytes.
 */
export async function cachedSynthModel(
  opts: {preset: string; quant?: string; kvLayout?: KvLayout; seed?: number},
  cacheDir = join(projectCacheDir, 'synth'),
): Promise<string> {
  const preset = getPreset(opts.preset)
  const quant = parseQuant(opts.quant)
  const seed = opts.seed ?? DEFAULT_SEED
  let release = 'unknown'
  try {
    release = engineBuild().release
  } catch {}
  const key = JSON.stringify({
    h: preset.hparams,
    v: SYNTH_VOCABS[preset.vocab],
    quant,
    kv: opts.kvLayout ?? null,
    seed,
    release,
    writer: SYNTH_WRITER,
  })
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12)
  const layout = opts.kvLayout ? `-${opts.kvLayout}` : ''
  const path = join(cacheDir, `${preset.name}${layout}-${quant}-s${seed}-${hash}.gguf`)
  if (!existsSync(path))
    await synthModel({preset: preset.name, quant, kvLayout: opts.kvLayout, seed, output: path, force: true})
  return path
}
