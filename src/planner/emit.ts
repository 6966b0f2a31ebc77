/**
 * Ready-to-run configurations for a placement: llama-server and llama-bench command lines
 * (llama.cpp flags: tools/server and tools/llama-bench READMEs, common/arg.cpp), ipex-llm FlashMoE
 * with its environment (flashmoe_quickstart.md, llamacpp_portable_zip_gpu_quickstart.md), a
 * ktransformers optimize-rules YAML and launch line (DeepSeek-V3-Chat.yaml, its xpu/ variant,
 * multi-gpu-tutorial.md), and llama.cpp RPC (tools/rpc/README.md) for several machines.
 */
import type {Engine, KvType, PlanCommands} from '../schemas/plan.js'
import type {PlanGpu, PlanHost} from './hardware.js'
import type {Inventory} from '../model/inventory.js'
import type {Assignment} from './placement.js'
import {nCpuMoe, tensorOverrides} from './placement.js'

export interface EmitInput {
  inv: Inventory
  hosts: PlanHost[]
  a: Assignment
  engine: Engine
  ctx: number
  ubatch: number
  batch: number
  kvType: KvType
  flashAttention: boolean
  threads: number
  numaMode: 'single' | 'interleave' | 'replicate'
  /** false: --no-mmap (llama-bench -mmp 0) */
  mmap?: boolean
  /** false: --no-op-offload (llama-bench -nopo 1) */
  opOffload?: boolean
  hfRepo: string | null
}

/** A placement in llama.cpp's terms: a plan's, or the one a bench/run result records. */
export interface PlacementFlagsInput {
  nGpuLayers: number
  nCpuMoe?: number | null
  tensorOverrides: {pattern: string; device: string}[]
  tensorSplit: number[]
}

/**
 * A placement as the llama.cpp flags that express it, as text (the one place besides the command
 * lines below that spells these flags). Plan style (check-plan): -ngl always, --n-cpu-moe, -ot,
 * -ts. Result style (`result: true`, report tables of bench/run results): -ngl only when not 0,
 * -ot, --n-cpu-moe, -ts, and "CPU only" when no flag is needed. Compact style (`compact: true`,
 * the plan's text output): -ngl always, then --n-cpu-moe or else one -ot with the overrides
 * comma-joined, then -ts.
 */
export function placementFlags(p: PlacementFlagsInput, opts: {result?: boolean; compact?: boolean} = {}): string {
  const ngl = !opts.result || p.nGpuLayers !== 0 ? [`-ngl ${p.nGpuLayers}`] : []
  const ncm = p.nCpuMoe ? [`--n-cpu-moe ${p.nCpuMoe}`] : []
  const ot = p.tensorOverrides.map((o) => `-ot ${o.pattern}=${o.device}`)
  const ts = p.tensorSplit.length > 0 ? [`-ts ${p.tensorSplit.join(',')}`] : []
  if (opts.compact) {
    const experts =
      p.nCpuMoe !== null && p.nCpuMoe !== undefined
        ? [`--n-cpu-moe ${p.nCpuMoe}`]
        : ot.length > 0
          ? [`-ot ${p.tensorOverrides.map((o) => `${o.pattern}=${o.device}`).join(',')}`]
          : []
    return [...ngl, ...experts, ...ts].join(' ')
  }
  const parts = opts.result ? [...ngl, ...ot, ...ncm, ...ts] : [...ngl, ...ncm, ...ot, ...ts]
  return parts.length === 0 ? 'CPU only' : parts.join(' ')
}

/** llama.cpp backend device name of a GPU: SYCL for Intel, CUDA for NVIDIA, ROCm for AMD, else Vulkan. */
export function backendName(g: PlanGpu, all: PlanGpu[]): string {
  const backend = backendOf(g)
  const same = all.filter((x) => !x.rpc && x.hostIndex === g.hostIndex && backendOf(x) === backend)
  return `${backend}${same.indexOf(g)}`
}

/** The llama.cpp backend that drives a GPU: SYCL, CUDA, ROCm, else Vulkan. */
function backendOf(g: PlanGpu): string {
  return /intel|arc/i.test(g.name)
    ? 'SYCL'
    : /nvidia|geforce|rtx|tesla/i.test(g.name)
      ? 'CUDA'
      : /amd|radeon|instinct/i.test(g.name)
        ? 'ROCm'
        : 'Vulkan'
}

