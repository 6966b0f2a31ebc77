import {Flags} from '@oclif/core'
import {MoerigCommand, USAGE_EXIT} from '../lib/command.js'
import {MoerigError} from '../lib/errors.js'
import {createProgress} from '../lib/progress.js'
import {fmtBinary} from '../lib/units.js'
import {RPC_DEFAULT_PORT} from '../engine/rpc.js'
import {serveRpc} from '../runner/rpc-server.js'
import type {RpcServerResult} from '../schemas/rpc.js'

export default class RpcServer extends MoerigCommand {
  static override summary = "Serve this machine's devices to other machines over llama.cpp's RPC protocol"

  static override description = `Runs llama.cpp's rpc-server (built into build/rpc/ by npm install) on this host: another machine then adds its devices with --rpc HOST:PORT on bench, run, check-plan, probe and calibrate (or llama.cpp's own --rpc), and places layers and tensors on them like on local GPUs (RPC0, RPC1 … in -ts/-ot).
Binds 127.0.0.1 unless told otherwise. The protocol has no authentication and no encryption: any other address needs --expose, and should be a private link between your machines only, never an open network.
Runs until Ctrl-C (or SIGTERM); prints each client as it connects and leaves. A server serves one client at a time.`

  static override examples = [
    '<%= config.bin %> rpc-server',
    '<%= config.bin %> rpc-server --host 192.168.1.20 --expose --threads 32',
    '<%= config.bin %> rpc-server --port 50053 --mem 64 --device CPU',
  ]

  static override flags = {
    host: Flags.string({
      description: 'address to listen on (anything but loopback needs --expose)',
      default: '127.0.0.1',
      helpValue: 'ADDR',
    }),
    port: Flags.integer({description: 'TCP port', default: RPC_DEFAULT_PORT, min: 1, max: 65535}),
    threads: Flags.integer({char: 't', description: 'threads of the CPU device (llama.cpp rpc-server -t)', min: 1}),
    mem: Flags.string({
      description: 'GiB each device reports to clients at most (what llama.cpp splits by); default: its real memory',
      helpValue: 'GiB',
    }),
    device: Flags.string({
      description: 'devices to serve, comma-separated (default: every GPU, else the CPU), e.g. CPU or Vulkan0,Vulkan1',
      helpValue: 'DEV,…',
    }),
    cache: Flags.boolean({description: "keep large tensors in llama.cpp's local file cache (rpc-server -c)"}),
    expose: Flags.boolean({
      description: 'allow --host to be an address other than loopback (no authentication: private networks only)',
    }),
  }

  async run(): Promise<RpcServerResult> {
    const {flags} = await this.parse(RpcServer)
    const progress = createProgress(this.interactive)
    const quiet = this.jsonEnabled()
    const say = (l: string) => {
      if (!quiet) this.log(l)
    }
    const mem = flags.mem === undefined ? undefined : Number(flags.mem)
    if (mem !== undefined && !(/^\d+(\.\d+)?$/.test(flags.mem ?? '') && mem > 0))
      throw new MoerigError(
        'E_USAGE',
        `--mem ${JSON.stringify(flags.mem)}: expected a positive number of GiB, e.g. 64`,
        USAGE_EXIT,
      )
    if (flags.expose && !quiet)
      this.logToStderr(
        `warning: llama.cpp's RPC protocol has no authentication: anyone who can reach ${flags.host}:${flags.port} can use this machine's devices and memory; serve on a private link only`,
      )
    const t0 = Date.now()
    const r = await serveRpc(
      {
        host: flags.host,
        port: flags.port,
        threads: flags.threads,
        memGiB: mem,
        devices: flags.device,
        cache: flags.cache,
        expose: flags.expose,
      },
      {
        onPhase: (label) => progress.phase(label),
        onReady: (x) => {
          progress.done()
          const devs = x.devices
            .map(
              (d) =>
                `${d.name} ${d.description} ${fmtBinary(d.totalBytes, {units: ['MiB', 'GiB']})} (${fmtBinary(d.freeBytes, {units: ['MiB', 'GiB']})} free)`,
            )
            .join('; ')
          say(`serving ${x.endpoint} (llama.cpp ${x.release}, RPC protocol ${x.protocol}): ${devs}`)
          say(
            `on the machine that runs the model: moerig bench MODEL --rpc ${x.endpoint} -ngl 99 (Ctrl-C here stops serving)`,
          )
        },
        onClient: (what, n) => {
          const s = ((Date.now() - t0) / 1000).toFixed(0)
          say(what === 'connected' ? `[${s} s] a client connected` : `[${s} s] the client left (${n} connections)`)
        },
        onServerLine: (l) => {
          if (!quiet) this.logToStderr(`rpc-server: ${l}`)
        },
      },
    )
    progress.done()
    say(`stopped (${r.stoppedBy}) after ${r.seconds.toFixed(0)} s, ${r.clients} client connection(s)`)
    return r
  }
}
