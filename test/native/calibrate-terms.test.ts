/**
 * calibrate's model terms (src/runner/calibrate.ts modelTerms) on a synthetic model: with measured
 * decode attention the attention term a decode sample loses before the fit is the one the plan will
 * charge (layers × heads × depth × ns per key × head), not the assumed MLA FLOP rate.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {cachedSynthModel} from '../../src/runner/synth.js'
import {modelTerms} from '../../src/runner/calibrate.js'
import type {DecodeKernels} from '../../src/runner/kernels.js'
import {rig} from '../fixtures/plan/rigs.js'
import {tempDir} from '../support/tmp.js'

test('modelTerms: the decode attention term is the measured one when the kernels have it', async () => {
  const path = await cachedSynthModel({preset: 'tiny', quant: 'Q4_K_M'}, tempDir('moerig-terms-'))
  const base = rig({id: 'desk', sockets: 1, ramGiB: 64, channels: 2, mts: 4000, cores: 2, gpus: 0})
  const dk: DecodeKernels = {
    kernels: [{type: 'Q4_K', residency: 'dram', threads: 1, nsPerRow: 2, nsPerWeight: 0.02, buffer: 'CPU_REPACK'}],
    ops: [],
    overheads: [],
    decodeAttention: [{k: 320, dv: 256, threads: 1, nsPerPair: 50}],
  }
  const test = {nPrompt: 0, nGen: 64}
  const measured = await modelTerms(path, base, 1, test, 'tiny', dk)
  const assumed = await modelTerms(path, base, 1, test, 'tiny', {...dk, decodeAttention: undefined})
  // tiny: 4 blocks × 4 heads, MLA latent 256 + rope 64 (K 320, V 256); tg64 is planned at depth 32
  const want = 4 * 4 * 32 * 50e-9
  assert.ok(Math.abs(measured.attnS - want) < 2e-6, `${measured.attnS} vs ${want}`)
  assert.ok(Math.abs(assumed.attnS - want) > 2e-6, `${assumed.attnS}`)
})