function q(s: string): string {
  return /^[A-Za-z0-9_./:=,+-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, '\\$1')}"`
}

function modelPath(inv: Inventory): string {
  if (inv.path) return inv.path
  return `/models/${inv.id}-${inv.quant}.gguf`
}

function llamaArgs(e: EmitInput, bench: boolean): string[] {
  const {a, inv} = e
  const args: string[] = ['-m', q(modelPath(e.inv))]
  if (!bench) args.push('-c', String(e.ctx))
  args.push('-ngl', String(a.nGpuLayers))
  const local = a.gpus.filter((g) => !g.rpc)
  const ncm = nCpuMoe(a, inv.moeLayers)
  if (a.gpus.length > 0) {
    if (ncm !== null && !a.gpus.some((g) => g.rpc)) {
      args.push(bench ? '-ncmoe' : '--n-cpu-moe', String(ncm))
    } else {
      const ots = tensorOverrides(a, inv.moeLayers).map(
        (o) =>
          `${o.pattern}=${
            o.device === 'CPU'
              ? 'CPU'
              : backendName(
                  a.gpus.find((g) => g.id === o.device)!,
                  a.gpus,
                )
          }`,
      )
      if (ots.length > 0) args.push('-ot', q(ots.join(',')))
    }
  }
  if (a.tensorSplit.length > 1) args.push('-ts', a.tensorSplit.join(','))
  if (local.length > 1) args.push('-sm', 'layer')
  args.push('-t', String(e.threads))
  if (e.numaMode === 'interleave') args.push('--numa', 'distribute')
  if (e.mmap === false) args.push(...(bench ? ['-mmp', '0'] : ['--no-mmap']))
  if (e.opOffload === false) args.push(...(bench ? ['-nopo', '1'] : ['--no-op-offload']))
  // llama.cpp knows f16/bf16/q8_0/q4_0; ktransformers' bf16 maps to bf16.
  args.push('-ctk', e.kvType)
  const hasV = e.inv.shape.layout !== 'mla' || e.inv.arch !== 'deepseek2'
  if (hasV) args.push('-ctv', e.kvType)
  // a quantized V cache needs flash attention in llama.cpp
  const fa = e.flashAttention || (hasV && e.kvType !== 'f16' && e.kvType !== 'bf16')
  args.push('-fa', bench ? (fa ? '1' : '0') : fa ? 'on' : 'off')
  args.push('-ub', String(e.ubatch), '-b', String(e.batch))
  const rpc = a.gpus.filter((g) => g.rpc)
  if (rpc.length > 0) args.push(bench ? '-rpc' : '--rpc', rpc.map((g) => g.rpc!.endpoint).join(','))
  return args
}

function flashMoe(e: EmitInput): string | null {
  if (e.inv.arch !== 'deepseek2' && e.inv.arch !== 'qwen3moe') return null
  const local = e.a.gpus.filter((g) => !g.rpc)
  const lines = [
    '# ipex-llm FlashMoE (portable tgz, v2.3.0 nightly); do not source oneAPI first',
    `export ONEAPI_DEVICE_SELECTOR=${q(local.length > 0 ? `level_zero:${local.map((g) => g.localIndex).join(';level_zero:')}` : 'level_zero:0')}`,
    'export SYCL_PI_LEVEL_ZERO_USE_IMMEDIATE_COMMANDLISTS=1',
    'export SYCL_CACHE_PERSISTENT=1',
  ]
  const prefix = e.numaMode === 'interleave' ? 'numactl --interleave=all ' : ''
  lines.push(
    `${prefix}./flash-moe -m ${q(modelPath(e.inv))} --serve -n 512 -np 1 -c ${e.ctx} --host 0.0.0.0 --port 8000`,
  )
  return lines.join('\n')
}

/** A ktransformers device ("cuda:0", "xpu:1", "cpu") and the blocks it holds. */
interface KtRange {
  dev: string
  from: number
  to: number
}

