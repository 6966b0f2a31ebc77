import {Flags} from '@oclif/core'
import {MoerigCommand} from '../lib/command.js'
import {createProgress} from '../lib/progress.js'
import {loadHardware} from '../probe/machine.js'
import {parseBudget, parseThreadList, runCalibrate} from '../runner/calibrate.js'
import type {CalibrateResult} from '../schemas/calibrate.js'
import {rpcFlag} from '../runner/rpc-flags.js'
import {calibrateLinks, linkLine} from '../runner/rpc-link.js'

const SIGNAL_EXIT: Record<string, number> = {SIGINT: 130, SIGTERM: 143, SIGHUP: 129}
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export default class Calibrate extends MoerigCommand {
  static override summary =
    "Measure this machine with the built-in runner and save the speed model's calibration into its hardware profile"

  static override description = `Runs short llama-bench style tests on synthetic models: tiny and its 16-layer twin (per-token and per-layer overhead), r1-mini (decode and prefill throughput per thread count) and the DRAM-bound r1-dram (effective memory bandwidth in decode), and each GPU the runner sees. The result is the profile's \`calibration\` section (provenance measured, llama.cpp release, CPU variant); \`plan --hardware FILE\` then uses it and says so.
A few minutes on a small machine (--budget); Ctrl-C stops after the current repetition and writes what finished, marked partial.`

  static override examples = [
    '<%= config.bin %> calibrate --save my-rig.json',
    '<%= config.bin %> calibrate --hardware my-rig.json --threads 1,8,16 --budget 10m',
    '<%= config.bin %> calibrate --save my-rig.json --model /models/big.gguf --json',
  ]

  static override flags = {
    hardware: Flags.string({
      description:
        'start from this hardware profile (file or id) and write the calibration back into it (a probed profile; others need --force or --save)',
      helpValue: 'FILE',
    }),
    save: Flags.string({
      description:
        'write the calibrated profile to this file (default with --hardware FILE: that file; without either: this machine probed, not saved)',
      helpValue: 'FILE',
    }),
    force: Flags.boolean({char: 'f', description: 'overwrite a file that is not a probed profile'}),
    threads: Flags.string({
      char: 't',
      description: 'thread counts to measure, e.g. 1,2,4 or 1-8 (default: 1 … physical cores)',
      helpValue: 'LIST',
    }),
    budget: Flags.string({
      description: 'time budget, e.g. 5m, 90s; below 2m the large models are skipped',
      default: '5m',
      helpValue: 'DURATION',
    }),
    model: Flags.string({
      description: 'DRAM-bound model to measure the decode bandwidth on (default: synth r1-dram)',
      helpValue: 'FILE',
    }),
    repetitions: Flags.integer({
      char: 'r',
      description: 'repetitions per test (the best is used: contention only slows)',
      default: 2,
      min: 1,
      max: 20,
    }),
    rpc: Flags.string({
      description:
        "measure only the network links to these llama.cpp RPC servers (round trip, bandwidth each way; seconds) and keep them in the profile's calibration for plan's RPC speed term",
      helpValue: 'HOST:PORT,…',
    }),
  }

  async run(): Promise<CalibrateResult> {
    const {flags} = await this.parse(Calibrate)
    const budgetS = parseBudget(flags.budget)
    const threads = parseThreadList(flags.threads)
    const hwIsFile =
      flags.hardware !== undefined &&
      flags.hardware !== 'probe' &&
      (flags.hardware.endsWith('.json') || flags.hardware.includes('/'))
    const savePath = flags.save ?? (hwIsFile ? flags.hardware! : null)
    const progress = createProgress(this.interactive)
    const rpc = rpcFlag(flags.rpc)
    if (rpc.length) {
      progress.phase(flags.hardware ? `reading ${flags.hardware}` : 'probing this machine')
      const r = await calibrateLinks({
        profile: await loadHardware(flags.hardware ?? 'probe'),
        rpc,
        savePath,
        force: flags.force,
        onProgress: (what) => progress.phase(what),
      })
      progress.done()
      this.log(
        `network links to llama.cpp RPC servers (measured ${r.calibration.measuredAt}), ${r.seconds.toFixed(1)} s:`,
      )
      for (const l of r.calibration.rpcLinks ?? []) this.log(`  ${linkLine(l)}`)
      this.log(
        r.savedTo
          ? `saved: ${r.savedTo} (plan --hardware ${r.savedTo},… now uses these links)`
          : 'not saved: give --save FILE (or --hardware FILE) to write the profile',
      )
      return r
    }
    let stopSignal: string | null = null
    const onSignal = (sig: string) => {
      if (stopSignal) process.exit(SIGNAL_EXIT[sig] ?? 130) // a second Ctrl-C: abort now
      stopSignal = sig
      progress.step('stopping after the current repetition; what finished will be written (Ctrl-C again to abort)')
    }
    const handlers = SIGNALS.map((s) => [s, () => onSignal(s)] as const)
    for (const [s, h] of handlers) process.on(s, h)
    try {
      progress.phase(flags.hardware ? `reading ${flags.hardware}` : 'probing this machine')
      const profile = await loadHardware(flags.hardware ?? 'probe')
      const result = await runCalibrate(
        {
          profile,
          savePath,
          force: flags.force,
          threads,
          budgetS,
          model: flags.model,
          reps: flags.repetitions,
          stopRequested: () => stopSignal !== null,
        },
        {
          onPhase: (label, total) => progress.phase(label, total),
          onRep: (i, n, tps) => progress.update(i + 1, `(${i + 1}/${n}, last ${tps.toFixed(2)} t/s)`),
          onCase: (done, total) => progress.update(done, `(${done}/${total} cases)`),
          onStep: (line) => progress.step(line),
        },
      )
      progress.done()
      for (const line of calibrationLines(result)) this.log(line)
      if (result.partial) process.exitCode = SIGNAL_EXIT[result.stoppedBy ?? ''] ?? 0
      return result
    } finally {
      progress.done()
      for (const [s, h] of handlers) process.off(s, h)
    }
  }
}

