/**
 * Compute buffers and runtime overheads: the memory a device needs besides weights and KV.
 *
 * llama.cpp allocates each backend's compute buffer once (sched_reserve), sized by ggml-alloc for
 * the worst-case graph (a full ubatch at a full KV cache), reusing memory between ops. Its size is
 * the peak of live tensors, which is the largest of these phases:
 *   inputs     (host only) the KQ mask [n_kv, ubatch] + two F32 [n_embd, ubatch] (token rows)
 *              + without FA the transposed V cache's I64 row indices [n_embd_v, ubatch];
 *   layers     the mask and V indices (a GPU keeps its own copy) + the larger of
 *                attention  FA: Q/K/V activations of the ubatch; no FA: also the K·Q scores F32
 *                           [n_kv, ubatch, n_head] and, for an MLA V-less cache, the transposed
 *                           latent V copy [n_kv, kv_lora];
 *                FFN        gate, up and activation [ubatch, max(n_ff, k·n_ff_exp)] F32, plus the
 *                           routed experts' outputs [n_embd, k, ubatch] F32 before their sum;
 *   output     logits F32 [n_vocab, ubatch] + two F32 [n_embd, ubatch] (final norm), on the device
 *              that holds output.weight (placement.ts: not always the output layer's device).
 *   offload    (a GPU taking over ops whose weights are in RAM, ubatch ≥ OP_OFFLOAD_MIN_BATCH) a copy of
 *              the weight it computes with: ggml_backend_sched makes every such weight an input of
 *              its split, allocated in the GPU's compute buffer at the split's start, and starts a
 *              new split at each offloaded weight "so the memory of the previously offloaded weights
 *              can be reused" (ggml-backend.cpp, split_graph) — one weight at a time: the largest
 *              RAM-held layer weight + the FFN activations, and for the logits the output matrix +
 *              logits + final norm (the first GPU computes them when output.weight is in RAM).
 * The host also keeps the logits output buffer (n_vocab × 4 B, "output buffer size" in the log).
 * The mask is F16 with flash attention, F32 without. With a GPU in the engine, llama.cpp's
 * scheduler offloads big-batch ops whose weights are in RAM (routed experts) to the GPU
 * (ggml_backend_sched op offload, batch ≥ OP_OFFLOAD_MIN_BATCH), so the host computes no FFN then.
 *
 * Measured (moerig check-plan on llvmpipe, Vulkan, release v0.4.0, ub 512; bench/plan-fidelity
 * prints the full table; every case in test/native/checkplan-vulkan.test.ts is within 10 %):
 *   qwen3moe-tiny, all on GPU, FA: Vulkan0 7.51 MiB at n_ctx 512, 23.01 at 16384 = mask F16
 *     (n_kv × 512 × 2) + FFN 6 MiB + expert outputs 1 MiB; model 7.50 / 23.00.
 *   qwen3moe-tiny, FA off: 8.07 / 22.51 / 82.51 / 162.51 MiB at 512 / 2048 / 8192 / 16384;
 *     model (K·Q + mask F32 + V indices + QKV) 8.50 / 21.50 / 81.50 / 161.50.
 *   qwen3moe-tiny, output.weight in RAM (logits 297 MiB > llvmpipe's 128 MiB tensor limit):
 *     Vulkan_Host 297.25 MiB = 512 × (151936 + 2 × 128) × 4 B; model 297.25.
 *   tiny (deepseek2 MLA), all on GPU, FA: Vulkan0 63.50–65.51 MiB (logits 63 MiB + final norm;
 *     ggml-alloc's layout moves it by ±1.5 MiB); model 64.00. Host 1.51 MiB at 512, 17.01 at
 *     16384 = mask F16 + 2 × [256, 512] F32; model 1.51 / 17.01 (+0.12 output buffer).
 *   tiny, FA off: Vulkan0 87.51 / 171.51 MiB at 8192 / 16384 = K·Q 64 / 128 + mask F32 16 / 32 +
 *     latent V copy 4 / 8 + QKV; model 88.50 / 172.50.
 *   tiny-legacy (per-head KV), FA off: 89.26 / 169.26 MiB; model 84.50 / 164.50 (−5.3 / −2.8 %);
 *     its host buffer 4.01 MiB at 512 = mask F32 1 + 2 × [256, 512] F32 + the transposed V cache's
 *     I64 row indices [512 × 512] 2 MiB; model 4.01.
 * Published logs (docs/r1-gguf-notes.md §3), other builds, kept as cross-checks:
 *   ik_llama.cpp #389, CPU only, R1, n_ctx 8192, FA, ub 512: 266.50 MiB; model 281.0 (+5.4 %).
 *   8 × MI250X (ollama, llm-setonix), R1 legacy, n_ctx 8192, no FA, ub 512, pipeline-parallel:
 *     2322.01 MiB per GPU; model 2208 (−4.9 %).
 * The former flat GPU margin (× 1.1, fitted to the MI250X line alone) is gone: on every measured
 * case the terms above are closer without it (it made llvmpipe's FA cases +10 %).
 * Flash attention off, checked on this project's CPU (runner check-plan, release v0.4.0, ub 512,
 * n_ctx 4096; docs/speed-fidelity.md): a synth with Qwen3-235B's attention (64 heads, 4 KV heads,
 * head 128, n_embd 4096, 2 blocks) allocates 578.59 MiB, model 554.58 (−4.2 %; FA on: 313.33 =
 * 313.33). The Qwen3-235B Vulkan log issue 13 quotes (llama.cpp build 5398, -ngl 93 of 95, n_ctx
 * 4096, ub 512, FA off; github.com, "Vulkan0 compute buffer size = 791.61 MiB") is the offload
 * phase, not K·Q and logits at once: the output matrix stayed in RAM (CPU_Mapped) and the GPU took
 * the logits op, so Vulkan0 held the Q6_K output.weight copy 486.85 MiB + logits [151936, 512] F32
 * 296.75 MiB + the final norm 8 MiB = 791.6 MiB; model 799.6 (+1.0 %, two [n_embd, ub] tensors
 * beside the logits where that build had one). The K·Q phase (554 MiB) is what the former plan
 * had, and was right for it.
 */
