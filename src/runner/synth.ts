/**
 * `moerig synth`: complete GGUF models with deterministic random weights that llama.cpp loads and
 * runs, for tests and benchmarks. Presets are plain data here; the native side
 * (native/src/synth.cpp) writes them with ggml's GGUF writer and quantizes with llama.cpp's own
 * `llama_model_quantize`, so every tensor gets the type llama.cpp's per-tensor rules give it.
 *
 * Validation happens here first (preset, quant, output path, disk space) with one-line
 * MoerigErrors; the native code re-checks the hyper-parameters because llama.cpp aborts on
 * inconsistent ones. The file is written under a temp name next to the output and renamed into
 * place only when complete, so an existing file is never half-overwritten.
 */
import {existsSync, mkdirSync, renameSync, statSync, statfsSync, accessSync, constants as fsc} from 'node:fs'
import {createHash} from 'node:crypto'
import {availableParallelism} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {MoerigError, oneLine} from '../lib/errors.js'
import {removeTemp, trackTemp, untrackTemp} from '../lib/fs.js'
import {engineBuild, loadAddon, projectRoot, type SynthNativeProgress, type SynthNativeSpec} from './addon.js'

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
export type SynthHparams = Omit<SynthNativeSpec, 'name' | 'preset' | 'vocabPath' | 'outPath' | 'workPath' | 'quant' | 'seed' | 'threads'>

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
  nLayer: 4, nDenseLead: 1, nEmbd: 256, nHead: 4, nFf: 512, nFfExp: 256,
  nExpert: 16, nExpertUsed: 4, nGroup: 4, nGroupUsed: 2,
  qLoraRank: 256, kvLoraRank: 256, ...R1_HEAD, ...R1_ROUTING,
  kvLayout: 'mla',
  // trained context 16384 (metadata only: YaRN's original context is explicit) so plans and
  // check-plan can sweep contexts 512 … 16384 (issue 7)
  nCtxTrain: 16384, ropeFreqBase: 10000, rmsEps: 1e-6, yarnFactor: 4, yarnOrigCtx: 1024, yarnLogMul: 0.1,
}

