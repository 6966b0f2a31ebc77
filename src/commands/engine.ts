import {MoerigCommand} from '../lib/command.js'
import {fmtGiB} from '../lib/units.js'
import {engineBuild} from '../runner/addon.js'
import {listEngineDevices} from '../runner/checkplan.js'
import {engineInfoSchema, type EngineInfo} from '../schemas/engine.js'
import {assertValid} from '../schemas/validate.js'

export default class Engine extends MoerigCommand {
  static override summary = 'Show the llama.cpp build the native addon uses and the devices it sees'

  async run() {
    const build = engineBuild()
    // Listed by the runner's child process, like probe: a GPU driver crash is an error line here.
    const engine = await listEngineDevices()
    const result = {
      release: build.release, origin: build.origin, libDir: build.libDir,
      backendsLoaded: engine.loaded, backendsFailed: engine.failed,
      devices: engine.devices.map((d) => ({name: d.name, backend: d.backend, type: d.type, description: d.description, totalBytes: d.totalBytes, freeBytes: d.freeBytes})),
    }
    this.log(`llama.cpp ${result.release} (${result.origin})`)
    this.log(`libraries: ${result.libDir}`)
    if (engine.loaded.length > 0) this.log(`GPU backend libraries loaded: ${engine.loaded.join(', ')}`)
    for (const f of engine.failed) this.log(`GPU backend library failed to load: ${f}`)
    for (const d of result.devices) {
      this.log(`device ${d.name} [${d.backend}, ${d.type}] ${d.description}: ${fmtGiB(d.totalBytes > 0 ? d.totalBytes : null)} (${fmtGiB(d.freeBytes > 0 ? d.freeBytes : null)} free)`)
    }
    return assertValid<EngineInfo>(engineInfoSchema, result, 'engine info')
  }
}
