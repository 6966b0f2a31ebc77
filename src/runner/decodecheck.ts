/**
 * Decode checks in the runner child process: load a model, create a small context, decode one
 * prompt and a few greedy single tokens, check the logits. `synth --check` and the CPU-variant
 * tests (test/native/variants.test.ts) use it; like every model load it runs in a child, so a llama.cpp
 * abort is one error line, never the CLI's death.
 */
import {resolve} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import type {LlamaDecodeCheck, LlamaInitResult, LlamaModelInfo} from '../engine/addon.js'
import {runInChild} from './child.js'
import {engineSetup} from '../engine/engine.js'
import type {DecodeCheckCase, DecodeCheckOutcome} from './protocol.js'

export const CHECK_PROMPT = 'The quick brown fox jumps over the lazy dog.'

export interface CheckEngineOptions {
  /** --cpu-variant: load this libggml-cpu-<name>.so instead of ggml's pick */
  cpuVariant?: string
  /** extra environment for the child (tests) */
  env?: NodeJS.ProcessEnv
}

/** Run the cases in one child (one CPU variant per process); the init result tells which variant ran. */
export async function runDecodeChecks(
  cases: DecodeCheckCase[],
  opts: CheckEngineOptions = {},
): Promise<{init: LlamaInitResult; cases: DecodeCheckOutcome[]}> {
  let init: LlamaInitResult | null = null
  const outcome = await runInChild(
    {kind: 'decode-check', setup: engineSetup(opts.cpuVariant), cases},
    {
      env: opts.env,
      onEvent: (e) => {
        if (e.type === 'init') init = e
      },
    },
  )
  if (outcome.final.type !== 'decode-check-done' || !init)
    throw new MoerigError('E_ENGINE', 'the runner ended without a check result')
  return {init, cases: outcome.final.cases}
}

export interface ModelCheck extends LlamaDecodeCheck {
  desc: string
  params: number
  sizeBytes: number
  nVocab: number
  nLayer: number
  loadSeconds: number
  /** prompt decode time (s) */
  decodeSeconds: number
  cpuVariant: string
  extraBufferTypes: string[]
}

export interface ModelCheckOptions extends CheckEngineOptions {
  prompt?: string
  threads?: number
  /** false = --no-repack (llama.cpp's use_extra_bufts off) */
  repack?: boolean
  flashAttn?: 'auto' | 'on' | 'off'
  steps?: number
}

function modelCheck(info: LlamaModelInfo, o: DecodeCheckOutcome, init: LlamaInitResult, repack: boolean): ModelCheck {
  return {
    ...o.check,
    desc: info.desc,
    params: info.nParams,
    sizeBytes: info.sizeBytes,
    nVocab: info.nVocab,
    nLayer: info.nLayer,
    loadSeconds: o.loadMs / 1000,
    decodeSeconds: o.check.promptSeconds,
    cpuVariant: init.cpuVariant,
    extraBufferTypes: repack ? init.cpuExtraBufferTypes : [],
  }
}

/** Load `path` with llama.cpp and decode one prompt: proves a file is usable (tests, `synth --check`). */
export async function checkModel(path: string, opts: ModelCheckOptions = {}): Promise<ModelCheck> {
  const repack = opts.repack ?? true
  const r = await runDecodeChecks(
    [
      {
        model: {path: resolve(path), nGpuLayers: 0, useExtraBufts: repack},
        context: {
          nCtx: 256,
          nBatch: 256,
          nUbatch: 256,
          threads: opts.threads ?? 1,
          flashAttn: opts.flashAttn ?? 'auto',
        },
        prompt: opts.prompt ?? CHECK_PROMPT,
        steps: opts.steps ?? 4,
      },
    ],
    opts,
  )
  const o = r.cases[0]
  if (!o) throw new MoerigError('E_ENGINE', 'the check was stopped before it ran')
  return modelCheck(o.info, o, r.init, repack)
}