/** What was measured, one line each, units and provenance. */
export function calibrationLines(r: CalibrateResult): string[] {
  const c = r.calibration
  const out = [
    `calibration (measured ${c.measuredAt}, llama.cpp ${c.llamaCppRelease ?? '?'}, CPU variant ${c.cpuVariant ?? '?'}${r.partial ? ', PARTIAL' : ''}), ${r.seconds} s:`,
  ]
  if (c.decodeBandwidthGBs !== undefined)
    out.push(`  decode bandwidth ${c.decodeBandwidthGBs} GB/s effective at ${c.decodeThreads} threads`)
  else out.push('  decode bandwidth: not measured (the published-class model stays in use for it)')
  for (const p of c.cpuThroughput ?? []) {
    out.push(
      `  ${String(p.threads).padStart(3)} threads: prefill ${p.prefillGflops ?? '—'} GFLOP/s${p.prefillRestNs !== undefined ? ` (+ ${p.prefillRestNs} ns per prompt token and activation element besides the matmuls)` : ''}, decode ${p.decodeGflops ?? '—'} GFLOP/s (ggml type-cost weighted)`,
    )
  }
  if (c.tokenOverheadMs !== undefined)
    out.push(`  overhead ${c.tokenOverheadMs} ms per token + ${c.layerOverheadUs ?? 0} µs per layer`)
  out.push(...decodeKernelLines(c.decodeKernels))
  for (const g of c.gpus ?? [])
    out.push(
      `  GPU ${g.index} ${g.name ?? ''}: ${g.layerUs !== undefined ? `${g.layerUs} µs per layer, ` : ''}${g.bandwidthGBs !== undefined ? `${g.bandwidthGBs} GB/s` : 'bandwidth: spec × η'}, prefill ${g.prefillTflops ?? '—'} TFLOP/s${g.backend ? ` (${g.backend})` : ''}`,
    )
  for (const n of c.notes ?? []) out.push(`  note: ${n}`)
  out.push(`  measurements: ${r.measurements.map((m) => `${m.model} ${m.test} t${m.threads} ${m.tps}`).join('; ')}`)
  out.push(
    r.savedTo
      ? `saved: ${r.savedTo} (plan --hardware ${r.savedTo} now uses this calibration)`
      : 'not saved: give --save FILE (or --hardware FILE) to write the profile',
  )
  return out
}

