/**
 * Model inventory, per tensor: name, shape, ggml type, bytes, role, layer. Built from a GGUF
 * header (types as stored) or from a catalog model (shapes from hyper-parameters, types from
 * llama-quantize's rules), then summed by role, type and layer for the memory and speed models.
 */
import {MoerigError} from '../lib/errors.js'
import type {Role} from '../schemas/plan.js'
import type {ModelProfile} from '../schemas/model.js'
import {blockOf, buildTensorShapes, shapeFromGguf, type Layout, type ModelShape, type TensorShape} from './arch.js'
import {checkGgufConsistency} from './consistency.js'
import {ggmlTypeById, tensorBytes, type GgmlType} from './ggml-types.js'
import type {GgufModel} from './gguf.js'
import {FTYPES, ftypeByName, quantizeTypes, type QuantRules} from './quant.js'

export type TensorRole = Role | 'other'

export interface InvTensor {
  name: string
  shape: number[]
  typeName: string
  bytes: number
  elements: number
  role: TensorRole
  /** block index, null for token_embd / output / output_norm */
  layer: number | null
}

export interface Inventory {
  id: string
  name: string
  arch: string
  layout: Layout
  quant: string
  /** llama-quantize rules the types follow (catalog models); null for a GGUF (types as stored) */
  rules: QuantRules | null
  source: 'gguf' | 'catalog'
  path: string | null
  shards: string[]
  shape: ModelShape
  tensors: InvTensor[]
  params: number
  /** k routed + shared experts + everything else, per token */
  activeParams: number
  totalBytes: number
  /** file bytes: the GGUF's shard sizes, or tensor bytes + an estimated header for catalog models */
  fileBytes: number
  byRole: Record<string, number>
  byType: Record<string, {count: number; bytes: number}>
  /** MoE layer indices, ascending */
  moeLayers: number[]
  /** bytes of all routed experts of a MoE layer (gate + up + down, biases included) */
  expertLayerBytes: Map<number, number>
  /** bytes of every non-routed tensor of each layer (attention, norms, router, shared expert, dense FFN) */
  layerDenseBytes: Map<number, number>
  /** bytes of tensors outside blocks (token_embd, output, output_norm) */
  globalBytes: {embeddings: number; output: number; norms: number}
}

/** Role of a tensor from its llama.cpp name. */
export function roleOf(name: string): TensorRole {
  if (name.startsWith('token_embd.') || name.startsWith('per_layer_token_embd.')) return 'embeddings'
  if (name.startsWith('output.')) return 'output'
  if (/_exps\.|_chexps\./.test(name)) return 'routed_experts'
  if (/_shexp\.|ffn_gate_inp_shexp/.test(name)) return 'shared_experts'
  if (name.includes('ffn_gate_inp') || name.includes('exp_probs_b') || name.includes('ffn_gate_tid2eid'))
    return 'router'
  if (/_norm\.|attn_sinks/.test(name)) return 'norms'
  if (/\.ffn_(gate|up|down)\./.test(name)) return 'dense_ffn'
  if (/\.attn_/.test(name)) return 'attention'
  return 'other'
}

/**
 * Estimated GGUF header + alignment padding for catalog models (metadata with the tokenizer
 * arrays): tokens + merges ≈ 2 × vocab × ~9 bytes, plus per-tensor info. Small next to the
 * weights (R1: ≈ 5 MB of 404 GB); named so the size comparison with published files is honest.
 */
const HEADER_BYTES_PER_VOCAB = 20
const HEADER_BYTES_PER_TENSOR = 96

