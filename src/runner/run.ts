/**
 * `moerig run`: generate from a prompt in the runner child process, stream the text, time prefill
 * and decode, and with a trace path write the routing trace (src/trace/trace.ts format) of every
 * token that went through the model: the prompt and the generated tokens, MoE layers only.
 */
import {basename} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {LLAMA_DEFAULTS, withContextDefaults} from '../lib/llama-defaults.js'
import {runResultSchema, type RunResult} from '../schemas/run.js'
import type {PlacementRun} from '../schemas/bench.js'
import type {LlamaGenerateResult, LlamaModelInfo} from '../engine/addon.js'
import {engineBuild} from '../engine/addon.js'
import {newLoadRecord, recordingOptions, runModelJob} from './child.js'
import {engineSetup} from '../engine/engine.js'
import type {RpcEndpoint} from '../engine/rpc.js'
import {checkModelFile} from './modelfile.js'
import {moerigVersion, physicalCores, runProvenance} from './provenance.js'
import {mappedModel} from './memory.js'
import {USAGE_EXIT} from '../lib/command.js'
import {assertUbatchWithinBatch} from '../lib/flagcheck.js'
import {checkOutputFolder} from '../lib/fs.js'
import {checkThreads} from '../lib/threads.js'
import {checkAndSave, memoryReport, modelParams, trainedContext, placementDefaults, runModelSection} from './bench.js'
import {writeTrace} from '../trace/trace.js'

export interface RunOptions {
  path: string
  prompt: string
  nPredict: number
  threads?: number
  nCtx?: number
  temperature?: number
  seed?: number
  placement?: Partial<PlacementRun>
  /** llama.cpp's -b, -ub, -ctk, -ctv, -fa (llama-bench's defaults when absent) */
  nBatch?: number
  nUbatch?: number
  typeK?: string
  typeV?: string
  flashAttn?: 'auto' | 'on' | 'off'
  /** false: --no-op-offload */
  opOffload?: boolean
  /** --cpu-variant: load libggml-cpu-<name>.so instead of ggml's pick */
  cpuVariant?: string
  /** --rpc: llama.cpp RPC servers whose devices join this machine's */
  rpc?: RpcEndpoint[]
  tracePath?: string
  runsDir: string | null
  childEnv?: NodeJS.ProcessEnv
}

export interface RunEvents {
  /** the engine aborted with extra buffer types on and the run starts again without them */
  onFallback?(line: string): void
  onPhase?(label: string): void
  onText?(text: string): void
  onInterrupt?(): void
}

/** Default context: room for a long prompt and the generation, within what the model was trained for. */
const DEFAULT_CTX = 4096

