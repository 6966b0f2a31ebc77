/**
 * Where `moerig reuse` gets its model and hardware facts, each fact from the most specific source
 * given: explicit flags, then a GGUF (`--gguf`), then a catalog model (`--model` [`--quant`]), then
 * the trace header; bandwidths: explicit flags, then `--hardware`.
 */
import {MoerigError} from '../lib/errors.js'
import {readGguf} from '../model/gguf.js'
import {inventoryFromCatalog, inventoryFromGguf, type Inventory} from '../model/inventory.js'
import {loadHardware} from '../probe/machine.js'
import {catalogModel, readModelProfile} from '../profiles/catalog.js'
import {openTraceSource, promptTokens, skipTokens, type TraceHeader, type TraceSource} from '../trace/trace.js'
import {bandwidthsFromProfile, factsFromInventory, type Bandwidths, type ModelFacts} from './cost.js'

export interface FactFlags {
  gguf?: string
  model?: string
  quant?: string
  expertBytes?: number
  denseBytes?: number
}

export interface BandwidthFlags {
  hardware?: string
  gpu?: number
  pcieGBs?: number
  gpuGBs?: number
  cpuGBs?: number
}

/** The planner's inventory of `--gguf` or `--model`, or null when neither is given. */
export async function loadInventory(f: FactFlags): Promise<{inv: Inventory; label: string} | null> {
  if (f.gguf) return {inv: inventoryFromGguf(await readGguf(f.gguf)), label: `GGUF ${f.gguf}`}
  if (!f.model) {
    if (f.quant) throw new MoerigError('E_USAGE', '--quant needs --model ID (a catalog model)')
    return null
  }
  // the catalog reader `plan` uses: an unknown id gives the same line in both
  const profile = f.model.endsWith('.json') ? readModelProfile(f.model) : catalogModel(f.model)
  const quant = f.quant ?? profile.defaultQuant ?? 'Q4_K_M'
  return {inv: inventoryFromCatalog(profile, {quant}), label: `catalog ${profile.id} ${quant}`}
}

/** n_expert for a CSV trace: --experts, else the model's. */
function expertsFor(flag: number | undefined, model: {inv: Inventory} | null): number | undefined {
  return flag ?? model?.inv.shape.hp.nExpert ?? undefined
}

/**
 * The trace to analyse: opened by content (a CSV needs n_expert: `experts`, else the model's),
 * then `from` applied: "prompt" (the prompt length a `moerig run` trace records) or a token index.
 */
export async function openReuseTrace(
  path: string,
  o: {from: string; experts?: number; model: {inv: Inventory} | null},
): Promise<{src: TraceSource; from: number}> {
  const whole = await openTraceSource(path, {nExpert: expertsFor(o.experts, o.model)})
  let from: number
  if (o.from === 'prompt') {
    const p = promptTokens(whole.header)
    if (p === null)
      throw new MoerigError(
        'E_USAGE',
        `--from prompt: trace ${path} does not record its prompt length (source.promptTokens)`,
      )
    from = p
  } else if (/^\d+$/.test(o.from)) {
    from = Number(o.from)
  } else {
    throw new MoerigError('E_USAGE', `--from ${o.from}: expected a token index or "prompt"`)
  }
  const src = skipTokens(whole, from)
  if (o.experts !== undefined && src.format === 'moetrace' && o.experts !== src.header.nExpert) {
    throw new MoerigError('E_USAGE', `--experts ${o.experts}: the trace header says ${src.header.nExpert}`)
  }
  return {src, from}
}

export function resolveFacts(h: TraceHeader, f: FactFlags, model: {inv: Inventory; label: string} | null): ModelFacts {
  const fromModel = model ? factsFromInventory(model.inv, h.moeLayers, h.nExpert, model.label, h) : null
  const sources: string[] = []
  let expertBytes: number[] | null = null
  if (f.expertBytes !== undefined) {
    expertBytes = h.moeLayers.map(() => f.expertBytes!)
    sources.push('--expert-bytes')
  } else if (fromModel) {
    expertBytes = fromModel.expertBytes
    sources.push(`expert bytes from ${fromModel.source}`)
  } else if (h.expertBytes) {
    expertBytes = h.expertBytes
    sources.push('expert bytes from the trace header')
  }
  let denseBytes: number | null = null
  if (f.denseBytes !== undefined) {
    denseBytes = f.denseBytes
    sources.push('--dense-bytes')
  } else if (fromModel) {
    denseBytes = fromModel.denseBytes
    sources.push(`non-routed bytes from ${fromModel.source}`)
  } else if (h.denseBytes !== undefined) {
    denseBytes = h.denseBytes
    sources.push('non-routed bytes from the trace header')
  }
  return {expertBytes, denseBytes, source: sources.length > 0 ? sources.join('; ') : 'none given'}
}

export async function resolveBandwidths(f: BandwidthFlags): Promise<Bandwidths> {
  let base: Bandwidths = {pcieGBs: null, gpuGBs: null, cpuGBs: null, source: 'none given'}
  if (f.hardware) {
    const p = await loadHardware(f.hardware)
    const gpu = f.gpu ?? 0
    const n = (p.gpus ?? []).length
    // --gpu on a GPU-less profile names a device that does not exist: say so rather than estimate without it
    if (f.gpu !== undefined && n === 0)
      throw new MoerigError(
        'E_USAGE',
        `--gpu ${f.gpu}: hardware profile ${f.hardware} has no GPU (leave --gpu out, or give --gpu-gbs and --pcie-gbs)`,
      )
    if (n > 0 && gpu >= n)
      throw new MoerigError(
        'E_USAGE',
        `--gpu ${gpu}: hardware profile ${f.hardware} has ${n} GPU${n === 1 ? '' : 's'}; allowed: 0–${n - 1}`,
      )
    base = bandwidthsFromProfile(p, gpu)
  }
  const flags: string[] = []
  if (f.pcieGBs !== undefined) flags.push('--pcie-gbs')
  if (f.gpuGBs !== undefined) flags.push('--gpu-gbs')
  if (f.cpuGBs !== undefined) flags.push('--cpu-gbs')
  return {
    pcieGBs: f.pcieGBs ?? base.pcieGBs,
    gpuGBs: f.gpuGBs ?? base.gpuGBs,
    cpuGBs: f.cpuGBs ?? base.cpuGBs,
    source:
      flags.length > 0
        ? base.source === 'none given'
          ? flags.join(', ')
          : `${flags.join(', ')} over ${base.source}`
        : base.source,
  }
}