/** Sums over the tensors: by role, by type, per layer (routed experts apart), and the globals. */
function tally(tensors: InvTensor[]) {
  const byRole: Record<string, number> = {}
  const byType: Record<string, {count: number; bytes: number}> = {}
  const expertLayerBytes = new Map<number, number>()
  const layerDenseBytes = new Map<number, number>()
  const globalBytes = {embeddings: 0, output: 0, norms: 0}
  const add = (m: Map<number, number>, l: number, b: number) => m.set(l, (m.get(l) ?? 0) + b)
  for (const t of tensors) {
    byRole[t.role] = (byRole[t.role] ?? 0) + t.bytes
    const bt = (byType[t.typeName] ??= {count: 0, bytes: 0})
    bt.count++
    bt.bytes += t.bytes
    if (t.layer !== null) add(t.role === 'routed_experts' ? expertLayerBytes : layerDenseBytes, t.layer, t.bytes)
    else if (t.role === 'embeddings') globalBytes.embeddings += t.bytes
    else if (t.role === 'output') globalBytes.output += t.bytes
    else globalBytes.norms += t.bytes
  }
  return {byRole, byType, expertLayerBytes, layerDenseBytes, globalBytes}
}

/** Parameters read per token: all but the routed experts, plus k/n of them; token_embd is a row lookup, not a read. */
function activeParams(tensors: InvTensor[], hp: ModelShape['hp']): number {
  const elements = (pick: (t: InvTensor) => boolean) => tensors.filter(pick).reduce((s, t) => s + t.elements, 0)
  const params = elements(() => true)
  const routed = elements((t) => t.role === 'routed_experts' && t.layer !== null)
  const embd = elements((t) => t.role === 'embeddings')
  const nExp = hp.nExpert ?? 0
  return Math.round(params - routed - embd + (nExp > 0 ? (routed * (hp.nExpertUsed ?? 0)) / nExp : 0))
}

function finish(
  base: Omit<
    Inventory,
    | 'params'
    | 'activeParams'
    | 'totalBytes'
    | 'byRole'
    | 'byType'
    | 'moeLayers'
    | 'expertLayerBytes'
    | 'layerDenseBytes'
    | 'globalBytes'
  >,
): Inventory {
  const t = tally(base.tensors)
  return {
    ...base,
    params: base.tensors.reduce((s, x) => s + x.elements, 0),
    activeParams: activeParams(base.tensors, base.shape.hp),
    totalBytes: base.tensors.reduce((s, x) => s + x.bytes, 0),
    byRole: t.byRole,
    byType: t.byType,
    moeLayers: [...t.expertLayerBytes.keys()].sort((a, b) => a - b),
    expertLayerBytes: t.expertLayerBytes,
    layerDenseBytes: t.layerDenseBytes,
    globalBytes: t.globalBytes,
  }
}

export interface CatalogInventoryOptions {
  quant: string
  layout?: 'mla' | 'legacy'
  rules?: QuantRules
}

/** The deepseek2 GGUF layout asked for (or the catalog's first); other architectures have one. */
function catalogLayout(model: ModelProfile, layout: 'mla' | 'legacy' | undefined): Layout {
  if (model.arch !== 'deepseek2') {
    if (layout)
      throw new MoerigError('E_LAYOUT', `--layout applies to deepseek2 models only; ${model.id} is ${model.arch}`)
    return 'gqa'
  }
  const layouts = model.layouts ?? ['mla']
  const chosen = layout ?? layouts[0]
  if (!layouts.includes(chosen as 'mla'))
    throw new MoerigError(
      'E_LAYOUT',
      `${model.id} is not published in the ${chosen} layout (known: ${layouts.join(', ')})`,
    )
  return chosen
}

/** Each tensor with the type llama-quantize gives it and its bytes at that type. */
function typedTensors(shapes: TensorShape[], types: GgmlType[]): InvTensor[] {
  return shapes.map((s, i) => {
    const type = types[i]
    const bytes = tensorBytes(s.shape, type)
    if (bytes === null) throw new MoerigError('E_INTERNAL', `${s.name}: ${type.name} does not fit shape ${s.shape}`)
    return {
      name: s.name,
      shape: s.shape,
      typeName: type.name,
      bytes,
      elements: s.shape.reduce((a, b) => a * b, 1),
      role: roleOf(s.name),
      layer: blockOf(s.name),
    }
  })
}

