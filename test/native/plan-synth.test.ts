/**
 * The quantization rules against llama.cpp itself: `moerig synth` quantizes with the pinned
 * release's llama_model_quantize; the planner's rules (src/model/quant.ts) must give every
 * tensor of those files the same type and size. Skipped when the native addon is not built.
 */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {buildTensorShapes, shapeFromGguf} from '../../src/model/arch.js'
import {readGguf} from '../../src/model/gguf.js'
import {tensorBytes} from '../../src/model/ggml-types.js'
import {quantizeTypes} from '../../src/model/quant.js'
import {addonPath} from '../../src/engine/addon.js'
import {tempDir} from '../support/tmp.js'

const built = existsSync(addonPath) && existsSync('dist/commands/synth.js')
const dir = tempDir('moerig-synth-')

function synth(preset: string, quant: string, extra: string[] = []): Promise<string> {
  const out = join(dir, `${preset}-${quant}${extra.join('')}.gguf`)
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['bin/run.js', 'synth', '--preset', preset, '--quant', quant, '-o', out, '-f', ...extra],
      {stdio: ['ignore', 'ignore', 'pipe']},
    )
    let err = ''
    p.stderr.on('data', (d) => (err += d))
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`synth ${preset} ${quant}: ${err.trim()}`))))
  })
}

async function compare(path: string, ftype: string): Promise<void> {
  const g = await readGguf(path)
  const shape = shapeFromGguf(g)
  if (g.tensors.some((t) => t.name.includes('exp_probs_b'))) shape.hp.expertGating = 'sigmoid'
  const shapes = buildTensorShapes(shape)
  const types = quantizeTypes(shapes, {
    arch: shape.arch,
    ftype,
    rules: 'v0.4.0',
    nLayer: shape.hp.nLayer,
    nExpert: shape.hp.nExpert ?? 0,
    nGqa: shape.hp.nHead / shape.hp.nHeadKv,
  })
  const mine = new Map(
    shapes.map((s, i) => [s.name, {shape: s.shape, type: types[i].name, bytes: tensorBytes(s.shape, types[i])}]),
  )
  assert.deepEqual([...mine.keys()].sort(), g.tensors.map((t) => t.name).sort(), `${path}: tensor names`)
  for (const t of g.tensors) {
    const m = mine.get(t.name)!
    assert.deepEqual(m.shape, t.shape, `${t.name} shape`)
    assert.equal(m.type, t.typeName, `${t.name}: planner ${m.type}, llama-quantize ${t.typeName}`)
    assert.equal(m.bytes, t.bytes, `${t.name} bytes`)
  }
}

test(
  'planner quant rules = llama.cpp v0.4.0 llama_model_quantize on synth models',
  {skip: built ? false : 'native addon not built'},
  async () => {
    // two at a time: one per core
    const [mla, legacy] = await Promise.all([
      synth('tiny', 'Q4_K_M'),
      synth('tiny', 'Q3_K_M', ['--kv-layout', 'legacy']),
    ])
    await compare(mla, 'Q4_K_M')
    await compare(legacy, 'Q3_K_M')
  },
)
