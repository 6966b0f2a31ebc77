/**
 * The llama.cpp engine in TS: one-line calls on native handles (bind_llama.cpp), with explicit
 * dispose(). Runs inside the runner child process (worker.ts), never in the CLI process, so that a
 * native abort cannot take the CLI down.
 */
import {withContextDefaults} from '../lib/llama-defaults.js'
import {MoerigError} from '../lib/errors.js'
import {
  loadAddon,
  engineBuild,
  type LlamaBenchSpec,
  type LlamaContextHandle,
  type LlamaContextParams,
  type LlamaDecodeCheck,
  type LlamaGenerateResult,
  type LlamaGenerateSpec,
  type LlamaInitResult,
  type LlamaModelHandle,
  type LlamaModelInfo,
  type LlamaModelParams,
  type MoerigAddon,
} from './addon.js'
import {projectBackends, type BackendDiscovery} from './backends.js'
import {endpointText, rpcBuild, type RpcEndpoint} from './rpc.js'

/** Where the engine's libraries are and which GPU backends to add; decided by the CLI process. */
export interface EngineSetup {
  libDir: string
  release: string
  backends: BackendDiscovery
  /** load this libggml-cpu-<name>.so (--cpu-variant); absent = ggml's pick */
  cpuVariant?: string
  /** llama.cpp RPC servers (--rpc) and the libggml-rpc.so that reaches them (build/rpc/) */
  rpc?: {lib: string; servers: string[]}
}

/** The CPU library folder from build/native/engine.json, GPU packages found in node_modules, RPC servers. */
export function engineSetup(cpuVariant?: string, rpc: RpcEndpoint[] = []): EngineSetup {
  const build = engineBuild()
  return {
    libDir: build.libDir,
    release: build.release,
    backends: projectBackends(),
    ...(cpuVariant ? {cpuVariant} : {}),
    ...(rpc.length ? {rpc: {lib: rpcLibFor(build.release), servers: rpc.map(endpointText)}} : {}),
  }
}

/** The RPC backend library for an engine of `release`: build/rpc/ matches the prebuilt release only. */
function rpcLibFor(release: string): string {
  const b = rpcBuild()
  if (release === 'custom' && b.release !== 'custom')
    throw new MoerigError(
      'E_RPC',
      "this engine is a MOERIG_LLAMA_CPP_DIR build; build/rpc/ is linked against the prebuilt ggml: set MOERIG_RPC_DIR to that build's bin folder (llama.cpp built with -DGGML_RPC=ON)",
    )
  return b.lib
}

export async function initEngine(setup: EngineSetup): Promise<LlamaInitResult> {
  const r = await loadAddon().llamaInit(
    setup.libDir,
    setup.backends.libs.map((l) => l.path),
    setup.cpuVariant,
    setup.rpc?.lib,
    setup.rpc?.servers,
  )
  // an addon built before RPC support ignores the servers: never run without them silently
  if (setup.rpc?.servers.length && !r.devices.some((d) => d.backend === 'RPC'))
    throw new MoerigError(
      'E_RPC',
      `the engine added no device of the RPC servers ${setup.rpc.servers.join(', ')}; rebuild the addon: npm run build:native`,
    )
  return r
}

export class LlamaModel {
  private handle: LlamaModelHandle | null

  private constructor(
    private readonly addon: MoerigAddon,
    handle: LlamaModelHandle,
    readonly info: LlamaModelInfo,
    readonly log: string[],
    readonly amxGuarded: string[],
  ) {
    this.handle = handle
  }

  static async load(params: LlamaModelParams): Promise<LlamaModel> {
    const addon = loadAddon()
    const r = await addon.llamaLoadModel(params)
    return new LlamaModel(addon, r.handle, r.info, r.log, r.amxGuarded)
  }

  async createContext(params: LlamaContextParams): Promise<LlamaContext> {
    if (!this.handle) throw new Error('the model has been disposed')
    // omitted settings get llama.cpp's defaults here, stated once in lib/llama-defaults.ts
    const r = await this.addon.llamaCreateContext(this.handle, withContextDefaults(params))
    return new LlamaContext(
      this.addon,
      r.handle,
      {nCtx: r.nCtx, nBatch: r.nBatch, nUbatch: r.nUbatch, threads: r.threads},
      r.log,
    )
  }

  dispose(): void {
    if (this.handle) this.addon.llamaDisposeModel(this.handle)
    this.handle = null
  }
}

export class LlamaContext {
  private handle: LlamaContextHandle | null

  constructor(
    private readonly addon: MoerigAddon,
    handle: LlamaContextHandle,
    readonly config: {nCtx: number; nBatch: number; nUbatch: number; threads: number},
    readonly log: string[],
  ) {
    this.handle = handle
  }

  private live(): LlamaContextHandle {
    if (!this.handle) throw new Error('the context has been disposed')
    return this.handle
  }

  bench(spec: LlamaBenchSpec, onRep: (r: {index: number; ns: number}) => void = () => {}) {
    return this.addon.llamaBench(this.live(), spec, onRep)
  }

  generate(spec: LlamaGenerateSpec, onPiece: (text: string) => void = () => {}): Promise<LlamaGenerateResult> {
    return this.addon.llamaGenerate(this.live(), spec, onPiece)
  }

  checkDecode(prompt: string, steps: number): Promise<LlamaDecodeCheck> {
    return this.addon.llamaCheckDecode(this.live(), {prompt, steps})
  }

  /** Stop a bench/generate in flight after its current step. */
  stop(): void {
    if (this.handle) this.addon.llamaStop(this.handle)
  }

  dispose(): void {
    if (this.handle) this.addon.llamaDisposeContext(this.handle)
    this.handle = null
  }
}
