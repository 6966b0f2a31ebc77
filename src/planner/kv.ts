/**
 * KV cache per engine: layout, elements per layer per token, bytes at a context.
 *
 * llama.cpp v0.4.0 (src/models/deepseek2.cpp): an MLA GGUF uses build_attn_inp_k(), the V-less
 *   cache of PR #19067: K = kv_lora_rank + rope = 576 elements per layer, no V. A legacy
 *   (attn_kv_b) GGUF takes the per-head path: K = n_head·(nope+rope), V = n_head·v.
 *   GQA models: K = V = n_head_kv·head_dim; sliding-window layers keep
 *   GGML_PAD(min(n_ctx, n_swa + n_ubatch), 256) cells (src/llama-kv-cache-iswa.cpp).
 *   n_ctx itself is padded to 256 (llama-context.cpp).
 * ipex-llm FlashMoE: per-head K and V whatever the file (its sample log at n_ctx 4096:
 *   K (i8) 5856 MiB + V (i8) 3904 MiB = 128·192 + 128·128 elements × 1 byte × 61 layers,
 *   flashmoe_quickstart.md); its "q8_0" cache is that 1-byte i8 cache.
 * ktransformers: MLA latent cache (kv_lora + rope) in bf16 for deepseek2 (KDeepseekV2Attention,
 *   FlashInfer MLA); --kv-type does not apply.
 */
import {MoerigError} from '../lib/errors.js'
import type {Engine, KvLayout, KvType} from '../schemas/plan.js'
import type {ModelShape} from '../model/arch.js'

/** bytes per element of llama.cpp's cache types (q8_0 block 34 B / 32, q4_0 18 B / 32). */
export const KV_TYPE_BYTES: Record<KvType, number> = {f16: 2, bf16: 2, q8_0: 34 / 32, q4_0: 18 / 32}
/** FlashMoE's quantized cache is int8: 1 byte per element (sample log above). */
const FLASHMOE_I8_BYTES = 1
/** llama.cpp pads n_ctx (and SWA cache sizes) to 256 cells. */
export const KV_PAD = 256

export interface KvModel {
  layout: KvLayout
  kElemsPerLayer: number
  vElemsPerLayer: number
  /** bytes per token over all layers, as if every layer kept every token */
  bytesPerToken: number
  /** bytes for one layer per cached token */
  bytesPerLayerToken: number
  /** bytes per cached element (2 for f16/bf16, 34/32 for q8_0 …) */
  bytesPerElem: number
  /** layers that keep only a sliding window, and the window in tokens */
  swaLayers: number[]
  swaWindow: number
  note: string
  /** bytes of the whole cache at `ctx` (padding and sliding windows applied) */
  bytesAt(ctx: number, ubatch: number): number
  /** bytes of the cache of one layer at `ctx` */
  layerBytesAt(layer: number, ctx: number, ubatch: number): number
}

export function padCtx(ctx: number): number {
  return Math.ceil(ctx / KV_PAD) * KV_PAD
}

/** What one layer's cache holds per token: its layout, K and V elements, bytes per element, and why. */
interface KvGeometry {
  layout: KvLayout
  k: number
  v: number
  bpe: number
  note: string
}

