/**
 * The synthetic models `moerig synth` writes (src/runner/synth.ts runs the writer): presets as plain
 * data, their tensor list and sizes as pure functions. Every tensor's shape is the one
 * native/src/engine/synth.cpp writes, and its type the one llama.cpp's quantizer rules give it
 * (src/model/quant.ts ports them; test/native/synth.test.ts checks both against written files).
 */
import {MoerigError} from '../lib/errors.js'
import {kvLayouts, synthQuants, type SynthHparams} from '../schemas/synth.js'
import {compareTensorNames, type TensorShape} from './arch.js'
import {tensorBytes} from './ggml-types.js'
import {quantizeTypes} from './quant.js'

export type {SynthHparams}

/** Quant levels synth writes (llama_ftype names; K-quant mixes follow llama.cpp's rules). */
export const SYNTH_QUANTS = synthQuants
export type SynthQuant = (typeof SYNTH_QUANTS)[number]
/** What synth writes without --quant (and what the benchmarks' synth models use). */
export const DEFAULT_SYNTH_QUANT: SynthQuant = 'Q4_K_M'

/**
 * deepseek2 KV layouts. `mla`: attn_k_b/attn_v_b + the *_mla keys, head_count_kv 1 (what current
 * converters write; this release caches only the latent, K = kv_lora + rope per block).
 * `legacy`: one attn_kv_b per block, per-head K/V cache (the Jan-2025 R1 GGUFs).
 */
export const KV_LAYOUTS = kvLayouts
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

/** R1's rope: YaRN factor 40 over 4096 → 163840, yarn_log_multiplier 0.1 (= 0.1 × mscale_all_dim). */
const R1_ROPE = {
  nCtxTrain: 163840,
  ropeFreqBase: 10000,
  rmsEps: 1e-6,
  yarnFactor: 40,
  yarnOrigCtx: 4096,
  yarnLogMul: 0.1,
} as const

/**
 * A deepseek2 model with R1's structure at the given widths: one leading dense block, top-8 routing
 * in 8 groups (4 used), R1's kv_lora 512, head geometry, routing and rope. (Key order is part of
 * cachedSynthModel's hash: keep it.)
 */
