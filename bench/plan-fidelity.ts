// Plan fidelity: every case of test/native/checkplan-vulkan.test.ts (synthetic deepseek2 MLA / legacy and
// qwen3moe × CPU only, all on the GPU, -ot exps=CPU, --n-cpu-moe 2 × n_ctx 512 … 16384 × f16 / q8_0
// KV), planned against test/fixtures/checkplan/ci-llvmpipe.json and executed with check-plan on
// llvmpipe. Prints planned / allocated / error for every device and buffer kind, then the worst
// error per kind. `--fa-off` adds the same cases without flash attention (f16 KV; outside the
// tested matrix, informational).
//
//   GGML_VK_VISIBLE_DEVICES=0 npm run bench:plan-fidelity [-- --fa-off]
import {ERROR_BOUNDS_PCT, KINDS, type Kind} from '../src/runner/checkplan.js'
import {
  CPU_PLACEMENT,
  FIDELITY_PLACEMENTS,
  runFidelity,
  vulkanUnavailable,
  type FidelityCase,
} from '../test/support/checkplan-cases.js'

const childEnv = {GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? '0'}
const mib = (b: number) => (b / 1024 ** 2).toFixed(2)
const pct = (x: number) => (Math.abs(x) < 0.05 ? '0.0' : `${x > 0 ? '+' : ''}${x.toFixed(1)}`)
const KEY: Record<Kind, 'weightsBytes' | 'kvBytes' | 'computeBytes'> = {
  weights: 'weightsBytes',
  kv: 'kvBytes',
  compute: 'computeBytes',
}

function table(cases: FidelityCase[]): string[] {
  const head = [
    'model',
    'placement',
    'n_ctx',
    'KV',
    'FA',
    'device',
    ...KINDS.flatMap((k) => [`${k} plan MiB`, 'alloc MiB', 'err %']),
  ]
  const rows: string[][] = []
  for (const c of cases) {
    for (const d of c.result.devices) {
      rows.push([
        c.model.split(' ')[0],
        c.placement,
        String(c.context),
        c.kvType,
        c.result.flashAttention ? 'on' : 'off',
        d.engineDevice === d.id ? d.id : `${d.id}=${d.engineDevice}`,
        ...KINDS.flatMap((k) => [mib(d.planned[KEY[k]]), mib(d.allocated[KEY[k]]), pct(d.errorPct[k])]),
      ])
    }
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r: string[]) => `| ${r.map((c, i) => (i < 6 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ')} |`
  return [
    line(head),
    `|${w.map((n, i) => (i < 6 ? '-'.repeat(n + 2) : `${'-'.repeat(n + 1)}:`)).join('|')}|`,
    ...rows.map(line),
  ]
}

/** Worst error per kind; "raw" ignores the log's ±5.1 KiB resolution (small buffers read a few % off from rounding alone). */
function worst(cases: FidelityCase[]): string[] {
  const out: string[] = []
  for (const k of KINDS) {
    let best = {err: 0, where: 'none'}
    let raw = 0
    for (const c of cases) {
      for (const d of c.result.devices) {
        if (Math.abs(d.errorPct[k]) > Math.abs(best.err))
          best = {
            err: d.errorPct[k],
            where: `${c.model.split(' ')[0]} ${c.placement} n_ctx ${c.context} ${c.kvType} ${d.id}`,
          }
        const a = d.allocated[KEY[k]]
        if (a > 0) raw = Math.max(raw, Math.abs((100 * (d.planned[KEY[k]] - a)) / a))
      }
    }
    const ok = Math.abs(best.err) <= ERROR_BOUNDS_PCT[k]
    out.push(
      `worst ${k.padEnd(7)} ${`${best.err > 0 ? '+' : ''}${best.err.toFixed(2)}`.padStart(6)} % (${best.where}; raw, before the log's rounding: ${raw.toFixed(2)} %); bound ${ERROR_BOUNDS_PCT[k]} %: ${ok ? 'ok' : 'OVER'}`,
    )
  }
  return out
}

const noVulkan = await vulkanUnavailable(childEnv)
const placements = noVulkan ? [CPU_PLACEMENT] : [CPU_PLACEMENT, ...FIDELITY_PLACEMENTS]
if (noVulkan) console.log(`skipped the GPU placements: ${noVulkan}`)
const t0 = performance.now()
const cases = await runFidelity({placements, childEnv, onGroup: (m, p) => process.stderr.write(`  ${m}, ${p}\n`)})
console.log(
  `plan fidelity: ${cases.length} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s (llama.cpp buffer sizes, ±5.1 KiB)`,
)
for (const l of table(cases)) console.log(l)
console.log('')
for (const l of worst(cases)) console.log(l)
if (process.argv.includes('--fa-off')) {
  const off = await runFidelity({placements, childEnv, flashAttention: false, kvTypes: ['f16']})
  console.log('\nflash attention off (f16 KV; informational, outside the tested matrix):')
  for (const l of table(off)) console.log(l)
  console.log('')
  for (const l of worst(off)) console.log(l)
}