/** deepseek2: per-head K/V (FlashMoE, legacy GGUFs), ktransformers' bf16 latent, or llama.cpp's K-only latent. */
function deepseek2Kv(shape: ModelShape, engine: Engine, kvType: KvType): KvGeometry {
  const hp = shape.hp
  const kvLora = hp.kvLoraRank ?? 512,
    rope = hp.ropeDim ?? 64,
    nope = hp.nopeDim ?? 128,
    vd = hp.vHeadDim ?? 128
  if (engine === 'flashmoe' || (engine === 'llama.cpp' && shape.layout === 'legacy')) {
    // FlashMoE's int8 cache (its q8_0): 1 byte per element
    const flashMoeI8 = engine === 'flashmoe' && kvType === 'q8_0'
    return {
      layout: 'per-head',
      k: hp.nHead * (nope + rope),
      v: hp.nHead * vd,
      bpe: flashMoeI8 ? FLASHMOE_I8_BYTES : KV_TYPE_BYTES[kvType],
      note:
        engine === 'flashmoe'
          ? 'FlashMoE keeps decompressed per-head K and V (its sample log: K 5856 + V 3904 MiB at n_ctx 4096, i8)'
          : 'legacy attn_kv_b GGUF: llama.cpp takes the non-MLA path and caches per-head K and V',
    }
  }
  if (engine === 'ktransformers')
    return {
      layout: 'mla-latent',
      k: kvLora + rope,
      v: 0,
      bpe: 2,
      note: 'ktransformers caches the MLA latent (kv_lora + rope) in bf16; --kv-type does not apply',
    }
  return {
    layout: 'mla-k-only',
    k: kvLora + rope,
    v: 0,
    bpe: KV_TYPE_BYTES[kvType],
    note: 'MLA GGUF: llama.cpp v0.4.0 keeps only the latent K cache (kv_lora + rope, V-less cache, PR #19067)',
  }
}

/** GQA models (qwen3moe, gpt-oss): K and V per KV head; refuses engines that cannot run the architecture. */
function gqaKv(shape: ModelShape, engine: Engine, kvType: KvType): KvGeometry {
  const hp = shape.hp
  if (engine === 'flashmoe' && shape.arch !== 'qwen3moe')
    throw new MoerigError('E_ENGINE', `FlashMoE runs DeepSeek-V3/R1 and Qwen3-MoE models, not ${shape.arch}`)
  if (engine === 'ktransformers' && shape.arch === 'gpt-oss')
    throw new MoerigError(
      'E_ENGINE',
      'ktransformers has no gpt-oss support in the releases moerig knows; use --engine llama.cpp',
    )
  const hd = hp.headDim ?? hp.nEmbd / hp.nHead
  return {
    layout: 'gqa',
    k: hp.nHeadKv * hd,
    v: hp.nHeadKv * hd,
    bpe: KV_TYPE_BYTES[kvType],
    note: `GQA: ${hp.nHeadKv} KV heads × ${hd}`,
  }
}

export function kvModel(shape: ModelShape, engine: Engine, kvType: KvType): KvModel {
  const hp = shape.hp
  const {
    layout,
    k,
    v,
    bpe,
    note: geometryNote,
  } = shape.arch === 'deepseek2' ? deepseek2Kv(shape, engine, kvType) : gqaKv(shape, engine, kvType)
  const perLayer = Math.round((k + v) * bpe)
  const swaWindow = hp.slidingWindow ?? 0
  const swaLayers: number[] = []
  if (swaWindow > 0 && hp.swaLayers === 'even') for (let i = 0; i < hp.nLayer; i += 2) swaLayers.push(i)
  const note =
    swaLayers.length > 0
      ? `${geometryNote}; ${swaLayers.length} sliding-window layers keep ${swaWindow} + ubatch tokens`
      : geometryNote
  const swaSet = new Set(swaLayers)
  const layerCells = (layer: number, ctx: number, ubatch: number) => {
    const full = padCtx(ctx)
    return swaSet.has(layer) ? Math.min(full, Math.ceil((swaWindow + ubatch) / KV_PAD) * KV_PAD) : full
  }
  return {
    layout,
    kElemsPerLayer: k,
    vElemsPerLayer: v,
    bytesPerLayerToken: perLayer,
    bytesPerElem: bpe,
    bytesPerToken: perLayer * hp.nLayer,
    swaLayers,
    swaWindow,
    note,
    layerBytesAt: (layer, ctx, ubatch) => layerCells(layer, ctx, ubatch) * perLayer,
    bytesAt(ctx, ubatch) {
      let s = 0
      for (let i = 0; i < hp.nLayer; i++) s += layerCells(i, ctx, ubatch) * perLayer
      return s
    },
  }
}
