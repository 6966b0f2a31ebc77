/**
 * What would make a plan fit, in the order a user would try it: for VRAM a shorter context, more
 * GPUs, a q8_0 KV cache, one more GPU; for RAM one copy of the weights, a smaller quant, more RAM,
 * RPC; for disk the space to free. Each is checked with the planner itself, not guessed.
 */
import {fmtGB, fmtGiB} from '../lib/units.js'
import type {KvType} from '../schemas/plan.js'
import type {Inventory} from '../model/inventory.js'
import {kvModel} from './kv.js'
import type {DeviceUse} from './placement.js'
import {evaluate, maxContextFor, MIN_CONTEXT, type Evaluated, type PlanContext} from './evaluate.js'

export interface FixInput {
  c: PlanContext
  best: Evaluated
  /** the context asked for */
  ctx: number
  /** maxContextFor per GPU count */
  byGpu: Array<{gpus: number; maxContext: number}>
  binding: string | null
  disk: {neededBytes: number; freeBytes: number | null}
  /** catalog models: inventories of other quants */
  otherQuants: Array<{quant: string; inv: () => Inventory}>
}

function gpuWord(n: number): string {
  return `GPU${n === 1 ? '' : 's'}`
}

/** The same plan with a q8_0 KV cache: its largest context on n GPUs. */
function q8MaxContext(c: PlanContext, n: number): number {
  const q = {...c, kvType: 'q8_0' as KvType, kv: kvModel(c.inv.shape, c.engine, 'q8_0')}
  return maxContextFor(q, n).maxContext
}

/** The same plan with one more copy of the last GPU: its largest context on all of them. */
function oneMoreGpuMaxContext(c: PlanContext): number {
  const G = c.main.gpus.length
  const extra = {...c, main: {...c.main, gpus: [...c.main.gpus, {...c.main.gpus[G - 1], index: G, id: `GPU${G}`}]}}
  return maxContextFor(extra, G + 1).maxContext
}

function vramFixes(f: FixInput): string[] {
  const {c, best, ctx, byGpu} = f
  const fixes: string[] = []
  const n = best.nGpus
  const G = c.main.gpus.length
  const here = byGpu.find((b) => b.gpus === n)?.maxContext ?? 0
  if (here >= MIN_CONTEXT) fixes.push(`shorter context: -c ${here} fits on ${n} ${gpuWord(n)}`)
  const more = byGpu.find((b) => b.gpus > n && b.maxContext >= ctx)
  if (more) fixes.push(`use ${more.gpus} GPUs (--gpus ${more.gpus}): ${more.maxContext} tokens fit`)
  if (c.kvType === 'f16' && c.engine === 'llama.cpp') {
    const m = q8MaxContext(c, n)
    if (m > here) fixes.push(`--kv-type q8_0: ${m} tokens fit on ${n} ${gpuWord(n)}`)
  }
  if (n === G && G > 0) {
    const m = oneMoreGpuMaxContext(c)
    if (m >= ctx) fixes.push(`one more ${c.main.gpus[G - 1].name}: ${m} tokens fit on ${G + 1} GPUs`)
  }
  return fixes
}

/** ktransformers' USE_NUMA copies the weights to every node; one copy may fit where they do not. */
function oneCopyFix(c: PlanContext, cpu: DeviceUse): string[] {
  const once = cpu.weightsBytes / c.main.numaNodes.length + cpu.kvBytes + cpu.computeBytes + cpu.overheadBytes
  if (once > cpu.capacityBytes) return []
  return [
    `one copy of the weights: ktransformers without USE_NUMA, or --engine llama.cpp (--numa distribute) needs ${fmtGiB(once)}`,
  ]
}

/** The first smaller quant (in the catalog's order) that fits on the same GPUs. */
function smallerQuantFix(f: FixInput): string[] {
  for (const o of f.otherQuants) {
    const inv = o.inv()
    if (inv.totalBytes >= f.c.inv.totalBytes) continue
    if (evaluate({...f.c, inv}, f.best.nGpus, f.ctx).fits)
      return [`smaller quant: ${o.quant} (${fmtGB(inv.fileBytes)}) fits`]
  }
  return []
}

function ramFixes(f: FixInput): string[] {
  const {c, best} = f
  const cpu = best.devices.find((d) => d.id === 'CPU')!
  const fixes: string[] = []
  if (best.numa.mode === 'replicate') fixes.push(...oneCopyFix(c, cpu))
  fixes.push(...smallerQuantFix(f))
  const short = cpu.totalBytes - cpu.capacityBytes
  if (short > 0)
    fixes.push(
      `more RAM: at least ${fmtGiB(short)} more (needs ${fmtGiB(cpu.totalBytes)}, ${fmtGiB(cpu.capacityBytes)} usable)`,
    )
  if (c.rpc.length === 0 && c.engine === 'llama.cpp')
    fixes.push("pool a second machine's RAM with llama.cpp RPC: --hardware this.json,other.json")
  return fixes
}

/** Suggestions for what binds, most direct first; empty when nothing binds. */
export function suggestFixes(f: FixInput): string[] {
  const {binding, disk} = f
  const fixes: string[] = []
  if (binding === 'VRAM') fixes.push(...vramFixes(f))
  if (binding === 'RAM' || binding === 'NUMA node' || binding?.startsWith('RAM of')) fixes.push(...ramFixes(f))
  if (binding === 'disk' && disk.freeBytes !== null)
    fixes.push(`free ${fmtGB(disk.neededBytes - disk.freeBytes)} of disk (the download is ${fmtGB(disk.neededBytes)})`)
  return fixes
}
