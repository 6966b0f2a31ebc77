// lib/llama-defaults.ts states llama.cpp's context defaults with the files they come from; this
// reads those files in the pinned source (build/llama-src/, extracted by `npm run build:native`)
// and checks every value. Skipped when the source has not been extracted on this machine.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {LLAMA_DEFAULTS, withContextDefaults} from '../../src/lib/llama-defaults.js'
import {BENCH_DEFAULTS} from '../../src/runner/bench.js'

const SRC = join(import.meta.dirname, '..', '..', 'build', 'llama-src')
const have = existsSync(join(SRC, 'common', 'common.h'))

test(
  'LLAMA_DEFAULTS match common/common.h and llama-bench.cpp of the pinned release',
  {skip: !have && 'build/llama-src not extracted'},
  () => {
    const common = readFileSync(join(SRC, 'common', 'common.h'), 'utf8')
    const field = (re: RegExp) => re.exec(common)?.[1]
    assert.equal(Number(field(/int32_t n_batch\s*=\s*(\d+);/)), LLAMA_DEFAULTS.nBatch)
    assert.equal(Number(field(/int32_t n_ubatch\s*=\s*(\d+);/)), LLAMA_DEFAULTS.nUbatch)
    assert.equal(field(/ggml_type cache_type_k = GGML_TYPE_(\w+);/)?.toLowerCase(), LLAMA_DEFAULTS.typeK)
    assert.equal(field(/ggml_type cache_type_v = GGML_TYPE_(\w+);/)?.toLowerCase(), LLAMA_DEFAULTS.typeV)
    assert.equal(field(/flash_attn_type\s*=\s*LLAMA_FLASH_ATTN_TYPE_(\w+);/)?.toLowerCase(), LLAMA_DEFAULTS.flashAttn)
    const bench = readFileSync(join(SRC, 'tools', 'llama-bench', 'llama-bench.cpp'), 'utf8')
    const row = (name: string) => new RegExp(`/\\* ${name}\\s*\\*/\\s*\\{\\s*([^}]*?)\\s*\\}`).exec(bench)?.[1]
    assert.equal(Number(row('n_prompt')), BENCH_DEFAULTS.nPrompt)
    assert.equal(Number(row('n_gen')), BENCH_DEFAULTS.nGen)
    assert.equal(Number(row('n_batch')), BENCH_DEFAULTS.nBatch)
    assert.equal(Number(row('n_ubatch')), BENCH_DEFAULTS.nUbatch)
    assert.equal(row('type_k'), `GGML_TYPE_${LLAMA_DEFAULTS.typeK.toUpperCase()}`)
    assert.equal(row('n_threads'), 'common_cpu_get_num_math()')
  },
)

test('withContextDefaults fills only what is left out', () => {
  assert.deepEqual(withContextDefaults({nCtx: 512, flashAttn: undefined}), {nCtx: 512, ...LLAMA_DEFAULTS})
  assert.deepEqual(withContextDefaults({nBatch: 64, nUbatch: undefined, typeK: 'q8_0', flashAttn: 'off'}), {
    nBatch: 64,
    nUbatch: 512,
    typeK: 'q8_0',
    typeV: 'f16',
    flashAttn: 'off',
  })
})
