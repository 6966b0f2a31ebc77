import {MoerigCommand} from '../lib/command.js'
import {engineBuild, loadAddon} from '../runner/addon.js'

export default class Engine extends MoerigCommand {
  static override summary = 'Show the llama.cpp build the native addon uses'

  async run() {
    const build = engineBuild()
    const info = loadAddon().engineInfo()
    const result = {release: build.release, origin: build.origin, libDir: build.libDir, systemInfo: info.llamaSystemInfo.trim()}
    this.log(`llama.cpp ${result.release} (${result.origin})`)
    this.log(`libraries: ${result.libDir}`)
    this.log(`system info: ${result.systemInfo}`)
    return result
  }
}