function r1Shape(w: {
  nLayer: number
  nEmbd: number
  nHead: number
  nFf: number
  nFfExp: number
  nExpert: number
  qLoraRank: number
}): SynthHparams {
  return {
    arch: 'deepseek2',
    nLayer: w.nLayer,
    nDenseLead: 1,
    nEmbd: w.nEmbd,
    nHead: w.nHead,
    nFf: w.nFf,
    nFfExp: w.nFfExp,
    nExpert: w.nExpert,
    nExpertUsed: 8,
    nGroup: 8,
    nGroupUsed: 4,
    qLoraRank: w.qLoraRank,
    kvLoraRank: 512,
    ...R1_HEAD,
    ...R1_ROUTING,
    kvLayout: 'mla',
    ...R1_ROPE,
  }
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
    // R1 ÷ 7 in width (7168 → 1024), rounded to multiples of 256 so every K-quant row is whole:
    // n_ff 18432 → 2560, expert 2048 → 256, q_lora 1536 → 256, heads 128 → 16. Head geometry and
    // kv_lora (512) are R1's own, so KV bytes per token per block equal R1's. 12 blocks keep the
    // file at 1–2 GB; R1 has 61 (3 dense).
    hparams: r1Shape({nLayer: 12, nEmbd: 1024, nHead: 16, nFf: 2560, nFfExp: 256, nExpert: 256, qLoraRank: 256}),
  },
  'r1-dram': {
    name: 'r1-dram',
    description:
      'deepseek2, R1 structure, DRAM-bound: 24 blocks (1 dense), 64 experts (width 1536) top-8 in 8 groups (4 used), n_embd 2048; ≈9.0 GB at Q4_K_M, 1.43 GiB of weights read per decoded token',
    vocab: 'deepseek-llm',
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
    hparams: r1Shape({nLayer: 24, nEmbd: 2048, nHead: 16, nFf: 8192, nFfExp: 1536, nExpert: 64, qLoraRank: 512}),
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

export function presetNames(): string[] {
  return Object.keys(SYNTH_PRESETS)
}

export function parseQuant(q: string | undefined): SynthQuant {
  const want = (q ?? DEFAULT_SYNTH_QUANT).toUpperCase()
  const hit = SYNTH_QUANTS.find((x) => x === want)
  if (!hit) throw new MoerigError('E_USAGE', `unknown quant "${q}"; synth writes ${SYNTH_QUANTS.join(', ')}`)
  return hit
}

export function getPreset(name: string): SynthPreset {
  const p = Object.hasOwn(SYNTH_PRESETS, name) ? SYNTH_PRESETS[name] : undefined
  if (!p) throw new MoerigError('E_USAGE', `unknown preset "${name}"; presets: ${presetNames().join(', ')}`)
  return p
}

/** Adds one tensor (name, ggml shape) to a list. */
type AddTensor = (name: string, ...shape: number[]) => void

/** deepseek2 attention of one block: q and kv LoRA, MLA (k_b/v_b) or legacy (kv_b) up-projection. */
function deepseek2Attention(h: SynthHparams, b: string, t: AddTensor): void {
  const E = h.nEmbd
  const H = h.nHead
  const q = h.qLoraRank!
  const kv = h.kvLoraRank!
  const rope = h.ropeDim!
  const nope = h.nopeDim!
  const v = h.vHeadDim!
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
}

/** The routed experts' three stacked matrices of one MoE block. */
function routedExperts(h: SynthHparams, b: string, t: AddTensor): void {
  const E = h.nEmbd
  const F = h.nFfExp
  const X = h.nExpert
  t(`${b}ffn_gate_exps.weight`, E, F, X)
  t(`${b}ffn_down_exps.weight`, F, E, X)
  t(`${b}ffn_up_exps.weight`, E, F, X)
}

/** deepseek2 feed-forward of block i: dense for the leading blocks, else router + bias, routed and shared experts. */
function deepseek2Ffn(h: SynthHparams, i: number, b: string, t: AddTensor): void {
  const E = h.nEmbd
  t(`${b}ffn_norm.weight`, E)
  if (i < (h.nDenseLead ?? 0)) {
    t(`${b}ffn_gate.weight`, E, h.nFf!)
    t(`${b}ffn_down.weight`, h.nFf!, E)
    t(`${b}ffn_up.weight`, E, h.nFf!)
    return
  }
  const Fs = h.nFfExp * (h.nExpertShared ?? 0)
  t(`${b}ffn_gate_inp.weight`, E, h.nExpert)
  t(`${b}exp_probs_b.bias`, h.nExpert)
  routedExperts(h, b, t)
  t(`${b}ffn_gate_shexp.weight`, E, Fs)
  t(`${b}ffn_down_shexp.weight`, Fs, E)
  t(`${b}ffn_up_shexp.weight`, E, Fs)
}

/** qwen3moe block: GQA attention with q/k norms, router, routed experts (no shared expert). */
function qwen3moeBlock(h: SynthHparams, b: string, t: AddTensor): void {
  const E = h.nEmbd
  const D = h.headDim!
  t(`${b}attn_q.weight`, E, D * h.nHead)
  t(`${b}attn_k.weight`, E, D * h.nHeadKv!)
  t(`${b}attn_v.weight`, E, D * h.nHeadKv!)
  t(`${b}attn_output.weight`, D * h.nHead, E)
  t(`${b}attn_k_norm.weight`, D)
  t(`${b}attn_q_norm.weight`, D)
  t(`${b}ffn_norm.weight`, E)
  t(`${b}ffn_gate_inp.weight`, E, h.nExpert)
  routedExperts(h, b, t)
}

/** Every tensor of a preset with its shape (ggml order, ne0 first), as native/src/engine/synth.cpp plans them. */
export function presetTensors(h: SynthHparams, nVocab: number): TensorShape[] {
  const E = h.nEmbd
  const out: TensorShape[] = [{name: 'token_embd.weight', shape: [E, nVocab]}]
  const t: AddTensor = (name, ...shape) => out.push({name, shape})
  for (let i = 0; i < h.nLayer; i++) {
    const b = `blk.${i}.`
    t(`${b}attn_norm.weight`, E)
    if (h.arch === 'deepseek2') {
      deepseek2Attention(h, b, t)
      deepseek2Ffn(h, i, b, t)
    } else {
      qwen3moeBlock(h, b, t)
    }
  }
  t('output_norm.weight', E)
  t('output.weight', E, nVocab)
  return out
}

/** Elements of all tensors (same shapes as native/src/engine/synth.cpp writes). */
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

/** Bytes of one tensor a decoded token reads: one row of token_embd, n_expert_used of n_expert of routed experts, else all. */
function activeBytes(h: SynthHparams, t: TensorShape, bytes: number): number {
  if (t.name === 'token_embd.weight') return bytes / t.shape[1]
  if (t.name.includes('_exps.')) return (bytes * h.nExpertUsed) / h.nExpert
  return bytes
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
  const out: PresetBytes = {weights: 0, activePerToken: 0, types: {}}
  tensors.forEach((t, i) => {
    const type = types[i]
    const bytes = tensorBytes(t.shape, type)
    if (bytes === null)
      throw new MoerigError('E_SYNTH', `tensor ${t.name} ${JSON.stringify(t.shape)} is not whole ${type.name} blocks`)
    out.types[t.name] = type.name
    out.weights += bytes
    out.activePerToken += activeBytes(h, t, bytes)
  })
  return out
}