/** Layer ranges per local GPU (ktransformers splits by transfer_map); one range on one GPU or none. */
function ktRanges(e: EmitInput, local: PlanGpu[], dev: string): KtRange[] {
  const {inv, a} = e
  const nLayer = inv.shape.hp.nLayer
  if (local.length <= 1) return [{dev: local.length === 0 ? 'cpu' : `${dev}:0`, from: 0, to: nLayer - 1}]
  const ranges: KtRange[] = []
  for (const g of local) {
    const ls = a.layerDevice
      .slice(0, nLayer)
      .map((d, i) => (d === g.id ? i : -1))
      .filter((i) => i >= 0)
    if (ls.length > 0) ranges.push({dev: `${dev}:${local.indexOf(g)}`, from: ls[0], to: ls[ls.length - 1]})
  }
  return ranges
}

/** The four per-range rules: linears, the MoE block, its experts (CPU for decode), attention. */
function ktRangeRules(r: KtRange, layers: string, mod: string, cls: string, linearOp: string): string[] {
  return [
    `- match:\n    name: "^model\\\\.layers\\\\.${layers}\\\\.(?!self_attn\\\\.kv_b_proj).*$"\n    class: torch.nn.Linear\n  replace:\n    class: ktransformers.operators.linear.KTransformersLinear\n    kwargs:\n      generate_device: "${r.dev}"\n      prefill_device: "${r.dev}"\n      generate_op: "${linearOp}"\n      prefill_op: "KLinearTorch"`,
    `- match:\n    name: "^model\\\\.layers\\\\.${layers}\\\\.mlp$"\n    class: ktransformers.models.${mod}.${cls}MoE\n  replace:\n    class: ktransformers.operators.experts.K${cls}MoE\n    kwargs:\n      generate_device: "${r.dev}"\n      prefill_device: "${r.dev}"`,
    `- match:\n    name: "^model\\\\.layers\\\\.${layers}\\\\.mlp\\\\.experts$"\n  replace:\n    class: ktransformers.operators.experts.KTransformersExperts\n    kwargs:\n      prefill_device: "${r.dev}"\n      prefill_op: "KExpertsTorch"\n      generate_device: "cpu"\n      generate_op: "KExpertsCPU"\n      out_device: "${r.dev}"\n  recursive: False`,
    `- match:\n    name: "^model\\\\.layers\\\\.${layers}\\\\.self_attn$"\n  replace:\n    class: ktransformers.operators.attention.KDeepseekV2Attention\n    kwargs:\n      generate_device: "${r.dev}"\n      prefill_device: "${r.dev}"`,
  ]
}

/** The optimize-rules YAML for the ranges (V3 or V2 modeling classes, IPEX-LLM or Marlin linears). */
function ktYaml(inv: Inventory, ranges: KtRange[], dev: string, xpu: boolean): string {
  // V3-structure models (sigmoid router with exp_probs_b) use modeling_deepseek_v3; V2 models modeling_deepseek
  const isV3 = inv.tensors.some((t) => t.name.includes('exp_probs_b'))
  const mod = isV3 ? 'modeling_deepseek_v3' : 'modeling_deepseek'
  const cls = isV3 ? 'DeepseekV3' : 'DeepseekV2'
  const linearOp = xpu ? 'KLinearIPEXLLM' : 'KLinearMarlin'
  const first = ranges[0].dev
  const last = ranges[ranges.length - 1].dev
  const re = (r: KtRange) =>
    ranges.length === 1 ? '.*' : `(${Array.from({length: r.to - r.from + 1}, (_, i) => r.from + i).join('|')})`
  const y: string[] = [
    `# ktransformers optimize rules for ${inv.name}: attention, shared experts and all linears on ${dev}, routed experts on the CPU`,
    `- match:\n    class: ktransformers.models.${mod}.${isV3 ? 'DeepseekV3RotaryEmbedding' : 'DeepseekV2YarnRotaryEmbedding'}\n  replace:\n    class: ktransformers.operators.RoPE.${isV3 ? 'YarnRotaryEmbeddingV3' : 'YarnRotaryEmbedding'}\n    kwargs:\n      generate_device: "${first}"\n      prefill_device: "${first}"`,
  ]
  if (isV3)
    y.push(
      `- match:\n    class: ktransformers.models.${mod}.MoEGate\n  replace:\n    class: ktransformers.operators.gate.${xpu ? 'KMoEGateIPEXLLM' : 'KMoEGate'}\n    kwargs:\n      generate_device: "${first}"\n      prefill_device: "${first}"`,
    )
  for (const r of ranges) y.push(...ktRangeRules(r, re(r), mod, cls, linearOp))
  y.push(
    `- match:\n    name: "^lm_head$"\n    class: torch.nn.Linear\n  replace:\n    class: ktransformers.operators.linear.KTransformersLinear\n    kwargs:\n      generate_device: "${last}"\n      prefill_device: "${last}"\n      generate_op: "${linearOp}"\n      prefill_op: "KLinearTorch"`,
  )
  const tmap = ranges
    .slice(1)
    .map((r) => `${r.from}: "${r.dev}"`)
    .join(', ')
  y.push(
    `- match:\n    name: "^model$"\n  replace:\n    class: "ktransformers.operators.models.KDeepseekV2Model"\n    kwargs:\n      per_layer_prefill_intput_threshold: 0${tmap ? `\n      transfer_map: {${tmap}}` : ''}`,
  )
  y.push(
    `- match:\n    name: "^model.embed_tokens"\n  replace:\n    class: "default"\n    kwargs:\n      generate_device: "cpu"\n      prefill_device: "cpu"`,
  )
  return y.join('\n') + '\n'
}