export async function runPrompt(opts: RunOptions, ev: RunEvents = {}): Promise<RunResult> {
  const time = new Date()
  if (!opts.prompt) throw new MoerigError('E_USAGE', '--prompt is empty')
  if (opts.threads !== undefined) checkThreads('-t', opts.threads)
  if (opts.runsDir) checkOutputFolder(opts.runsDir, '--runs-dir')
  assertUbatchWithinBatch(opts.nUbatch ?? LLAMA_DEFAULTS.nUbatch, opts.nBatch ?? LLAMA_DEFAULTS.nBatch, {
    ubatch: '--ubatch-size',
    batch: '--batch-size',
  })
  ev.onPhase?.(`reading ${basename(opts.path)}`)
  const mf = await checkModelFile(opts.path)
  const placement = placementDefaults(opts.placement)
  const threads = opts.threads ?? physicalCores()
  const train = trainedContext(mf)
  if (opts.nCtx !== undefined && train !== null && opts.nCtx > train) {
    throw new MoerigError(
      'E_USAGE',
      `--ctx-size ${opts.nCtx} is past ${mf.name}'s trained context of ${train} tokens: use up to ${train}`,
      USAGE_EXIT,
    )
  }
  const nCtx = opts.nCtx ?? Math.min(DEFAULT_CTX, train ?? DEFAULT_CTX)
  const setup = engineSetup(opts.cpuVariant, opts.rpc)
  const rec = newLoadRecord()
  let text = ''
  ev.onPhase?.(`loading ${basename(opts.path)}`)
  const temperature = opts.temperature ?? 0
  const seed = opts.seed ?? 0
  const context = withContextDefaults({
    nCtx,
    threads,
    trace: Boolean(opts.tracePath),
    nBatch: opts.nBatch,
    nUbatch: opts.nUbatch,
    typeK: opts.typeK,
    typeV: opts.typeV,
    flashAttn: opts.flashAttn,
    opOffload: opts.opOffload ?? true,
  })
  // text streamed before a fallback belongs to the aborted attempt (none: it falls back only before any piece)
  const outcome = await runModelJob(
    {
      kind: 'run',
      setup,
      model: modelParams(opts.path, placement),
      context,
      generate: {prompt: opts.prompt, nPredict: opts.nPredict, temperature, seed},
    },
    recordingOptions(rec, opts.childEnv, ev, (e) => {
      if (e.type === 'context') {
        ev.onPhase?.('generating')
      } else if (e.type === 'piece') {
        text += e.text
        ev.onText?.(e.text)
      }
    }),
  )
  const {info, loadLog, contextLogs} = rec
  if (outcome.final.type !== 'run-done' || !info) throw new MoerigError('E_ENGINE', 'the runner ended without a result')
  const g: LlamaGenerateResult = outcome.final.result
  const modelInfo: LlamaModelInfo = info
  let trace: RunResult['trace'] = null
  // stopped during the prompt: nothing was routed yet, so there is no trace to write
  const stoppedEarly = (g.stopReason === 'stopped' || outcome.interrupted) && (!g.trace || g.trace.nTokens === 0)
  if (opts.tracePath && !stoppedEarly) trace = saveTrace(opts.tracePath, g, modelInfo, mf.name, opts.prompt)
  const secs = (ns: number) => ns / 1e9
  const result: RunResult = {
    schemaVersion: 1,
    kind: 'run',
    partial: g.stopReason === 'stopped' || outcome.interrupted,
    ...(outcome.signal ? {stoppedBy: outcome.signal} : {}),
    model: runModelSection(mf, modelInfo),
    prompt: opts.prompt,
    text,
    stopReason: g.stopReason,
    nPrompt: g.nPrompt,
    nGen: g.nGen,
    prefill: {
      tokens: g.nPrompt,
      seconds: secs(g.promptNs),
      tps: g.promptNs > 0 ? (g.nPrompt * 1e9) / g.promptNs : null,
    },
    decode: {tokens: g.nDecode, seconds: secs(g.decodeNs), tps: g.decodeNs > 0 ? (g.nDecode * 1e9) / g.decodeNs : null},
    sampling: {temperature, seed},
    threads,
    nCtx,
    context: {
      nBatch: context.nBatch,
      nUbatch: context.nUbatch,
      typeK: context.typeK,
      typeV: context.typeV,
      flashAttn: context.flashAttn,
      opOffload: context.opOffload,
    },
    placement,
    memory: memoryReport(loadLog, contextLogs, placement.mmap ? mappedModel(mf, rec.loadLog) : undefined, rec.devices),
    trace,
    provenance: runProvenance(setup, rec, threads, time, placement.repack !== false, outcome.fallback),
  }
  return checkAndSave(result, runResultSchema, opts.path, time, opts.runsDir)
}

function saveTrace(
  path: string,
  g: LlamaGenerateResult,
  info: LlamaModelInfo,
  name: string,
  prompt: string,
): RunResult['trace'] {
  const t = g.trace
  if (!t || t.layers.length === 0 || t.k === 0) {
    throw new MoerigError(
      'E_TRACE_EMPTY',
      `no routing seen: ${info.arch} model ${name} has no ffn_moe_topk tensors in its graph (not a MoE model?)`,
    )
  }
  const header = {
    model: name,
    arch: info.arch,
    nLayer: info.nLayer,
    moeLayers: t.layers,
    nExpert: info.nExpert,
    k: t.k,
    nTokens: t.nTokens,
    hasWeights: Boolean(t.weights),
    source: {
      moerig: moerigVersion(),
      llamaRelease: engineSetupRelease(),
      promptTokens: g.nPrompt,
      generatedTokens: t.nTokens - g.nPrompt,
      promptChars: prompt.length,
    },
  }
  writeTrace(path, header, t.ids, t.weights)
  return {path, nTokens: t.nTokens, moeLayers: t.layers, k: t.k, nExpert: info.nExpert, hasWeights: header.hasWeights}
}

function engineSetupRelease(): string {
  try {
    return engineBuild().release
  } catch {
    return 'unknown'
  }
}
