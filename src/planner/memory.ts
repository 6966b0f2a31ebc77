/**
 * Compute buffers and runtime overheads: the memory a device needs besides weights and KV.
 *
 * llama.cpp allocates each backend's compute buffer once, sized by ggml-alloc for the worst-case
 * graph (a full ubatch at a full KV cache), reusing memory between ops. Its size is therefore the
 * peak of live intermediate tensors, which for these models is one of:
 *   attention  with flash attention only the ubatch's Q/K/V activations; without it also the K·Q scores, F32 [n_kv, n_ubatch, n_head], plus Q/K/V
 *              activations of the ubatch (ik_llama.cpp PR #237 names the same term: "n_ctx ×
 *              n_ubatch × n_head × 4 B");
 *   FFN        gate, up and activation of the ubatch: 3 × n_ubatch × max(n_ff, k·n_ff_exp) × 4 B;
 *   output     logits F32 [n_vocab, n_ubatch] + the final hidden state, on the device with output.
 * Calibration (shared/reference/gguf_reference.md §6.2):
 *   CPU only, R1, n_ctx 8192, FA, ub 512 (ik_llama.cpp #389): 266.50 MiB; this model: 266.50 MiB.
 *   8 × MI250X, R1 legacy, n_ctx 8192, no FA, ub 512 (llm-setonix): 2322.01 MiB per GPU; this
 *   model: 2128 MiB (−8 %), hence GPU_COMPUTE_MARGIN.
 * The runner issue measures real buffers (llama_memory_breakdown) to recalibrate these constants.
 */
import {MiB} from '../lib/units.js'
import type {ModelShape} from './arch.js'
import {padCtx} from './kv.js'

/** F32 activations. */
const F32 = 4
/** GPU compute buffers run ~8 % over the peak-tensor model (MI250X log above); we add 10 %. */
export const GPU_COMPUTE_MARGIN = 1.1
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
  /** whether this device holds the output layer (logits) */
  output: boolean
}

export function computeParts(c: ComputeInput): {attention: number; ffn: number; output: number} {
  const hp = c.shape.hp
  const ub = c.ubatch
  const nKv = padCtx(c.ctx)
  const qkv = ub * hp.nHead * c.attnHeadDims * F32
  const attention = c.attention ? (c.flashAttention ? qkv : nKv * ub * hp.nHead * F32 + qkv) : 0
  const ffWidth = Math.max(hp.nFf ?? 0, (hp.nExpertUsed ?? 0) * (hp.nFfExp ?? 0), (hp.nExpertShared ?? 0) * (hp.nFfExp ?? 0))
  const ffn = c.ffn ? 3 * ub * ffWidth * F32 : 0
  const output = c.output ? ub * (hp.nVocab + hp.nEmbd) * F32 : 0
  return {attention, ffn, output}
}

/** Peak compute buffer of one device (bytes). */
export function computeBytes(c: ComputeInput, gpu: boolean): number {
  const p = computeParts(c)
  const peak = Math.max(p.attention, p.ffn, p.output)
  return Math.round(gpu ? peak * GPU_COMPUTE_MARGIN : peak)
}

/** K + V head widths the attention kernel multiplies against, per engine layout. */
export function attnHeadDims(shape: ModelShape, layout: string): number {
  const hp = shape.hp
  if (shape.arch === 'deepseek2') {
    const kvLora = hp.kvLoraRank ?? 512, rope = hp.ropeDim ?? 64
    if (layout === 'per-head') return (hp.nopeDim ?? 128) + rope + (hp.vHeadDim ?? 128)
    return kvLora + rope + kvLora // absorbed q·(latent+rope), output in latent space
  }
  const hd = hp.headDim ?? hp.nEmbd / hp.nHead
  return 2 * hd
}

export function ramReserve(totalBytes: number): number {
  return Math.max(RAM_RESERVE_MIN_BYTES, Math.round(totalBytes * RAM_RESERVE_FRACTION))
}
