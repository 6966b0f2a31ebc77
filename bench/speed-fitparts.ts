#!/usr/bin/env -S node --import tsx
/**
 * bench/speed-fitparts (issue 13) — how the speed model's shape terms (src/planner/speed.ts:
 * MATMUL_K_HALF_PREFILL width efficiency, CPU_ATTN_PAIR_FLOPS / CPU_ATTN_FLOP_SPEEDUP attention,
 * PREFILL_EXPERT_ROWS_FULL) carry a calibration from one synthetic shape to the others, without
 * running anything: calibrate measures throughput on r1-mini, so the planner predicts shape S at
 * pp(S) = F(r1-mini) × pp(r1-mini) ÷ F(S), where F is the planner's effective prefill FLOPs per
 * token (calibrate.ts modelTerms). This prints that prediction against recorded 1-thread
 * measurements (default: the previous session's rows in docs/speed-fidelity.md, a Xeon guest)
 * — edit a constant, run again, compare. Decode is printed compute-only for the same reason.
 *
 * Run:   node --import tsx bench/speed-fitparts.ts [--measured file.json]   (file: {shape: {pp, tg}} t/s)
 * Needs: the synth models (written once, seconds; r1-dram ≈ 9 GB of disk).
 */
import {readFileSync} from 'node:fs'
import {parseArgs} from 'node:util'
import {modelTerms} from '../src/runner/calibrate.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {loadHardware} from '../src/probe/machine.js'

const {values: a} = parseArgs({options: {measured: {type: 'string'}}})
/** pp/tg tests per shape (bench/speed-fidelity's) and the recorded 1-thread t/s (best repetition) */
const SHAPES: Record<string, {nPrompt: number; nGen: number}> = {
  'r1-mini': {nPrompt: 512, nGen: 16},
  'r1-dram': {nPrompt: 64, nGen: 8},
  'qwen3moe-tiny': {nPrompt: 512, nGen: 64},
  tiny: {nPrompt: 512, nGen: 64},
}
/** docs/speed-fidelity.md, session of 2026-12-02 11:40 UTC, Xeon (Sapphire Rapids) guest, 1 thread */
const RECORDED: Record<string, {pp: number; tg: number}> = {
  'r1-mini': {pp: 148.0, tg: 34.1},
  'r1-dram': {pp: 15.4, tg: 5.9},
  'qwen3moe-tiny': {pp: 5491.7, tg: 699.4},
  tiny: {pp: 3555.2, tg: 1327.0},
}
const measured: Record<string, {pp: number; tg: number}> = a.measured
  ? JSON.parse(readFileSync(a.measured, 'utf8'))
  : RECORDED
const base = await loadHardware('probe')
const terms: Record<string, Awaited<ReturnType<typeof modelTerms>>> = {}
for (const [shape, t] of Object.entries(SHAPES)) {
  const path = await cachedSynthModel({preset: shape, quant: 'Q4_K_M'})
  terms[shape] = await modelTerms(path, base, 1, t, shape)
}
const ref = terms['r1-mini'],
  m0 = measured['r1-mini']
const G = ref.prefillFlops * m0.pp,
  Gd = ref.costFlops * m0.tg
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)} %`
console.log(
  'shape            F (MFLOP/token)  pp predicted  pp measured  error   | decode compute-only  measured  error',
)
for (const [shape, t] of Object.entries(terms)) {
  const m = measured[shape]
  if (!m) continue
  const pp = G / t.prefillFlops,
    tg = Gd / t.costFlops
  console.log(
    `${shape.padEnd(16)} ${(t.prefillFlops / 1e6).toFixed(1).padStart(15)}  ${pp.toFixed(1).padStart(12)}  ${m.pp.toFixed(1).padStart(11)}  ${pct(pp / m.pp - 1).padStart(6)}  | ${tg.toFixed(1).padStart(19)}  ${m.tg.toFixed(1).padStart(8)}  ${pct(tg / m.tg - 1).padStart(6)}`,
  )
}
