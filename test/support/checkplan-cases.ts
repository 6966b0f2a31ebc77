/**
 * The plan-fidelity matrix (issue 7), shared by test/native/checkplan-vulkan.test.ts and
 * bench/plan-fidelity: synthetic models (deepseek2 in both KV layouts, qwen3moe) × the three
 * placements people run × contexts 512 … 16384 × f16 and q8_0 KV, each planned by `moerig plan`
 * against a profile of the CI machine with llvmpipe as its one Vulkan GPU, then executed with
 * check-plan. One model load per (model, placement); every context is a fresh context on it.
 */
import {join} from 'node:path'
import {inventoryFromGguf} from '../../src/model/inventory.js'
import {readGguf} from '../../src/model/gguf.js'
import {makePlan, parsePlacement} from '../../src/planner/plan.js'
import {loadHardwareProfile} from '../../src/profiles/hardware.js'
import type {Plan, KvType} from '../../src/schemas/plan.js'
import type {CheckPlanResult} from '../../src/schemas/checkplan.js'
import {projectRoot} from '../../src/lib/paths.js'
import {checkPlans, listEngineDevices} from '../../src/runner/checkplan.js'
import {oneLine} from '../../src/lib/errors.js'
import {cachedSynthModel} from '../../src/runner/synth.js'
import type {KvLayout} from '../../src/model/synth-presets.js'

/** The hardware profile the cases are planned against: the CI machine + llvmpipe as GPU0. */
export const CI_LLVMPIPE_PROFILE = join(projectRoot, 'test', 'fixtures', 'checkplan', 'ci-llvmpipe.json')

export const FIDELITY_MODELS: Array<{label: string; preset: string; kvLayout?: KvLayout}> = [
  {label: 'tiny (deepseek2, MLA)', preset: 'tiny'},
  {label: 'tiny-legacy (deepseek2, per-head KV)', preset: 'tiny-legacy'},
  {label: 'qwen3moe-tiny', preset: 'qwen3moe-tiny'},
]
/** all-gpu = -ngl 99; exps-cpu = -ot exps=CPU; n-cpu-moe=2 = experts of blocks 0–1 in RAM */
export const FIDELITY_PLACEMENTS = ['all-gpu', 'exps-cpu', 'n-cpu-moe=2'] as const
/** plus "cpu": no GPU (--gpus 0), executed without GPU backends, so it runs on any machine */
export const CPU_PLACEMENT = 'cpu'
export const FIDELITY_CONTEXTS = [512, 2048, 8192, 16384] as const
export const FIDELITY_KV: KvType[] = ['f16', 'q8_0']

export interface FidelityCase {
  model: string
  placement: string
  context: number
  kvType: KvType
  result: CheckPlanResult
}

export interface FidelityOptions {
  models?: typeof FIDELITY_MODELS
  placements?: readonly string[]
  contexts?: readonly number[]
  kvTypes?: KvType[]
  flashAttention?: boolean
  /** plan --op-offload (default: on, llama.cpp's, so the cases stay what they were before auto) */
  opOffload?: 'on' | 'off'
  /** environment of the runner child (GGML_VK_VISIBLE_DEVICES) */
  childEnv?: NodeJS.ProcessEnv
  onGroup?(model: string, placement: string): void
}

/**
 * Plan one case in memory (what `moerig plan <gguf> --hardware ci-llvmpipe.json --placement … --ctx …
 * --kv-type …` writes). `amx`: the CPU that executes the check has llama.cpp's AMX buffer type
 * (the engine said so), which repacks CPU weights into a larger layout; the plan must know, as a
 * plan made with `--hardware probe` on that machine would.
 */
export async function planCase(
  path: string,
  placement: string,
  ctx: number,
  kvType: KvType,
  flashAttention?: boolean,
  amx = false,
  opOffload: 'on' | 'off' = 'on',
): Promise<Plan> {
  const inv = inventoryFromGguf(await readGguf(path))
  const base = await loadHardwareProfile(CI_LLVMPIPE_PROFILE)
  const profile = amx
    ? {...base, cpu: {...base.cpu, flags: [...new Set([...base.cpu.flags, 'amx_tile', 'amx_int8'])]}}
    : base
  // "cpu": no GPU at all (--gpus 0)
  if (placement === 'cpu') return makePlan(inv, [profile], {ctx, engine: 'llama.cpp', kvType, gpus: 0, flashAttention})
  return makePlan(inv, [profile], {
    ctx,
    engine: 'llama.cpp',
    kvType,
    placement: parsePlacement(placement),
    flashAttention,
    opOffload,
  })
}

/**
 * The Vulkan device the cases are calibrated for: llvmpipe (2 GiB, 128 MiB per tensor). Returns
 * null when there is one, else why the Vulkan cases cannot run here.
 */
export async function vulkanUnavailable(childEnv?: NodeJS.ProcessEnv): Promise<string | null> {
  let devices
  try {
    devices = (await listEngineDevices(childEnv)).devices
  } catch (e) {
    return `no Vulkan device (the engine did not start: ${oneLine(e)})`
  }
  const vk = devices.find((d) => d.backend === 'Vulkan')
  if (!vk)
    return 'no Vulkan device (needs @node-llama-cpp/linux-x64-vulkan, libvulkan1, mesa-vulkan-drivers and GGML_VK_VISIBLE_DEVICES=0)'
  if (!/llvmpipe/i.test(vk.description))
    return `no Vulkan device of the calibrated kind: ${vk.name} is ${vk.description}, the cases expect llvmpipe`
  return null
}

/** Run the matrix (or the part of it given); one runner child per (model, placement). */
export async function runFidelity(opts: FidelityOptions = {}): Promise<FidelityCase[]> {
  const out: FidelityCase[] = []
  const amx = (await listEngineDevices(opts.childEnv)).cpuExtraBufferTypes.includes('AMX')
  for (const m of opts.models ?? FIDELITY_MODELS) {
    const path = await cachedSynthModel({preset: m.preset, kvLayout: m.kvLayout})
    for (const placement of opts.placements ?? FIDELITY_PLACEMENTS) {
      opts.onGroup?.(m.label, placement)
      const keys: Array<{context: number; kvType: KvType}> = []
      const entries = []
      for (const context of opts.contexts ?? FIDELITY_CONTEXTS) {
        for (const kvType of opts.kvTypes ?? FIDELITY_KV) {
          keys.push({context, kvType})
          entries.push({
            plan: await planCase(path, placement, context, kvType, opts.flashAttention, amx, opts.opOffload),
            planPath: '',
          })
        }
      }
      const results = await checkPlans(entries, {childEnv: opts.childEnv})
      results.forEach((result, i) => out.push({model: m.label, placement, ...keys[i], result}))
    }
  }
  return out
}