import {MiB} from '../lib/units.js'
import type {ModelShape} from '../model/arch.js'
import {padCtx} from './kv.js'

/** F32 activations. */
const F32 = 4
/** KQ mask element: F16 with flash attention (llama.cpp casts it), F32 without. */
const MASK_BYTES = {fa: 2, noFa: 4} as const
/**
 * F32 [n_embd, ubatch] tensors beside the inputs (token rows) and beside the logits (final norm):
 * 2 each, fitted: tiny's host buffer 1.51 MiB at n_ctx 512 = 0.5 mask + 2 × 0.5; qwen3moe-tiny's
 * Vulkan_Host 297.25 MiB = logits 296.75 + 2 × 0.25.
 */
export const EMBD_ACTIVATIONS = 2
/**
 * ggml's GPU backends take over ops of at least this many rows whose weights are in RAM
 * (op_offload_min_batch_size of ggml-cuda and ggml-vulkan, default 32; GGML_OP_OFFLOAD_MIN_BATCH).
 */
export const OP_OFFLOAD_MIN_BATCH = 32
/** I64 row indices of the transposed V cache's set_rows (llama-kv-cache.cpp, v_idxs when v_trans). */
const V_IDX_BYTES = 8
/**
 * Per-GPU headroom for the driver context, the backend's pinned host buffers and fragmentation:
 * llama.cpp's own --fit leaves 1024 MiB free per device by default (-fitt, PR #16653).
 */
export const GPU_HEADROOM_BYTES = 1024 * MiB
/**
 * RAM the OS, page tables and services keep: max(4 GiB, 3 % of RAM). A rule of thumb (not
 * measured); used only when the profile has no measured availableBytes.
 */
