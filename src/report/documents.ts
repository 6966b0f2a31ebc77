/**
 * Adapters from the JSON documents other commands write (plans, bench results, reuse analyses)
 * to report views. Each kind says how to recognise a document by its fields, validates it
 * against its schema (src/schemas/) and maps it.
 */
import {assertValid} from '../schemas/validate.js'
import {planSchema, type Plan} from '../schemas/plan.js'
import {reuseResultSchema, type ReuseResult} from '../schemas/reuse.js'
import {benchResultSchema, type BenchResult} from '../schemas/bench.js'
import {runResultSchema, type RunResult} from '../schemas/run.js'
import {tuneResultSchema, type TuneResult} from '../schemas/tune.js'
import type {BenchView, InputView, PlanView, ReuseView, TuneView} from './views.js'
import {fmtMiB} from '../lib/units.js'
import {placementFlags} from '../planner/emit.js'
import {basename} from 'node:path'

export interface DocumentKind {
  name: string
  detect(doc: Record<string, unknown>): boolean
  view(doc: unknown, path: string): InputView
}

const has = (d: Record<string, unknown>, ...keys: string[]) => keys.every((k) => k in d)

export function planView(p: Plan): PlanView {
  const name = p.model.name ?? p.model.id
  const quant = p.model.quant ?? null
  // Profiles given as files appear as paths: keep the file stem ("dual-8592-2xa770").
  const hardware =
    p.hardware && p.hardware.length > 0
      ? p.hardware.map((h) => basename(h).replace(/\.json$/i, '')).join(' + ')
      : 'unknown machine'
  const ctx = (n: number) => (n > 0 ? n : null)
  return {
    kind: 'plan',
    label: `${name}${quant ? ` ${quant}` : ''} · ${p.engine} · ${hardware}`,
    model: name,
    quant,
    engine: p.engine,
    hardware,
    weightsBytes: p.weights.totalBytes,
    context: p.context,
    fits: p.fits,
    verdict: p.verdict.headline,
    devices: p.devices.map((d) => ({
      id: d.host && p.hardware && p.hardware.length > 1 ? `${d.id} (${d.host})` : d.id,
      kind: d.kind,
      capacityBytes: d.capacityBytes,
      weightsBytes: d.weightsBytes,
      kvBytes: d.kvBytes,
      computeBytes: d.computeBytes + d.overheadBytes,
    })),
    kvBytesPerToken: p.kv.bytesPerToken,
    maxContextByGpuCount: p.maxContext.byGpuCount.map((c) => ({gpus: c.gpus, context: ctx(c.maxContext)})),
    decodeTps: p.prediction.decodeTps,
    decodeTpsRange: p.prediction.decodeRange ? [p.prediction.decodeRange.low, p.prediction.decodeRange.high] : null,
    prefillTps: p.prediction.prefillTps,
    assumptions: p.prediction.assumptions,
    rows: (p.rows ?? []).map((r) => {
      const fit = r.maxContext.filter((c) => c.maxContext > 0)
      return {
        quant: r.quant,
        sizeBytes: r.fileBytes,
        fits: r.fits,
        maxContext: fit.length > 0 ? Math.max(...fit.map((c) => c.maxContext)) : null,
        decodeTps: r.decodeTps,
        prefillTps: r.prefillTps,
      }
    }),
  }
}

export function reuseView(r: ReuseResult): ReuseView {
  const o = r.overall
  return {
    kind: 'reuse',
    label: `${r.trace.model} expert reuse (${basename(r.trace.path)}, ${r.trace.nTokens} tokens)`,
    model: r.trace.model,
    layers: r.layers.map((l) => ({
      layer: l.layer,
      reuse: l.reuse,
      reuseRandom: l.reuseRandom,
      top10Share: l.top10Share,
      entropy: l.entropy,
    })),
    cache: r.cache.map((c) => ({
      policy: c.policy,
      capacity: c.capacity,
      layer: c.layer as number | 'all',
      hitRate: c.hitRate,
      hitRateRandom: c.hitRateRandom,
      bytesPerToken: c.bytesPerToken,
      decodeTps: c.decodeTps,
    })),
    overall: {reuse: o.reuse, reuseRandom: o.reuseRandom, top10Share: o.top10Share, entropy: o.entropy, gini: o.gini},
    noCacheDecodeTps: r.estimate.noCacheDecodeTps,
    notes: r.notes,
  }
}

