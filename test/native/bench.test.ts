// `moerig bench` and `moerig run` through the CLI: llama-bench table, --json shape, plans,
// bad inputs as one line, Ctrl-C keeping the finished repetitions.
import {test, before} from 'node:test'
import assert from 'node:assert/strict'
import {openSync, readSync, closeSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {readGguf} from '../../src/model/gguf.js'
import {benchResultSchema} from '../../src/schemas/bench.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {benchUntilSignal, cli, minimalPlan, synthTiny, tempDir} from '../support/runner-helpers.js'

let dir = ''
let model = ''
let tensorCount = 0

before(async () => {
  dir = tempDir('moerig-bench-')
  model = synthTiny(dir)
  tensorCount = (await readGguf(model)).tensors.length
})

test('bench --json: results[].{test, nPrompt, nGen, threads, tps.{mean, sd}, samples[]}, model and provenance; the table otherwise', () => {
  const runs = join(dir, 'runs-json')
  const r = cli(['bench', model, '-p', '16', '-n', '4', '-r', '2', '-t', '1', '--runs-dir', runs, '--json'])
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.deepEqual(schemaErrors(benchResultSchema, j), [])
  assert.deepEqual(
    j.results.map((x: {test: string; nPrompt: number; nGen: number; threads: number}) => [
      x.test,
      x.nPrompt,
      x.nGen,
      x.threads,
    ]),
    [
      ['pp16', 16, 0, 1],
      ['tg4', 0, 4, 1],
    ],
  )
  assert.equal(j.results[0].samples.length, 2)
  // the tg row also carries its single-token steps: 2 repetitions × 4 tokens, the fastest ≤ the median,
  // and no single step is slower than a whole repetition; the pp row has none
  const tok = j.results[1].tokenMs
  assert.equal(tok.n, 8)
  assert.ok(tok.fastest > 0 && tok.fastest <= tok.median, JSON.stringify(tok))
  assert.ok(tok.median * 1e6 <= Math.max(...j.results[1].samplesNs))
  assert.ok(4 * tok.fastest * 1e6 <= Math.min(...j.results[1].samplesNs) * 1.001)
  assert.equal(j.results[0].tokenMs, undefined)
  assert.equal(j.model.arch, 'deepseek2')
  assert.equal(readdirSync(runs).length, 1)

  const t = cli(['bench', model, '-p', '16', '-n', '0', '-r', '1', '-t', '1', '--no-save'])
  assert.equal(t.status, 0, t.stderr)
  assert.match(t.stdout, /\| model +\| +size \| +params \| backend \| threads \| +test \| +t\/s \|/)
  assert.match(t.stdout, /\| deepseek2 .* \| CPU +\| +1 \| pp16 \| +[0-9.]+ ± [0-9.]+ \|/)
  assert.match(t.stdout, /CPU: weights [0-9.]+ MiB, KV [0-9.]+ MiB, compute [0-9.]+ MiB/)
})

test('bench -d: every test at each depth, named "@ d<N>" as llama-bench, in a context that holds the depth; the fill is not timed', () => {
  const r = cli(['bench', model, '-p', '256', '-n', '4', '-d', '0,256', '-r', '2', '-t', '1', '--no-save', '--json'])
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.deepEqual(schemaErrors(benchResultSchema, j), [])
  type Row = {test: string; nDepth: number; nCtx: number; samplesNs: number[]; tokenMs?: {n: number}}
  const rows: Row[] = j.results
  assert.deepEqual(
    rows.map((x) => [x.test, x.nDepth]),
    [
      ['pp256', 0],
      ['pp256 @ d256', 256],
      ['tg4', 0],
      ['tg4 @ d256', 256],
    ],
  )
  // llama.cpp pads the context to a multiple of 256: at least depth + prompt + generated
  assert.deepEqual(
    rows.map((x) => x.nCtx),
    [256, 512, 256, 512],
  )
  assert.equal(rows[3].tokenMs?.n, 8)
  // tg4 after 256 cached tokens is 4 decode steps, not the 256-token fill as well: every repetition
  // well under the time of the same 256-token prompt (a timed fill would take at least that)
  const ppMin = Math.min(...rows[0].samplesNs)
  assert.ok(Math.max(...rows[3].samplesNs) < ppMin / 2, `${rows[3].samplesNs} vs pp256 ${rows[0].samplesNs}`)
  const t = cli(['bench', model, '-p', '0', '-n', '4', '-d', '64', '-r', '1', '-t', '1', '--no-save'])
  assert.equal(t.status, 0, t.stderr)
  assert.match(t.stdout, /\| +1 \| +tg4 @ d64 \| +[0-9.]+ ± [0-9.]+ \|/)
})

test('bad inputs are one line and a non-zero exit: truncated GGUF, not a GGUF, missing file, bad flags', () => {
  const truncated = join(dir, 'truncated.gguf')
  const size = readFileSync(model).length
  const fd = openSync(model, 'r')
  const buf = Buffer.alloc(Math.floor(size / 2))
  readSync(fd, buf, 0, buf.length, 0)
  closeSync(fd)
  writeFileSync(truncated, buf)
  const notGguf = join(dir, 'notes.txt')
  writeFileSync(notGguf, 'hello, I am not a model\n')
  const cases: Array<[string[], RegExp]> = [
    [['bench', truncated, '-r', '1', '--no-save'], /truncated/],
    [['run', truncated, '--prompt', 'hi', '--no-save'], /truncated/],
    [['bench', notGguf, '-r', '1', '--no-save'], /not a GGUF file/],
    [['bench', join(dir, 'nope.gguf'), '--no-save'], /no such file/],
    [['bench', model, '-p', 'x1', '--no-save'], /-p x1: expected non-negative integers/],
    [['bench', model, '-d', '-5', '--no-save'], /-d -5: expected non-negative integers/],
    [['run', model, '--prompt', 'hi', '--override-tensor', 'exps=NPU3', '--no-save'], /unknown device "NPU3"/],
    [['bench', model, '-r', '1', '-dev', 'NPU3', '--no-save'], /unknown offload device "NPU3" \(available: /],
  ]
  for (const [args, re] of cases) {
    const r = cli(args)
    assert.notEqual(r.status, 0, args.join(' '))
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`)
    assert.match(lines[0], /^moerig: error: /)
    assert.match(lines[0], re)
  }
  const j = cli(['bench', truncated, '--json', '--no-save'])
  assert.equal(JSON.parse(j.stdout).error.code, 'E_GGUF_TRUNCATED')
})

test('bench --plan: executes the placement and context, prints planned vs measured; refuses a plan that does not fit or needs a missing GPU', () => {
  const ok = join(dir, 'plan-ok.json')
  writeFileSync(ok, JSON.stringify(minimalPlan(model, tensorCount)))
  const r = cli(['bench', model, '--plan', ok, '-p', '16', '-n', '4', '-r', '1', '--no-save', '--json'])
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  assert.equal(j.config.nCtx, 512)
  assert.equal(j.config.nUbatch, 256)
  assert.equal(j.config.flashAttn, 'off')
  assert.equal(j.plan.devices[0].id, 'CPU')
  assert.ok(j.plan.devices[0].measured.weightsBytes > 0)
  assert.equal(j.plan.predicted.decodeTps, 50)
  assert.ok(j.plan.measured.decodeTps > 0 && j.plan.measured.prefillTps > 0)
  const text = cli(['bench', '--plan', ok, '-p', '16', '-n', '4', '-r', '1', '--no-save'])
  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, /CPU: planned [0-9.]+ MiB .* · measured [0-9.]+ MiB/)
  assert.match(text.stdout, /decode: predicted 50\.00 t\/s · measured [0-9.]+ t\/s \(tg4\)/)
  assert.equal(j.plan.comparison.decode.test, 'tg4')
  // the plan (context 512) predicts decode at depth 256; tg4 runs near 0, and the line says which -d measures there
  assert.match(text.stdout, /note: the plan's decode is predicted at depth 256 .* tg4 averages depth 2: -d 254 /)
  const deep = cli(['bench', '--plan', ok, '-p', '0', '-n', '4', '-d', '0,254', '-r', '1', '--no-save', '--json'])
  assert.equal(deep.status, 0, deep.stderr)
  assert.equal(JSON.parse(deep.stdout).plan.comparison.decode.test, 'tg4 @ d254')
  // the plan's --no-op-offload runs (llama.cpp's context op_offload) and the table gets llama-bench's nopo column
  const nopo = join(dir, 'plan-nopo.json')
  const base = minimalPlan(model, tensorCount) as {placement: object}
  writeFileSync(nopo, JSON.stringify({...base, placement: {...base.placement, opOffload: false}}))
  const np = cli(['bench', '--plan', nopo, '-p', '16', '-n', '4', '-r', '1', '--no-save', '--json'])
  assert.equal(np.status, 0, np.stderr)
  assert.equal(JSON.parse(np.stdout).config.opOffload, false)
  assert.equal(j.config.opOffload, true)
  const npText = cli(['bench', '--plan', nopo, '-p', '0', '-n', '4', '-r', '1', '--no-save'])
  assert.match(npText.stdout, /\| threads \| n_batch \| n_ubatch \| nopo \| +test \|/)
  const run = cli(['run', model, '--prompt', 'hi', '-n', '2', '--no-op-offload', '--no-save', '--json'])
  assert.equal(run.status, 0, run.stderr)
  assert.equal(JSON.parse(run.stdout).context.opOffload, false)
  const over = cli(['bench', '--plan', ok, '-p', '0', '-n', '4', '-d', '600', '--no-save'])
  assert.equal(over.status, 2, over.stderr)
  assert.match(over.stderr, /^moerig: error: tg4 @ d600 needs a context of 604 tokens; the plan's context is 512/)

  const tooBig = join(dir, 'plan-nofit.json')
  writeFileSync(
    tooBig,
    JSON.stringify(
      minimalPlan(model, tensorCount, {
        fits: false,
        verdict: {fits: false, binding: 'RAM', headline: 'needs 404 GB of RAM, has 24 GB', fixes: []},
      }),
    ),
  )
  const nf = cli(['bench', model, '--plan', tooBig, '--no-save'])
  assert.equal(nf.status, 1)
  assert.match(
    nf.stderr,
    /^moerig: error: plan .* does not fit \(RAM\): needs 404 GB of RAM, has 24 GB; use --force to run it anyway\n$/,
  )

  const gpu = join(dir, 'plan-gpu.json')
  writeFileSync(
    gpu,
    JSON.stringify(
      minimalPlan(model, tensorCount, {
        placement: {
          nGpuLayers: 5,
          tensorOverrides: [{pattern: 'exps', device: 'CPU'}],
          nCpuMoe: null,
          tensorSplit: [],
          splitMode: 'layer',
          mainGpu: 0,
        },
      }),
    ),
  )
  const g = cli(['bench', model, '--plan', gpu, '-r', '1', '--no-save'], {
    env: {MOERIG_BACKENDS: 'cpu', MOERIG_BACKEND_LIBS: ''},
  })
  assert.equal(g.status, 1)
  assert.match(g.stderr, /^moerig: error: the plan places tensors on GPU0, but the engine sees no GPU/)

  const other = join(dir, 'plan-other.json')
  writeFileSync(other, JSON.stringify(minimalPlan(model, tensorCount + 1)))
  assert.match(cli(['bench', model, '--plan', other, '--no-save']).stderr, /was made for a different model/)
  const invalid = join(dir, 'plan-invalid.json')
  writeFileSync(invalid, JSON.stringify({kind: 'plan'}))
  assert.match(
    cli(['bench', model, '--plan', invalid, '--no-save']).stderr,
    /^moerig: error: plan .*plan-invalid\.json: .* missing required field/,
  )
})

test('Ctrl-C during bench stops after the current repetition, keeps and saves the finished ones as partial', async () => {
  const runs = join(dir, 'runs-int')
  // let a few repetitions finish after the runner child started, then Ctrl-C
  const {code, out} = await benchUntilSignal(model, 'SIGINT', runs, 4000)
  assert.equal(code, 130)
  const j = JSON.parse(out)
  assert.equal(j.partial, true)
  assert.ok(j.results.length <= 1)
  if (j.results.length) assert.ok(j.results[0].samples.length >= 1 && j.results[0].samples.length < 200)
  const saved = JSON.parse(readFileSync(join(runs, readdirSync(runs)[0]), 'utf8'))
  assert.equal(saved.partial, true)
})

// Opt-in: a real GPU backend library. With Debian's mesa-vulkan-drivers (llvmpipe) and the
// @node-llama-cpp/linux-x64-vulkan package of the pinned release (GPU_PACKAGE_VERSION, src/engine/backends.ts) unpacked anywhere:
//   MOERIG_TEST_VULKAN_LIB=…/bins/linux-x64-vulkan/libggml-vulkan.so GGML_VK_VISIBLE_DEVICES=0
// Memory only: decoding on llvmpipe takes minutes (shader pipelines).
const vkLib = process.env.MOERIG_TEST_VULKAN_LIB
test(
  'a plan placing layers on GPU0 is executed on Vulkan0 with per-device memory (opt-in: MOERIG_TEST_VULKAN_LIB)',
  {skip: vkLib ? false : 'MOERIG_TEST_VULKAN_LIB not set'},
  () => {
    const p = join(dir, 'plan-vulkan.json')
    const base = minimalPlan(model, tensorCount) as {devices: object[]}
    writeFileSync(
      p,
      JSON.stringify(
        minimalPlan(model, tensorCount, {
          placement: {
            nGpuLayers: 99,
            tensorOverrides: [{pattern: 'ffn_.*_exps', device: 'CPU'}],
            nCpuMoe: null,
            tensorSplit: [],
            splitMode: 'layer',
            mainGpu: 0,
          },
          devices: [
            ...base.devices,
            {
              id: 'GPU0',
              kind: 'gpu',
              name: 'GPU',
              capacityBytes: 2e9,
              weightsBytes: 9e6,
              kvBytes: 5e5,
              computeBytes: 3e7,
              overheadBytes: 0,
              totalBytes: 3.95e7,
              fits: true,
            },
          ],
        }),
      ),
    )
    const r = cli(['bench', model, '--plan', p, '--memory-only', '--no-save', '--json'], {
      env: {MOERIG_BACKEND_LIBS: vkLib, GGML_VK_VISIBLE_DEVICES: process.env.GGML_VK_VISIBLE_DEVICES ?? '0'},
    })
    assert.equal(r.status, 0, r.stdout)
    const j = JSON.parse(r.stdout)
    assert.equal(j.provenance.backend, 'Vulkan')
    assert.deepEqual(j.provenance.backendLibs, [vkLib])
    const vk = j.memory.devices.find((d: {device: string}) => d.device === 'Vulkan0')
    assert.ok(vk.weightsBytes > 0 && vk.kvBytes > 0 && vk.computeBytes > 0)
    const gpu = j.plan.devices.find((d: {id: string}) => d.id === 'GPU0')
    assert.equal(gpu.engineDevice, 'Vulkan0')
    assert.equal(gpu.measured.weightsBytes, vk.weightsBytes)
  },
)