export const RAM_RESERVE_MIN_BYTES = 4 * 1024 * MiB
export const RAM_RESERVE_FRACTION = 0.03
/**
 * ktransformers' GPU memory besides weights, KV and activations: CUDA graphs captured for decode
 * (static input/output buffers per graph), the Marlin GPU kernels' workspace and its preallocated
 * static cache. Sized from its own tutorial (kvcache-ai/ktransformers doc/en/DeepseekR1_V3_tutorial.md,
 * V0.2 and V0.2.1, DeepSeek-V3 Q4_K_M on one 24 GB 4090(D): "at least 14GB VRAM") against what
 * moerig plans for that model and GPU at 4K context (weights 9.3 + KV 0.27 + compute 0.27 = 9.8 GiB
 * without the headroom): 13.0–14 GiB (the tutorial's "GB" read as 10⁹ or 2³⁰) − 9.8 = 3.2–4.2 GiB;
 * 4 GiB planned per GPU that holds layers (issue 13's "about 4 GB").
 */
export const KTRANSFORMERS_GPU_OVERHEAD_BYTES = 4 * 1024 * MiB
/**
 * ipex-llm FlashMoE's SYCL_Host buffer: 1332.05 MiB in its 8-GPU sample log
 * (flashmoe_quickstart.md); counted in RAM.
 */
export const FLASHMOE_HOST_BUFFER_BYTES = Math.round(1332.05 * MiB)
/**
 * ipex-llm FlashMoE's per-GPU compute buffer: SYCL0–6 2076.02 MiB each at n_ctx 4096 in the same
 * log. Its ubatch and kernels are not documented, so the formula above undershoots it; we use the
 * logged size as a floor for FlashMoE GPUs.
 */
export const FLASHMOE_GPU_COMPUTE_BYTES = Math.round(2076.02 * MiB)

export interface ComputeInput {
  shape: ModelShape
  ctx: number
  ubatch: number
  flashAttention: boolean
  /** K and V elements per head the attention kernel sees (MLA: 576 + 512 latent; per-head: 192 + 128) */
  attnHeadDims: number
  /** whether this device computes attention (has layers) */
  attention: boolean
  /** whether this device computes FFNs (dense, shared or routed) */
  ffn: boolean
  /**
   * which FFNs it computes (default all): dense layers', MoE layers' (router, shared experts) and
   * the routed experts'. A GPU whose layers keep their routed experts in RAM computes those only
   * when op offload hands them over (the offload phase); otherwise (--no-op-offload, a ubatch < 32)
   * it receives the experts' outputs [n_embd, k, ubatch] from the host and weights them: two such
   * tensors at once. Measured on llvmpipe (Vulkan0, release v0.4.0), qwen3moe-tiny -ot exps=CPU
   * --no-op-offload, flash attention: 2.51 / 1.26 / 10.01 / 5.01 MiB at n_ctx 512 ub 512, 512 ub 256,
   * 8192 ub 512, 8192 ub 256 = the mask + 2 × its experts' outputs (1 / 0.5 MiB); all FFN widths
   * planned 9.00 at 2048 (measured 4.01), no FFN 1.50 / 0.75 / 9.00 / 4.50
   */
  ffnParts?: FfnParts
  /** whether this device computes the logits (holds output.weight) */
  output: boolean
  /** the host (CPU) device: it keeps the graph inputs and the logits output buffer (default: !gpu) */
  host?: boolean
  /** KV layout ("mla-k-only": no FA needs a transposed copy of the latent V) and its bytes per element */
  kvLayout?: string
  kvBytesPerElem?: number
  /** V elements per layer per token (0 for the MLA V-less cache) */
  vElemsPerLayer?: number
  /** op offload: bytes of the largest RAM-held layer weight whose op this GPU computes (0: none) */
  offloadWeightBytes?: number
  /** bytes of output.weight when this device computes the logits away from it (op offload from RAM, or the host for a GPU refusing the op) */
  offloadOutputBytes?: number
}

export interface FfnParts {
  dense: boolean
  moe: boolean
  routed: boolean
}

export interface ComputeParts {
  inputs: number
  mask: number
  attention: number
  ffn: number
  /** op offload: a copied RAM weight + the FFN activations (0 when this device takes no offloaded op) */
  offload: number
  output: number
  outputBuffer: number
}