/** A quant name in a file or model name ("…-Q4_K_M.gguf"); null when none. */
export function quantFromName(name: string): string | null {
  const m =
    /(?:^|[^A-Za-z0-9])(IQ[1-4]_[A-Z0-9_]+?|Q[2-8]_K(?:_[SML])?|Q[458]_[01]|TQ[12]_0|MXFP4|BF16|F16|F32)(?=$|[^A-Za-z0-9_]|\.|-)/i.exec(
      name,
    )
  return m ? m[1].toUpperCase() : null
}

export function benchView(b: BenchResult): BenchView {
  const pv = b.provenance
  const quant = quantFromName(basename(b.model.path)) ?? quantFromName(b.model.desc)
  const threads = b.config.threads
  return {
    kind: 'bench',
    tool: 'bench',
    label: `${b.model.name}${quant ? ` ${quant}` : ''} · ${pv.backend} · ${threads} thread${threads === 1 ? '' : 's'}${b.partial ? ' (partial)' : ''}`,
    model: b.model.name,
    quant,
    sizeBytes: b.model.sizeBytes,
    backend: pv.backend,
    threads,
    placement: placementFlags(b.config.placement, {result: true}),
    results: b.results.map((r) => ({
      test: r.test,
      nPrompt: r.nPrompt,
      nGen: r.nGen,
      threads: r.threads,
      mean: r.tps.mean,
      sd: r.tps.sd,
    })),
    memory: b.plan
      ? b.plan.devices.map((d) => ({
          device: d.engineDevice === d.id ? d.id : `${d.id} (${d.engineDevice})`,
          plannedBytes: d.planned.totalBytes,
          measuredBytes: d.measured?.totalBytes ?? null,
        }))
      : [],
    predicted: b.plan ? {decodeTps: b.plan.predicted.decodeTps, prefillTps: b.plan.predicted.prefillTps} : null,
    provenance: `measured ${pv.time} on ${pv.cpu} (${pv.hostname}), llama.cpp ${pv.llamaRelease}, moerig ${pv.moerigVersion}`,
  }
}

/** A `moerig run` result as a one-repetition measurement: its prefill as pp<n>, its decode as tg<n>. */
export function runView(r: RunResult): BenchView {
  const pv = r.provenance
  const quant = quantFromName(basename(r.model.path)) ?? quantFromName(r.model.desc)
  const threads = r.threads ?? pv.threads
  const results: BenchView['results'] = []
  if (r.prefill.tps !== null)
    results.push({
      test: `pp${r.prefill.tokens}`,
      nPrompt: r.prefill.tokens,
      nGen: 0,
      threads,
      mean: r.prefill.tps,
      sd: 0,
    })
  if (r.decode.tps !== null)
    results.push({test: `tg${r.decode.tokens}`, nPrompt: 0, nGen: r.decode.tokens, threads, mean: r.decode.tps, sd: 0})
  return {
    kind: 'bench',
    label: `${r.model.name}${quant ? ` ${quant}` : ''} · ${pv.backend} · ${threads} thread${threads === 1 ? '' : 's'} · moerig run${r.partial ? ' (partial)' : ''}`,
    model: r.model.name,
    quant,
    sizeBytes: r.model.sizeBytes,
    backend: pv.backend,
    threads,
    tool: 'run',
    placement: placementFlags(r.placement, {result: true}),
    results,
    memory: [],
    predicted: null,
    provenance: `measured once by moerig run ${pv.time} on ${pv.cpu} (${pv.hostname}), llama.cpp ${pv.llamaRelease}, moerig ${pv.moerigVersion}`,
  }
}