/** Inventory of a catalog model at a quant: llama.cpp's tensor list and llama-quantize's types. */
export function inventoryFromCatalog(model: ModelProfile, opts: CatalogInventoryOptions): Inventory {
  const quant = ftypeByName(opts.quant)
  const layout = catalogLayout(model, opts.layout)
  // Legacy-layout files were all made by the pre-MLA quantizer; MLA files by the current one.
  const rules: QuantRules = opts.rules ?? (layout === 'legacy' ? 'pre-mla' : 'v0.4.0')
  const shape: ModelShape = {arch: model.arch, layout, hp: model.hparams as ModelShape['hp']}
  const shapes = buildTensorShapes(shape)
  // The MLA GGUF writes head_count_kv = 1 ("MLA converts into MQA"); legacy keeps the HF value.
  const nHeadKvGguf = model.arch === 'deepseek2' && layout === 'mla' ? 1 : model.hparams.nHeadKv
  const types = quantizeTypes(shapes, {
    arch: model.arch,
    ftype: quant,
    rules,
    nLayer: model.hparams.nLayer,
    nExpert: model.hparams.nExpert ?? 0,
    nGqa: model.hparams.nHead / nHeadKvGguf,
  })
  const tensors = typedTensors(shapes, types)
  const inv = finish({
    id: model.id,
    name: model.name,
    arch: model.arch,
    layout,
    quant,
    rules,
    source: 'catalog',
    path: null,
    shards: [],
    shape,
    tensors,
    fileBytes: 0,
  })
  inv.fileBytes =
    inv.totalBytes + model.hparams.nVocab * HEADER_BYTES_PER_VOCAB + tensors.length * HEADER_BYTES_PER_TENSOR
  return inv
}

/** general.file_type → ftype name, for the quant label of a GGUF. */
function quantName(fileType: unknown): string {
  if (typeof fileType !== 'number') return 'unknown'
  for (const [name, f] of Object.entries(FTYPES)) if (f.id === fileType) return name
  const others: Record<number, string> = {
    0: 'F32',
    3: 'Q4_1',
    8: 'Q5_0',
    9: 'Q5_1',
    11: 'Q3_K_S',
    13: 'Q3_K_L',
    16: 'Q5_K_S',
    19: 'IQ2_XXS',
    20: 'IQ2_XS',
    21: 'Q2_K_S',
    22: 'IQ3_XS',
    23: 'IQ3_XXS',
    24: 'IQ1_S',
    25: 'IQ4_NL',
    26: 'IQ3_S',
    27: 'IQ3_M',
    28: 'IQ2_S',
    29: 'IQ2_M',
    30: 'IQ4_XS',
    31: 'IQ1_M',
  }
  return others[fileType] ?? `ftype ${fileType}`
}

/** Inventory of a GGUF from its header: types and bytes as stored. */
export function inventoryFromGguf(g: GgufModel): Inventory {
  const shape = shapeFromGguf(g)
  // Numbers that contradict the tensors would loop over 2^31 blocks or divide by 0 experts.
  checkGgufConsistency(g, shape)
  const tensors: InvTensor[] = g.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    typeName: ggmlTypeById.get(t.type)?.name ?? t.typeName,
    bytes: t.bytes,
    elements: t.shape.reduce((a, b) => a * b, 1),
    role: roleOf(t.name),
    layer: blockOf(t.name),
  }))
  const stem = (g.shards[0].split('/').pop() ?? g.path).replace(/(-\d{5}-of-\d{5})?\.gguf$/, '')
  const name = typeof g.metadata['general.name'] === 'string' ? (g.metadata['general.name'] as string) : stem
  return finish({
    id: stem,
    name,
    arch: g.arch,
    layout: shape.layout,
    quant: quantName(g.metadata['general.file_type']),
    rules: null,
    source: 'gguf',
    path: g.shards[0],
    shards: g.shards,
    shape,
    tensors,
    fileBytes: g.fileBytes,
  })
}