export function computeParts(c: ComputeInput, gpu = false): ComputeParts {
  const hp = c.shape.hp
  const ub = c.ubatch
  const nKv = padCtx(c.ctx)
  const host = c.host ?? !gpu
  // without FA the V cache is stored transposed: ggml_set_rows then takes one I64 row index per
  // element of the ubatch's V (n_embd_v × ubatch × 8 B), an input held on the host and copied to GPUs
  const vIdx = !c.flashAttention && (c.vElemsPerLayer ?? 0) > 0 ? ub * (c.vElemsPerLayer ?? 0) * V_IDX_BYTES : 0
  const maskAll = nKv * ub * (c.flashAttention ? MASK_BYTES.fa : MASK_BYTES.noFa) + vIdx
  const embd = EMBD_ACTIVATIONS * ub * hp.nEmbd * F32
  const qkv = ub * hp.nHead * c.attnHeadDims * F32
  let attention = 0
  if (c.attention) {
    attention = qkv
    if (!c.flashAttention) {
      attention += nKv * ub * hp.nHead * F32
      if (c.kvLayout === 'mla-k-only') attention += nKv * (hp.kvLoraRank ?? 512) * (c.kvBytesPerElem ?? 2)
    }
  }
  const width = (parts: FfnParts) =>
    Math.max(
      parts.dense ? (hp.nFf ?? 0) : 0,
      parts.routed ? (hp.nExpertUsed ?? 0) * (hp.nFfExp ?? 0) : 0,
      parts.moe ? (hp.nExpertShared ?? 0) * (hp.nFfExp ?? 0) : 0,
    )
  const expertOut = (hp.nExpertUsed ?? 0) > 0 ? ub * (hp.nExpertUsed ?? 0) * hp.nEmbd * F32 : 0
  const acts = (parts: FfnParts) =>
    3 * ub * width(parts) * F32 + (parts.routed ? expertOut : parts.moe ? 2 * expertOut : 0)
  const all: FfnParts = {dense: true, moe: true, routed: true}
  // the offloaded op is a routed (or dense) FFN in RAM: its activations at full width
  const ffnActs = acts(all)
  const ffn = c.ffn ? acts(c.ffnParts ?? all) : 0
  return {
    inputs: host ? maskAll + embd : 0,
    mask: c.attention || c.offloadWeightBytes ? maskAll : 0,
    attention,
    ffn,
    offload: c.offloadWeightBytes ? c.offloadWeightBytes + ffnActs : 0,
    output: c.output ? ub * hp.nVocab * F32 + embd + (c.offloadOutputBytes ?? 0) : 0,
    outputBuffer: host ? hp.nVocab * F32 : 0,
  }
}

/** Peak compute buffer of one device (bytes), host buffers of the host device included. */
export function computeBytes(c: ComputeInput, gpu: boolean): number {
  const p = computeParts(c, gpu)
  const layers = p.attention > 0 || p.ffn > 0 || p.offload > 0 ? p.mask + Math.max(p.attention, p.ffn, p.offload) : 0
  return Math.round(Math.max(p.inputs, layers, p.output) + p.outputBuffer)
}

/** K + V head widths the attention kernel multiplies against, per engine layout. */
export function attnHeadDims(shape: ModelShape, layout: string): number {
  const {k, v} = attnHeadKV(shape, layout)
  return k + v
}

/** An attention head's K and V dims as the engine computes them (MLA absorbed: the latent + rope, and the latent). */
export function attnHeadKV(shape: ModelShape, layout: string): {k: number; v: number} {
  const hp = shape.hp
  if (shape.arch === 'deepseek2') {
    const kvLora = hp.kvLoraRank ?? 512,
      rope = hp.ropeDim ?? 64
    if (layout === 'per-head') return {k: (hp.nopeDim ?? 128) + rope, v: hp.vHeadDim ?? 128}
    return {k: kvLora + rope, v: kvLora} // absorbed q·(latent+rope), output in latent space
  }
  const hd = hp.headDim ?? hp.nEmbd / hp.nHead
  return {k: hd, v: hd}
}

export function ramReserve(totalBytes: number): number {
  return Math.max(RAM_RESERVE_MIN_BYTES, Math.round(totalBytes * RAM_RESERVE_FRACTION))
}