/** A `moerig tune` result: its ranked configurations, the search path and the winner's commands. */
export function tuneView(t: TuneResult): TuneView {
  const pv = t.provenance
  const w = t.measured.find((m) => m.id === t.winnerId)
  const stop =
    t.stop === 'done'
      ? 'search finished'
      : t.stop === 'budget'
        ? 'budget spent'
        : `stopped by ${t.stoppedBy ?? 'a signal'}`
  return {
    kind: 'tune',
    label: `${t.model.name} · tune (${t.objective}) · ${t.hardware.name}${t.partial ? ' (partial)' : ''}`,
    model: t.model.name,
    objective: t.objective,
    tests: {pp: `pp${t.tests.nPrompt}`, tg: `tg${t.tests.nGen}`},
    summary: `${t.space.candidates} configurations, ${t.space.fitting} fit at ${t.context} tokens (planner), ${t.measured.length} measured in ${t.measureSeconds} s of a ${t.budgetS} s budget (${stop}); measured/predicted ${t.ratio.decodeTps} (decode), ${t.ratio.prefillTps} (prefill).`,
    rows: t.measured.map((m) => ({
      rank: m.rank,
      flags: m.flags,
      tags: m.tags,
      prefill: m.prefill ? {mean: m.prefill.mean, sd: m.prefill.sd} : null,
      decode: m.decode ? {mean: m.decode.mean, sd: m.decode.sd} : null,
      predicted: m.correctedPrediction,
      reps: m.reps,
      memory: m.memory.map((d) => `${d.device} ${fmtMiB(d.totalBytes)}`).join(', '),
      vsDefaults: m.vsDefaults,
      vsPlan: m.vsPlan,
    })),
    path: t.path.map((p) => ({atS: p.atS, score: p.score, bestScore: p.bestScore})),
    winner:
      w && t.commands
        ? {
            flags: w.flags,
            commands: [
              t.commands.llamaServer,
              t.commands.llamaBench,
              ...(t.commands.flashMoe ? [t.commands.flashMoe] : []),
            ],
            notes: t.commands.notes,
          }
        : null,
    provenance: `measured ${pv.time} on ${pv.cpu}, llama.cpp ${pv.llamaRelease}, moerig ${pv.moerigVersion}, load average ${pv.loadAverage.start.join(' ')} → ${pv.loadAverage.end.join(' ')}`,
  }
}

export const documentKinds: DocumentKind[] = [
  {
    name: 'tune',
    detect: (d) => d.kind === 'tune',
    view: (doc, path) => tuneView(assertValid<TuneResult>(tuneResultSchema, doc, `tune result ${path}`)),
  },
  {
    name: 'plan',
    detect: (d) => d.kind === 'plan' || has(d, 'devices', 'prediction', 'maxContext'),
    view: (doc, path) => planView(assertValid<Plan>(planSchema, doc, `plan ${path}`)),
  },
  {
    name: 'bench',
    detect: (d) => d.kind === 'bench' || (has(d, 'results', 'provenance') && Array.isArray(d.results)),
    view: (doc, path) => benchView(assertValid<BenchResult>(benchResultSchema, doc, `bench result ${path}`)),
  },
  {
    name: 'run',
    detect: (d) => d.kind === 'run',
    view: (doc, path) => runView(assertValid<RunResult>(runResultSchema, doc, `run result ${path}`)),
  },
  {
    name: 'reuse',
    detect: (d) => has(d, 'trace', 'overall', 'layers', 'cache'),
    view: (doc, path) => reuseView(assertValid<ReuseResult>(reuseResultSchema, doc, `reuse analysis ${path}`)),
  },
]