/**
 * The decode kernels' fitted terms per thread count, as the planner uses them: the in-model scale
 * and overheads, the last-level cache's hit curve per row length, MLA's per-head factor.
 */
export function decodeKernelLines(
  dk: NonNullable<CalibrateResult['calibration']['decodeKernels']> | undefined,
): string[] {
  if (!dk) return []
  const mib = (b: number) => (b / 2 ** 20).toFixed(1)
  const byThreads = new Map<number, string[]>()
  const add = (t: number, line: string) => byThreads.set(t, [...(byThreads.get(t) ?? []), line])
  for (const o of dk.overheads)
    add(
      o.threads,
      `kernels × ${(o.scale ?? 1).toFixed(2)} inside a model (cached reads × ${(o.scaleCache ?? o.scale ?? 1).toFixed(2)}), ${o.layerUs} µs per layer + ${o.tokenUs} µs per token besides`,
    )
  for (const x of dk.llc ?? [])
    add(
      x.threads,
      `last-level cache, rows of ${x.k ?? 2048}: half of a cyclic read of ${mib(x.bytes)} MiB served` +
        (x.hits
          ? ` (share ${x.hits
              .filter((h, i, all) => i === 0 || h.hit !== all[i - 1].hit || h.low !== all[i - 1].low)
              .map((h) => `${h.low !== undefined ? `${h.low.toFixed(2)}–` : ''}${h.hit.toFixed(2)} at ${mib(h.bytes)}`)
              .join(', ')} MiB${x.hits.some((h) => h.low !== undefined) ? '; slowest–fastest sample' : ''})`
          : ''),
    )
  for (const st of dk.stacked ?? [])
    add(
      st.threads,
      `MLA per-head products${st.type ? ` (${st.type})` : ''} × ${st.factor.toFixed(2)} the plain line ${st.residency === 'cache' ? 'cached' : 'streamed'}`,
    )
  /** one line per thread count: `label` and each point's words */
  const joined = <T extends {threads: number}>(pts: T[], label: string, words: (x: T) => string) => {
    const by = new Map<number, string[]>()
    for (const x of pts) by.set(x.threads, [...(by.get(x.threads) ?? []), words(x)])
    for (const [t, xs] of by) add(t, `${label}: ${xs.join(', ')}`)
  }
  joined(
    dk.attention ?? [],
    'prefill flash attention (K/V dims ns per query × key × head)',
    (a) => `${a.k}/${a.dv} ${a.nsPerPair.toFixed(1)}`,
  )
  joined(
    dk.decodeAttention ?? [],
    'decode flash attention at depth (K/V dims, query heads per KV head: ns per key × head)',
    (a) => `${a.k}/${a.dv}${a.gqa ? ` ${a.gqa}:1` : ''} ${a.nsPerPair.toFixed(1)}`,
  )
  joined(
    (dk.prefillExperts ?? []).filter((r) => r.k === 2048),
    'prefill routed experts at K 2048 (GFLOP/s)',
    (r) => `${r.type}${r.buffer && r.buffer !== 'CPU' ? ` (${r.buffer})` : ''} ${r.gflops.toFixed(0)}`,
  )
  const out = [`  decode kernels (measured: ${dk.kernels.length} type × residency × thread-count lines):`]
  for (const t of [...byThreads.keys()].sort((a, b) => a - b))
    for (const line of byThreads.get(t)!) out.push(`    ${t} thread${t > 1 ? 's' : ''}: ${line}`)
  return out
}