/** local_chat's launch line, with the Level Zero environment on Intel GPUs and the NUMA build note. */
function ktLaunch(e: EmitInput, local: PlanGpu[], xpu: boolean): string {
  const {inv} = e
  const cpuInfer = Math.max(1, e.hosts[0].cores - 2)
  const selector = local.map((g) => `level_zero:${g.localIndex}`).join(';')
  const env = xpu
    ? `SYCL_CACHE_PERSISTENT=1 ONEAPI_DEVICE_SELECTOR=${q(selector)} SYCL_PI_LEVEL_ZERO_USE_IMMEDIATE_COMMANDLISTS=1 `
    : ''
  const numa = e.numaMode === 'replicate' ? '# built with USE_NUMA=1 (weights copied to every NUMA node)\n' : ''
  const gguf = inv.path ? inv.path.replace(/\/[^/]*$/, '') : `/models/${inv.id}-${inv.quant}/`
  return `${numa}${env}python -m ktransformers.local_chat --model_path ${e.hfRepo ?? '<HF config dir>'} --gguf_path ${q(gguf)} --optimize_config_path rules.yaml --cpu_infer ${cpuInfer} --max_new_tokens 1000${xpu ? ' --device xpu' : ''}`
}

function ktransformers(e: EmitInput): {yaml: string; launch: string} | null {
  // The rules follow ktransformers' DeepSeek-V3-Chat.yaml (V3/R1/Kimi-K2) and
  // DeepSeek-V2-Lite-Chat.yaml; other architectures need rule files moerig does not know.
  if (e.inv.arch !== 'deepseek2') return null
  const local = e.a.gpus.filter((g) => !g.rpc)
  const xpu = local.length > 0 && local.every((g) => /intel|arc/i.test(g.name))
  const dev = local.length === 0 ? 'cpu' : xpu ? 'xpu' : 'cuda'
  return {yaml: ktYaml(e.inv, ktRanges(e, local, dev), dev, xpu), launch: ktLaunch(e, local, xpu)}
}

export function emitCommands(e: EmitInput): PlanCommands {
  const server = ['llama-server', ...llamaArgs(e, false), '--host', '0.0.0.0', '--port', '8080'].join(' ')
  const bench = ['llama-bench', ...llamaArgs(e, true), '-p', '512', '-n', '128', '-r', '5', '-o', 'json'].join(' ')
  const rpcDevs = e.a.gpus.filter((g) => g.rpc)
  const rpc =
    rpcDevs.length > 0
      ? {
          servers: rpcDevs.map((g) => ({
            host: g.rpc!.hostId,
            command: `rpc-server -H 0.0.0.0 -p ${g.rpc!.endpoint.split(':').pop()} -c   # built with -DGGML_RPC=ON; CPU backend; never on an open network`,
          })),
          main: server,
        }
      : null
  return {llamaServer: server, llamaBench: bench, flashMoe: flashMoe(e), ktransformers: ktransformers(e), rpc}
}