export const SYNTH_PRESETS: Record<string, SynthPreset> = {
  tiny: {
    name: 'tiny',
    description: 'deepseek2 (R1 structure, MLA layout): 4 blocks (1 dense), 16 experts top-4 in 4 groups, n_embd 256; for tests',
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
    description: 'deepseek2 with R1 proportions: 12 blocks (1 dense), 256 experts top-8, 8 groups / 4 used, n_embd 1024; ≈1.5 GB at Q4_K_M, for benchmarks',
    vocab: 'deepseek-llm',
    hparams: {
      arch: 'deepseek2',
      // R1 ÷ 7 in width (7168 → 1024), rounded to multiples of 256 so every K-quant row is whole:
      // n_ff 18432 → 2560, expert 2048 → 256, q_lora 1536 → 256, heads 128 → 16. Head geometry and
      // kv_lora (512) are R1's own, so KV bytes per token per block equal R1's. 12 blocks keep the
      // file at 1–2 GB; R1 has 61 (3 dense).
      nLayer: 12, nDenseLead: 1, nEmbd: 1024, nHead: 16, nFf: 2560, nFfExp: 256,
      nExpert: 256, nExpertUsed: 8, nGroup: 8, nGroupUsed: 4,
      qLoraRank: 256, kvLoraRank: 512, ...R1_HEAD, ...R1_ROUTING,
      kvLayout: 'mla',
      // R1's rope: YaRN factor 40 over 4096 → 163840, yarn_log_multiplier 0.1 (= 0.1 × mscale_all_dim).
      nCtxTrain: 163840, ropeFreqBase: 10000, rmsEps: 1e-6, yarnFactor: 40, yarnOrigCtx: 4096, yarnLogMul: 0.1,
    },
  },
  'qwen3moe-tiny': {
    name: 'qwen3moe-tiny',
    description: 'qwen3moe (Qwen3-30B-A3B structure: GQA with q/k norms, softmax top-k, no shared expert): 4 blocks, 16 experts top-4, n_embd 128',
    vocab: 'qwen2',
    hparams: {
      arch: 'qwen3moe',
      nLayer: 4, nEmbd: 128, nHead: 4, nHeadKv: 2, headDim: 64, nFfExp: 256, nFf: 1024,
      nExpert: 16, nExpertUsed: 4,
      nCtxTrain: 16384, ropeFreqBase: 1000000, rmsEps: 1e-6, // 16384: check-plan's context sweep
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
  onProgress?: (p: SynthNativeProgress) => void
}

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
  seconds: number
}

export const DEFAULT_SEED = 1

/** Bits per weight used only for the free-space estimate (Q4_K_M real files: ≈ 4.85). */
const EST_BPW: Record<SynthQuant, number> = {Q2_K: 3.0, Q3_K_M: 4.0, Q4_K_M: 4.9, Q5_K_M: 5.7, Q6_K: 6.6, Q8_0: 8.5, F16: 16}

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

/** Elements of all tensors (same shapes as native/src/synth.cpp writes). */
export function presetParams(h: SynthHparams, nVocab: number): number {
  const E = h.nEmbd
  let n = 2 * E * nVocab + E // token_embd, output, output_norm
  for (let i = 0; i < h.nLayer; i++) {
    n += 2 * E // attn_norm, ffn_norm
    if (h.arch === 'deepseek2') {
      const q = h.qLoraRank!, kv = h.kvLoraRank!, rope = h.ropeDim!, nope = h.nopeDim!, v = h.vHeadDim!, H = h.nHead
      n += q + kv + E * q + q * H * (nope + rope) + E * (kv + rope) + kv * H * (nope + v) + H * v * E
      if (i < (h.nDenseLead ?? 0)) n += 3 * E * h.nFf!
      else n += E * h.nExpert + h.nExpert + 3 * E * h.nFfExp * h.nExpert + 3 * E * h.nFfExp * (h.nExpertShared ?? 0)
    } else {
      const D = h.headDim!
      n += 2 * E * D * h.nHead + 2 * E * D * h.nHeadKv! + 2 * D + E * h.nExpert + 3 * E * h.nFfExp * h.nExpert
    }
  }
  return n
}

function vocabDir(): string {
  try {
    return join(engineBuild().source, 'models')
  } catch {
    return join(projectRoot, 'build', 'llama-src', 'models')
  }
}

interface Paths {
  out: string
  tmp: string
  work: string | undefined
}

/** Output checks: not a directory, no silent overwrite, parent creatable and writable, disk space. */
function preparePaths(output: string, force: boolean, quant: SynthQuant, estBytes: {f16: number; final: number}): Paths {
  const out = resolve(output)
  if (existsSync(out)) {
    const st = statSync(out)
    if (st.isDirectory()) throw new MoerigError('E_USAGE', `output ${output} is a directory; give a file name, e.g. ${join(output, 'model.gguf')}`)
    // the rename would replace a device or pipe node itself (as root: /dev/null), --force or not
    if (!st.isFile()) throw new MoerigError('E_FILE', `output ${output} is not a regular file (a device, pipe or socket); give a file name`)
    if (!force) throw new MoerigError('E_EXISTS', `output ${output} already exists; use --force to overwrite it`)
  }
  const dir = dirname(out)
  try {
    mkdirSync(dir, {recursive: true})
    accessSync(dir, fsc.W_OK)
  } catch (e) {
    throw new MoerigError('E_FILE', `cannot write to ${dir} (${(e as NodeJS.ErrnoException).code ?? oneLine(e)})`)
  }
  const need = quant === 'F16' ? estBytes.f16 : estBytes.f16 + estBytes.final
  try {
    const fs = statfsSync(dir)
    const free = fs.bavail * fs.bsize
    if (free < need * 1.05) {
      throw new MoerigError('E_DISK', `not enough free space in ${dir}: needs about ${(need / 1e9).toFixed(2)} GB (F16 intermediate + result), has ${(free / 1e9).toFixed(2)} GB`)
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
    if (h.arch !== 'deepseek2') throw new MoerigError('E_USAGE', `--kv-layout applies to deepseek2 presets only (${preset.name} is ${h.arch})`)
    h = {...h, kvLayout: opts.kvLayout as KvLayout}
  }
  const seed = opts.seed ?? DEFAULT_SEED
  if (!Number.isSafeInteger(seed) || seed < 0) throw new MoerigError('E_USAGE', `seed must be a non-negative integer, got ${opts.seed}`)
  const threads = opts.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1) throw new MoerigError('E_USAGE', `threads must be a positive integer, got ${opts.threads}`)

  const vocab = SYNTH_VOCABS[preset.vocab]
  const vocabPath = join(vocabDir(), vocab.file)
  if (!existsSync(vocabPath)) {
    throw new MoerigError('E_VOCAB', `vocabulary ${vocabPath} is missing (it comes with the llama.cpp source); run: npm run build:native`)
  }
  const params = presetParams(h, vocab.tokens)
  const paths = preparePaths(opts.output, opts.force ?? false, quant, {f16: params * 2, final: (params * EST_BPW[quant]) / 8})

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
  }
  inFlight.add(paths)
  // The native writer creates these; TS owns them: src/lib/fs.ts removes them on a failure, on
  // process.exit and on SIGINT/SIGTERM/SIGHUP, so no hidden multi-GB .f16 file is left behind.
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
  }
}

/** Load `path` with llama.cpp in the runner child and decode one prompt (runner/decodecheck.ts). */
export {checkModel} from './decodecheck.js'

/**
 * A synth model in a cache folder, made once and reused (tests and benches of other modules use
 * this instead of re-synthesizing). The file name carries a hash of everything that determines the
 * bytes (preset data, vocabulary, quant, layout, seed, llama.cpp release), so editing a preset or
 * upgrading llama.cpp makes a new file. Concurrent callers may both write; the rename makes the
 * last one win with identical bytes.
 */
export async function cachedSynthModel(
  opts: {preset: string; quant?: string; kvLayout?: KvLayout; seed?: number},
  cacheDir = join(projectRoot, '.moerig-cache', 'synth'),
): Promise<string> {
  const preset = getPreset(opts.preset)
  const quant = parseQuant(opts.quant)
  const seed = opts.seed ?? DEFAULT_SEED
  let release = 'unknown'
  try {
    release = engineBuild().release
  } catch {}
  const key = JSON.stringify({h: preset.hparams, v: SYNTH_VOCABS[preset.vocab], quant, kv: opts.kvLayout ?? null, seed, release})
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12)
  const layout = opts.kvLayout ? `-${opts.kvLayout}` : ''
  const path = join(cacheDir, `${preset.name}${layout}-${quant}-s${seed}-${hash}.gguf`)
  if (!existsSync(path)) await synthModel({preset: preset.name, quant, kvLayout: opts.kvLayout, seed, output: path, force: true})
  return path
}
