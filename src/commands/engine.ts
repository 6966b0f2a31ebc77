import {MoerigCommand} from '../lib/command.js'
import {fmtGiB} from '../lib/units.js'
import {engineBuild} from '../engine/addon.js'
import {listEngineDevices} from '../runner/checkplan.js'
import {cpuVariantFlag, engineFlags} from '../runner/cliflags.js'
import {engineInfoSchema, type EngineInfo} from '../schemas/engine.js'
import {rpcBuildIfAny} from '../engine/rpc.js'
import {assertValid} from '../schemas/validate.js'

export default class Engine extends MoerigCommand {
  static override summary = 'Show the llama.cpp build the native addon uses, its CPU variants and the devices it sees'

  static override description = `Prints the llama.cpp release the addon was built against (or "custom" for MOERIG_LLAMA_CPP_DIR builds), the folder its shared libraries load from, which GPU backend libraries (Vulkan, CUDA, SYCL …) loaded or failed to load, every device llama.cpp sees with its total and free memory, and the CPU backend variants (libggml-cpu-<name>.so): which ones this CPU can execute, which one ggml picks, and the extra buffer types (AMX, CPU_REPACK) that variant brings. The devices are listed by the runner's child process, so a GPU driver that crashes is one error line here, not a crashed moerig. Use it to check that a GPU backend package is picked up before bench, run or check-plan.`

  static override examples = [
    '<%= config.bin %> engine',
    '<%= config.bin %> engine --json',
    '<%= config.bin %> engine --cpu-variant zen4',
  ]

  static override flags = {
    'cpu-variant': engineFlags['cpu-variant'],
  }

  async run() {
    const {flags} = await this.parse(Engine)
    const build = engineBuild()
    // Listed by the runner's child process, like probe: a GPU driver crash is an error line here.
    const engine = await listEngineDevices(undefined, cpuVariantFlag(flags['cpu-variant']))
    const result = {
      release: build.release,
      origin: build.origin,
      libDir: build.libDir,
      backendsLoaded: engine.loaded,
      backendsFailed: engine.failed,
      devices: engine.devices.map((d) => ({
        name: d.name,
        backend: d.backend,
        type: d.type,
        description: d.description,
        totalBytes: d.totalBytes,
        freeBytes: d.freeBytes,
      })),
      cpuVariants: engine.cpuVariants.map((v) => ({name: v.name, loadable: v.loadable, score: v.score})),
      cpuVariant: engine.cpuVariant,
      cpuVariantBest: engine.cpuVariantBest,
      extraBufferTypes: engine.cpuExtraBufferTypes,
      rpc: rpcBuildIfAny(),
    }
    this.log(`llama.cpp ${result.release} (${result.origin})`)
    this.log(`libraries: ${result.libDir}`)
    const runs = result.cpuVariants.filter((v) => v.loadable).map((v) => v.name)
    const not = result.cpuVariants.filter((v) => !v.loadable).map((v) => v.name)
    this.log(
      `CPU variants this CPU runs (best first): ${runs.join(', ') || 'none'}${not.length ? `; not: ${not.join(', ')}` : ''}`,
    )
    this.log(
      `CPU variant loaded: ${result.cpuVariant}${result.cpuVariant === result.cpuVariantBest ? " (ggml's pick)" : ` (ggml would pick ${result.cpuVariantBest})`}; extra buffer types: ${result.extraBufferTypes.join(', ') || 'none'}`,
    )
    if (engine.loaded.length > 0) this.log(`GPU backend libraries loaded: ${engine.loaded.join(', ')}`)
    for (const f of engine.failed) this.log(`GPU backend library failed to load: ${f}`)
    this.log(
      result.rpc
        ? `RPC backend: ${result.rpc.lib} and ${result.rpc.server} (llama.cpp ${result.rpc.release}): moerig rpc-server, --rpc HOST:PORT`
        : 'RPC backend: not built (node scripts/build-rpc.mjs): no moerig rpc-server, no --rpc',
    )
    for (const d of result.devices) {
      this.log(
        `device ${d.name} [${d.backend}, ${d.type}] ${d.description}: ${fmtGiB(d.totalBytes > 0 ? d.totalBytes : null)} (${fmtGiB(d.freeBytes > 0 ? d.freeBytes : null)} free)`,
      )
    }
    return assertValid<EngineInfo>(engineInfoSchema, result, 'engine info')
  }
}
