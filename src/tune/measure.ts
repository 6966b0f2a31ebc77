/**
 * The real measurer of `moerig tune`: one `moerig bench` run (runner/bench.ts runBench: the model
 * in the runner child process, a warm-up, then pp<nPrompt> and tg<nGen> repetitions, llama-bench
 * style) per measurement. Nothing is saved per run; tune saves its own result.
 */
import {MoerigError, oneLine} from '../lib/errors.js'
import type {BenchResult} from '../schemas/bench.js'
import {runBench} from '../runner/bench.js'
import type {RpcEndpoint} from '../engine/rpc.js'
import type {Prediction} from './predict.js'
import type {Candidate, Measurer, MeasureResult} from './search.js'

export interface BenchMeasurerOptions {
  path: string
  tests: {nPrompt: number; nGen: number}
  /** the planner's view of each candidate (its placement is what runs) */
  prediction(id: string): Prediction
  childEnv?: NodeJS.ProcessEnv
  /** --rpc: llama.cpp RPC servers attached to every measurement (as bench --rpc) */
  rpc?: RpcEndpoint[]
  onRep?(index: number, reps: number, tps: number): void
  onInterrupt?(): void
  onFallback?(line: string): void
}

export interface BenchMeasurer extends Measurer {
  /** the last bench result of each configuration (memory, provenance) */
  last: Map<string, BenchResult>
}

export function benchMeasurer(o: BenchMeasurerOptions): BenchMeasurer {
  const last = new Map<string, BenchResult>()
  return {
    last,
    async measure(c: Candidate, reps: number): Promise<MeasureResult> {
      const t0 = performance.now()
      const cfg = c.config
      const seconds = () => (performance.now() - t0) / 1000
      let r: BenchResult
      try {
        r = await runBench(
          {
            path: o.path,
            nPrompt: [o.tests.nPrompt],
            nGen: [o.tests.nGen],
            reps,
            threads: cfg.threads,
            nBatch: cfg.nBatch,
            nUbatch: cfg.nUbatch,
            typeK: cfg.kvType,
            typeV: cfg.kvType,
            flashAttn: cfg.flashAttn,
            opOffload: cfg.opOffload,
            placement: o.prediction(c.id).placement,
            cpuVariant: cfg.cpuVariant ?? undefined,
            runsDir: null,
            childEnv: o.childEnv,
            rpc: o.rpc,
          },
          {
            onRep: (_t, i, n, tps) => o.onRep?.(i, n, tps),
            onInterrupt: o.onInterrupt,
            onFallback: o.onFallback,
          },
        )
      } catch (e) {
        // stopped before a repetition finished: nothing from this run, the search ends
        if (e instanceof MoerigError && e.code === 'E_INTERRUPTED')
          return {decode: [], prefill: [], seconds: seconds(), stopped: true}
        // a configuration llama.cpp refuses or aborts on is a result, not the end of the search
        if (e instanceof MoerigError) return {decode: [], prefill: [], seconds: seconds(), error: oneLine(e)}
        throw e
      }
      last.set(c.id, r)
      const tg = r.results.find((x) => x.nGen > 0 && x.nPrompt === 0)
      const pp = r.results.find((x) => x.nPrompt > 0 && x.nGen === 0)
      return {decode: tg?.samples ?? [], prefill: pp?.samples ?? [], seconds: seconds(), stopped: r.partial}
    },
  }
}
