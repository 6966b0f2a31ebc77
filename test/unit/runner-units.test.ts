// Pure parts of the runner: GPU backend discovery, memory log parsing, statistics, plan mapping.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {discoverBackends, backendOfLib, GPU_PACKAGE_VERSION, installCommand} from '../../src/engine/backends.js'
import {
  deviceOfBuffer,
  mappedModel,
  memoryByDevice,
  parseBufferLines,
  residentBuffers,
} from '../../src/runner/memory.js'
import type {ModelFile} from '../../src/runner/modelfile.js'
import {geomean, mean, median, stdev, testContext, testName, tokensPerSecond} from '../../src/runner/stats.js'
import {lastWords} from '../../src/runner/child.js'
import {
  comparePlan,
  engineDeviceOf,
  gpusNeeded,
  planParams,
  planVsMeasured,
  resolveModelDevices,
} from '../../src/runner/planrun.js'
import {comparePlanMemory} from '../../src/runner/checkplan.js'
import {benchRow, benchTable, benchTests, depthHint, planRows, tokenStats} from '../../src/runner/bench.js'
import {benchTps} from '../../src/runner/calibrate.js'
import {roundsTps} from '../../src/runner/rounds.js'
import {roundPasses} from '../../src/runner/passes.js'
import type {BenchResult} from '../../src/schemas/bench.js'
import {placementFromFlags, intList, llamaShortFlags} from '../../src/runner/cliflags.js'
import {cpuOnly} from '../../src/runner/calibrate.js'
import type {LlamaDevice} from '../../src/engine/addon.js'
import type {Plan} from '../../src/schemas/plan.js'
import {tempDir, minimalPlan} from '../support/runner-helpers.js'

function fakePackage(nm: string, pkg: string, version: string, sub: string, lib: string | null): void {
  const dir = join(nm, ...pkg.split('/'))
  mkdirSync(join(dir, 'bins', sub), {recursive: true})
  writeFileSync(join(dir, 'package.json'), JSON.stringify({name: pkg, version}))
  if (lib) writeFileSync(join(dir, 'bins', sub, lib), 'not really a library')
}

test('backend discovery finds the Vulkan package of the pinned version and skips others with a reason', () => {
  const nm = join(tempDir(), 'node_modules')
  fakePackage(nm, '@node-llama-cpp/linux-x64-vulkan', GPU_PACKAGE_VERSION, 'linux-x64-vulkan', 'libggml-vulkan.so')
  fakePackage(nm, '@node-llama-cpp/linux-x64-cuda', '3.20.0', 'linux-x64-cuda', 'libggml-cuda.so')
  const d = discoverBackends(nm, {})
  assert.deepEqual(
    d.libs.map((l) => [l.backend, l.origin]),
    [['Vulkan', '@node-llama-cpp/linux-x64-vulkan']],
  )
  assert.match(d.libs[0].path, /bins\/linux-x64-vulkan\/libggml-vulkan\.so$/)
  assert.equal(d.skipped.length, 1)
  assert.equal(
    d.skipped[0].reason,
    `version 3.20.0, need ${GPU_PACKAGE_VERSION} (${installCommand('@node-llama-cpp/linux-x64-cuda')})`,
  )
  // the pinned version is package.json's, read in one place
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
  assert.equal(GPU_PACKAGE_VERSION, pkg.dependencies['@node-llama-cpp/linux-x64'])
  assert.equal(GPU_PACKAGE_VERSION, pkg.dependencies['node-llama-cpp'])
  // MOERIG_BACKENDS=cpu: GPU packages ignored; MOERIG_BACKEND_LIBS: explicit paths first
  assert.deepEqual(discoverBackends(nm, {MOERIG_BACKENDS: 'cpu'}).libs, [])
  const extra = join(nm, '@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan/libggml-vulkan.so')
  const e = discoverBackends(nm, {MOERIG_BACKEND_LIBS: `${extra}:/nope/libggml-sycl.so`})
  assert.equal(e.libs.length, 1, 'the Vulkan backend is not added twice')
  assert.equal(e.libs[0].origin, 'MOERIG_BACKEND_LIBS')
  assert.match(e.skipped[0].reason, /no such file/)
  // a package without its library, and no node_modules at all
  const nm2 = join(tempDir(), 'node_modules')
  fakePackage(nm2, '@node-llama-cpp/linux-x64-cuda', GPU_PACKAGE_VERSION, 'linux-x64-cuda', null)
  assert.match(discoverBackends(nm2, {}).skipped[0].reason, /no libggml-cuda\.so/)
  assert.deepEqual(discoverBackends(join(tempDir(), 'none'), {}), {libs: [], skipped: []})
  assert.equal(backendOfLib('/x/libggml-cuda.so'), 'CUDA')
})

test('backend discovery: a library npm run build:backend built (build/backends/backends.json) comes before the packages; another version or a missing file is skipped with why', () => {
  const nm = join(tempDir(), 'node_modules')
  fakePackage(nm, '@node-llama-cpp/linux-x64-cuda', GPU_PACKAGE_VERSION, 'linux-x64-cuda', 'libggml-cuda.so')
  const built = tempDir()
  const manifest = (backends: object) => writeFileSync(join(built, 'backends.json'), JSON.stringify({backends}))
  writeFileSync(join(built, 'libggml-cuda.so'), 'not really a library')
  manifest({cuda: {lib: 'libggml-cuda.so', version: GPU_PACKAGE_VERSION, release: 'v0.4.0'}})
  const d = discoverBackends(nm, {}, built)
  assert.deepEqual(
    d.libs.map((l) => [l.backend, l.origin, l.path]),
    [['CUDA', 'build:backend', join(built, 'libggml-cuda.so')]],
  )
  // MOERIG_BACKEND_LIBS still first; MOERIG_BACKENDS=cpu ignores the build too; no builtDir: packages only
  const explicit = join(nm, '@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda/libggml-cuda.so')
  assert.equal(discoverBackends(nm, {MOERIG_BACKEND_LIBS: explicit}, built).libs[0].origin, 'MOERIG_BACKEND_LIBS')
  assert.equal(discoverBackends(nm, {MOERIG_BACKEND_LIBS: explicit}, built).libs.length, 1)
  assert.deepEqual(discoverBackends(nm, {MOERIG_BACKENDS: 'cpu'}, built).libs, [])
  assert.equal(discoverBackends(nm, {}).libs[0].origin, '@node-llama-cpp/linux-x64-cuda')
  // built for another release: skipped with the rebuild command; the package takes over
  manifest({cuda: {lib: 'libggml-cuda.so', version: '3.20.0'}})
  const old = discoverBackends(nm, {}, built)
  assert.equal(old.libs[0].origin, '@node-llama-cpp/linux-x64-cuda')
  assert.match(old.skipped[0].reason, /cuda: built for 3\.20\.0, need .* \(npm run build:backend -- cuda --force\)/)
  manifest({cuda: {lib: 'libggml-gone.so', version: GPU_PACKAGE_VERSION}})
  assert.match(discoverBackends(nm, {}, built).skipped[0].reason, /libggml-gone\.so is missing/)
  writeFileSync(join(built, 'backends.json'), '{not json')
  assert.match(discoverBackends(nm, {}, built).skipped[0].reason, /not valid JSON/)
  assert.deepEqual(discoverBackends(nm, {}, join(tempDir(), 'none')).skipped, [])
})

test('build:backend: bad usage is one line and exit 2; a missing CUDA compiler is one line naming it and the prebuilt package, exit 1; nothing is built', () => {
  const script = join(process.cwd(), 'scripts', 'build-backend.mjs')
  const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawnSync(process.execPath, [script, ...args], {encoding: 'utf8', env})
  for (const [args, want] of [
    [[], /usage: npm run build:backend -- cuda/],
    [['metal'], /unknown backend "metal" \(this script builds: cuda\)/],
    [['cuda', '--arch', 'hopper'], /--arch hopper: give CUDA architectures as CMake takes them/],
    [['cuda', '--jobs', '0'], /--jobs must be a positive integer/],
    [['cuda', '--arch'], /--arch needs a value/],
    [['cuda', '--bogus'], /unknown flag --bogus/],
  ] as const) {
    const r = run([...args])
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(r.stderr, want)
  }
  // PATH with git and cmake but no nvcc (whatever this machine has installed)
  const bin = tempDir()
  for (const tool of ['git', 'cmake']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], {encoding: 'utf8'}).stdout.trim()
    if (found) symlinkSync(found, join(bin, tool))
  }
  const r = run(['cuda', '--arch', '90'], {...process.env, PATH: bin})
  assert.equal(r.status, 1, r.stderr)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /nvcc not found: install the CUDA toolkit .*npm install -E @node-llama-cpp\/linux-x64-cuda@/)
})

test('memory figures are read from llama.cpp log lines and summed per device', () => {
  const lines = [
    'load_tensors:   CPU_Mapped model buffer size =   120.50 MiB',
    'load_tensors:      Vulkan0 model buffer size =  1024.00 MiB',
    'llama_kv_cache:        CPU KV buffer size =     4.00 MiB',
    'llama_kv_cache:    Vulkan0 KV buffer size =    64.00 MiB',
    'sched_reserve:    Vulkan0 compute buffer size =    21.00 MiB',
    'sched_reserve: Vulkan_Host compute buffer size =     2.50 MiB',
    'llama_context: n_ctx = 4096',
  ]
  const b = parseBufferLines(lines)
  assert.equal(b.length, 6)
  assert.deepEqual(memoryByDevice(b), [
    {
      device: 'CPU',
      weightsBytes: 120.5 * 2 ** 20,
      kvBytes: 4 * 2 ** 20,
      computeBytes: 2.5 * 2 ** 20,
      totalBytes: 127 * 2 ** 20,
    },
    {
      device: 'Vulkan0',
      weightsBytes: 1024 * 2 ** 20,
      kvBytes: 64 * 2 ** 20,
      computeBytes: 21 * 2 ** 20,
      totalBytes: 1109 * 2 ** 20,
    },
  ])
  assert.equal(deviceOfBuffer('CUDA1_Split'), 'CUDA1')
  assert.equal(deviceOfBuffer('CPU_REPACK'), 'CPU')
  assert.equal(deviceOfBuffer('CUDA_Host'), 'CPU')
})

test('statistics follow llama-bench: sample sd, t/s per repetition, pp/tg names', () => {
  assert.equal(stdev([5]), 0)
  assert.ok(Math.abs(stdev([1, 2, 3, 4]) - 1.2909944) < 1e-6)
  assert.equal(median([3, 1, 2]), 2)
  assert.equal(median([4, 1, 3, 2]), 2.5)
  assert.equal(median([]), null)
  assert.ok(Math.abs(geomean([2, 8]) - 4) < 1e-12)
  assert.equal(geomean([]), 1)
  assert.equal(mean([2, 4]), 3)
  assert.deepEqual(tokensPerSecond([1e9, 2e9], 128), [128, 64])
  assert.deepEqual([testName(512, 0), testName(0, 128), testName(512, 128)], ['pp512', 'tg128', 'pp512+tg128'])
  assert.deepEqual(benchTests([512], [128]), [
    {nPrompt: 512, nGen: 0},
    {nPrompt: 0, nGen: 128},
  ])
  assert.throws(() => benchTests([0], [0]), /nothing to measure/)
  // -d: every test at every depth, pp tests first (llama-bench's order and names), depth 0 unmarked
  assert.deepEqual(benchTests([512], [128], [0, 4096]), [
    {nPrompt: 512, nGen: 0},
    {nPrompt: 512, nGen: 0, nDepth: 4096},
    {nPrompt: 0, nGen: 128},
    {nPrompt: 0, nGen: 128, nDepth: 4096},
  ])
  assert.deepEqual(
    [testName(512, 0, 4096), testName(0, 128, 4096), testName(0, 128, 0)],
    ['pp512 @ d4096', 'tg128 @ d4096', 'tg128'],
  )
  assert.equal(testContext({nPrompt: 0, nGen: 128, nDepth: 4096}), 4224)
  assert.equal(testContext({nPrompt: 512, nGen: 0}), 512)
  assert.throws(() => benchTests([512], [0], [-1]), /-d takes whole numbers ≥ 0, got -1/)
  assert.deepEqual(intList('-p', '64,128'), [64, 128])
  assert.throws(() => intList('-p', '6x'), /non-negative integers/)
})

test('a dead child is explained by its most telling line', () => {
  assert.equal(
    lastWords('loading\n/src/ggml.c:123: GGML_ASSERT(x) failed\nAborted\n'),
    '/src/ggml.c:123: GGML_ASSERT(x) failed',
  )
  assert.equal(lastWords('a\nb\n'), 'b')
  assert.equal(lastWords(''), null)
})

test('plan placement maps to llama.cpp parameters and GPU<i> to the engine device', () => {
  const cpu: LlamaDevice = {name: 'CPU', description: 'x', type: 'cpu', backend: 'CPU', freeBytes: 0, totalBytes: 0}
  const vk: LlamaDevice = {
    name: 'Vulkan0',
    description: 'Arc',
    type: 'gpu',
    backend: 'Vulkan',
    freeBytes: 0,
    totalBytes: 0,
  }
  assert.equal(engineDeviceOf('GPU0', [cpu, vk]), 'Vulkan0')
  assert.equal(engineDeviceOf('CPU', [cpu]), 'CPU')
  assert.throws(
    () => engineDeviceOf('GPU0', [cpu]),
    new RegExp(`places tensors on GPU0, but the engine sees no GPU .*linux-x64-vulkan@${GPU_PACKAGE_VERSION}`),
  )
  const plan = minimalPlan('/dev/null', 3, {
    placement: {
      nGpuLayers: 62,
      tensorOverrides: [
        {pattern: 'exps', device: 'CPU'},
        {pattern: 'blk\\.3\\.', device: 'GPU0'},
      ],
      nCpuMoe: null,
      tensorSplit: [],
      splitMode: 'layer',
      mainGpu: 0,
    },
    context: 8192,
    flashAttention: true,
    kvType: 'q8_0',
  }) as unknown as Plan
  assert.equal(gpusNeeded(plan), 1)
  const p = planParams(plan, '/m.gguf')
  assert.equal(p.model.nGpuLayers, 62)
  assert.deepEqual(p.context, {
    nCtx: 8192,
    nBatch: 512,
    nUbatch: 256,
    typeK: 'q8_0',
    typeV: 'q8_0',
    flashAttn: 'on',
    opOffload: true,
    threads: 1,
  })
  assert.deepEqual(
    planParams({...plan, placement: {...plan.placement, opOffload: false}}, '/m.gguf').context.opOffload,
    false,
  )
  assert.deepEqual(resolveModelDevices(p.model, [cpu, vk], 1).tensorOverrides, [
    {pattern: 'exps', device: 'CPU'},
    {pattern: 'blk\\.3\\.', device: 'Vulkan0'},
  ])
  assert.throws(() => resolveModelDevices(p.model, [cpu], 1), /E_PLAN_DEVICE|no GPU/)
  // a plan's --no-mmap is executed; plans before the field map the file, as llama.cpp does
  assert.equal(p.model.mmap, true)
  const noMmap = {...plan, placement: {...plan.placement, mmap: false}} as Plan
  assert.equal(planParams(noMmap, '/m.gguf').model.mmap, false)
})

test('unknown GPU: bench --plan and check-plan show a plan GPU the engine lacks with nothing measured', () => {
  const cpu: LlamaDevice = {name: 'CPU', description: 'x', type: 'cpu', backend: 'CPU', freeBytes: 0, totalBytes: 0}
  const vk: LlamaDevice = {...cpu, name: 'Vulkan0', type: 'gpu', backend: 'Vulkan'}
  const base = minimalPlan('/dev/null', 3) as unknown as Plan
  const gpu = (id: string, weightsBytes: number) => ({...base.devices[0], id, kind: 'gpu' as const, weightsBytes})
  const plan = {
    ...base,
    devices: [base.devices[0], gpu('GPU0', 4096), gpu('GPU1', 20_000_000), gpu('host:50052/GPU0', 1)],
  }
  const mem = (device: string, weightsBytes: number) => ({
    device,
    weightsBytes,
    kvBytes: 0,
    computeBytes: 0,
    totalBytes: weightsBytes,
  })
  const measured = [mem('CPU', 100), mem('Vulkan0', 4096), mem('Vulkan7', 5)]
  // the engine has one GPU: GPU1 keeps its plan id and has no measurement; the RPC device is left out
  const {rows, unplanned} = planVsMeasured(plan, [cpu, vk], measured)
  assert.deepEqual(
    rows.map((r) => [r.id, r.engineDevice, r.measured?.weightsBytes ?? null]),
    [
      ['CPU', 'CPU', 100],
      ['GPU0', 'Vulkan0', 4096],
      ['GPU1', 'GPU1', null],
    ],
  )
  assert.deepEqual(
    unplanned.map((m) => m.device),
    ['Vulkan7'],
  )
  // bench --plan: the same rows, GPU1 "nothing allocated"
  const c = comparePlan(plan, 'p.json', false, [cpu, vk], measured, {decode: null, prefill: null})
  assert.deepEqual(
    c.devices.map((d) => [d.id, d.engineDevice, d.measured?.totalBytes ?? null]),
    [
      ['CPU', 'CPU', 100],
      ['GPU0', 'Vulkan0', 4096],
      ['GPU1', 'GPU1', null],
    ],
  )
  // check-plan: the same rule, no throw; GPU1 planned 20 MB against nothing allocated
  const buffers = measured.map((m) => ({
    buffer: m.device,
    kind: 'weights' as const,
    device: m.device,
    bytes: m.weightsBytes,
  }))
  const r = comparePlanMemory({plan, planPath: 'p.json'}, '/dev/null', [cpu, vk], buffers)
  const g1 = r.devices.find((d) => d.id === 'GPU1')!
  assert.equal(g1.engineDevice, 'GPU1')
  assert.deepEqual(g1.allocated, {weightsBytes: 0, kvBytes: 0, computeBytes: 0})
  assert.equal(g1.errorPct.weights, 100)
  assert.deepEqual(
    r.devices.map((d) => d.id),
    ['CPU', 'GPU0', 'GPU1', 'Vulkan7'],
  )
})

test('placement flags parse like llama.cpp -ot / -ts', () => {
  const base = {
    'n-gpu-layers': 0,
    'n-cpu-moe': 0,
    'split-mode': 'layer',
    'main-gpu': 0,
    'no-mmap': false,
    mlock: false,
    numa: 'disabled',
  }
  const p = placementFromFlags({...base, 'override-tensor': ['ffn_.*_exps=CPU,attn=Vulkan0'], 'tensor-split': '3,1'})
  assert.deepEqual(p.tensorOverrides, [
    {pattern: 'ffn_.*_exps', device: 'CPU'},
    {pattern: 'attn', device: 'Vulkan0'},
  ])
  assert.deepEqual(p.tensorSplit, [3, 1])
  assert.throws(() => placementFromFlags({...base, 'override-tensor': ['nodevice']}), /PATTERN=DEVICE/)
  // -dev/--device as llama.cpp's parse_device_list: "none" = no offload device, else names
  assert.equal(p.devices, undefined, "no --device: every GPU, llama.cpp's default")
  assert.deepEqual(placementFromFlags({...base, device: 'none'}).devices, [])
  assert.deepEqual(placementFromFlags({...base, device: 'CUDA0, Vulkan1'}).devices, ['CUDA0', 'Vulkan1'])
  assert.throws(() => placementFromFlags({...base, device: 'CUDA0,'}), /--device CUDA0,: expected device names/)
  assert.throws(() => placementFromFlags({...base, device: '../x'}), /expected device names/)
  assert.deepEqual(llamaShortFlags(['-dev', 'none']), ['--device', 'none'])
  // calibrate's CPU samples run with no offload device (op offload would time a GPU), keeping their other fields
  assert.deepEqual(cpuOnly({mmap: false}), {mmap: false, devices: []})
})

test('the bench table has llama-bench columns', () => {
  const t = benchTable({
    model: {desc: 'deepseek2 ?B Q8_0', sizeBytes: 64 * 2 ** 20, nParams: 63.88e6},
    provenance: {backend: 'CPU'},
    results: [{test: 'pp512', threads: 2, tps: {mean: 39.256, sd: 0.331}}],
  } as never)
  const lines = t.split('\n')
  assert.match(lines[0], /^\| model +\| +size \| +params \| backend \| threads \| +test \| +t\/s \|$/)
  assert.match(lines[2], /\| deepseek2 \?B Q8_0 \| 64\.00 MiB \| 63\.88 M \| CPU +\| +2 \| pp512 \| 39\.26 ± 0\.33 \|/)
  // settings away from llama-bench's defaults get its columns (print_non_default): -ub 4096, -nopo 1
  const config = {nBatch: 4096, nUbatch: 4096, typeK: 'f16', typeV: 'f16', opOffload: false}
  const w = benchTable({
    model: {desc: 'm', sizeBytes: 1, nParams: 1},
    config,
    provenance: {backend: 'CUDA'},
    results: [{test: 'pp4096', threads: 16, tps: {mean: 1, sd: 0}}],
  } as never).split('\n')
  assert.match(w[0], /\| threads \| n_batch \| n_ubatch \| nopo \| +test \|/)
  assert.match(w[2], /\| +16 \| +4096 \| +4096 \| +1 \| pp4096 \|/)
  const dflt = {...config, nBatch: 2048, nUbatch: 512, opOffload: true}
  assert.doesNotMatch(
    benchTable({
      model: {desc: 'm', sizeBytes: 1, nParams: 1},
      config: dflt,
      provenance: {backend: 'CPU'},
      results: [],
    } as never),
    /n_batch|nopo/,
  )
})

test('under mmap the CPU weights are the resident need: the file bytes less the tensors held elsewhere, never more than the span', () => {
  const mib = 1024 * 1024
  const log = [
    'load_tensors:          AMX model buffer size =     8.50 MiB',
    'load_tensors:   CPU_Mapped model buffer size =    12.00 MiB',
    'load_tensors:    CPU_Plain model buffer size =     0.50 MiB',
    'load_tensors:   CPU_REPACK model buffer size =     4.00 MiB',
  ]
  const b = parseBufferLines(log)
  // the log named tensors of 8 MiB (packed 8.25 MiB) in AMX and of 4 MiB in CPU_REPACK; 0.25 MiB of
  // AMX are F16 copies, the same size as in the file; the file holds 19 MiB of tensors
  const m = {tensorBytes: 19 * mib, amxOriginalBytes: 8 * mib, amxPackedBytes: 8.25 * mib, repackOriginalBytes: 4 * mib}
  const r = residentBuffers(b, m)
  // stays mapped: 19 - 0.5 (CPU_Plain) - 8.25 (AMX originals) - 4 (CPU_REPACK originals)
  assert.equal(r.find((x) => x.buffer === 'CPU_Mapped')!.bytes, 6.25 * mib)
  // resident: what stays mapped + every allocated buffer (AMX's packing overhead included)
  assert.equal(memoryByDevice(r)[0].weightsBytes, 19.25 * mib)
  // as logged, the span counts the repacked tensors twice
  assert.equal(memoryByDevice(b)[0].weightsBytes, 25 * mib)
  const none = {tensorBytes: 40 * mib, amxOriginalBytes: 0, amxPackedBytes: 0, repackOriginalBytes: 0}
  // a file whose tensors all stay mapped: the span, not more
  assert.equal(residentBuffers(parseBufferLines([log[1]]), none)[0].bytes, 12 * mib)
  // GPU weights are elsewhere too
  const gpu = parseBufferLines([
    'load_tensors:   CPU_Mapped model buffer size =   100.00 MiB',
    'load_tensors:   Vulkan0 model buffer size =    60.00 MiB',
  ])
  assert.equal(memoryByDevice(residentBuffers(gpu, {...none, tensorBytes: 100 * mib}))[0].weightsBytes, 40 * mib)
  // nothing mapped (--no-mmap): unchanged
  const plain = parseBufferLines(['load_tensors:          CPU model buffer size =    19.00 MiB'])
  assert.deepEqual(residentBuffers(plain, none), plain)
})

test("bench --plan comparison: signed error against the measurement, inside or outside the plan's range", async () => {
  const {phaseComparison} = await import('../../src/runner/planrun.js')
  assert.deepEqual(phaseComparison(12, {low: 8, high: 16}, 10), {
    predicted: 12,
    low: 8,
    high: 16,
    measured: 10,
    errorPct: 20,
    inRange: true,
  })
  assert.deepEqual(phaseComparison(12, {low: 11, high: 16}, 10), {
    predicted: 12,
    low: 11,
    high: 16,
    measured: 10,
    errorPct: 20,
    inRange: false,
  })
  assert.equal(phaseComparison(9, undefined, 10).errorPct, -10)
  assert.deepEqual(phaseComparison(9, undefined, null), {
    predicted: 9,
    low: 9,
    high: 9,
    measured: null,
    errorPct: null,
    inRange: null,
  })
})

test('bench --plan with -d: decode compared at the tg test nearest the depth the plan predicts at, prefill at the shallowest pp; a far test is named with the -d that measures there', () => {
  const row = (nPrompt: number, nGen: number, nDepth: number, ns: number) =>
    benchRow(
      {nPrompt, nGen, ...(nDepth ? {nDepth} : {}), samplesNs: [ns], nCtx: nDepth + nPrompt + nGen, stopped: false},
      1,
    )
  const rows = [
    row(512, 0, 0, 1e9),
    row(512, 0, 2048, 2e9),
    row(0, 128, 0, 1e9),
    row(0, 128, 1984, 4e9),
    row(0, 128, 8192, 8e9),
  ]
  assert.equal(rows[3].test, 'tg128 @ d1984')
  assert.equal(rows[3].nDepth, 1984)
  assert.equal(rows[2].nDepth, 0)
  // a plan at context 4096 predicts decode at depth 2048: tg128 @ d1984 averages 2048
  assert.deepEqual(planRows(rows, 4096), {decode: 32, prefill: 512, decodeTest: 'tg128 @ d1984', prefillTest: 'pp512'})
  // at context 256 (mid depth 128) the depth-0 test is nearest
  assert.equal(planRows(rows, 256).decodeTest, 'tg128')
  assert.deepEqual(planRows([], 4096), {decode: null, prefill: null, decodeTest: null, prefillTest: null})
  assert.equal(depthHint(4096, 'tg128 @ d1984'), null)
  assert.equal(depthHint(4096, 'tg128 @ d1800'), null, 'within a tenth of the context')
  assert.equal(
    depthHint(4096, 'tg128'),
    "note: the plan's decode is predicted at depth 2048 (half its context of 4096); tg128 averages depth 64: -d 1984 measures at the plan's depth",
  )
  assert.equal(depthHint(4096, undefined), null)
})

test('mappedModel counts every tensor the load log names as repacked, progress dots before the name or not', () => {
  const t = (name: string, bytes: number) => ({name, bytes, shape: [bytes], typeName: 'Q4_K'})
  const mf = {gguf: {tensorBytes: 1000, tensors: [t('a', 100), t('b', 200), t('c', 300)]}} as unknown as ModelFile
  const m = mappedModel(mf, [
    '........repack: repack tensor a with q4_K_8x8',
    'repack: repack tensor b with q4_K_8x8',
    'load_tensors: tensor c is not repacked',
  ])
  assert.equal(m.repackOriginalBytes, 300)
  assert.equal(m.amxOriginalBytes, 0)
})

test('token steps: the fastest and the median in ms; calibrate decodes at the fastest step, the best repetition without steps', () => {
  assert.deepEqual(tokenStats([3e6, 1e6, 2e6, 10e6]), {n: 4, fastest: 1, median: 2.5})
  const row = (
    nPrompt: number,
    nGen: number,
    samples: number[],
    tokenMs?: {n: number; fastest: number; median: number},
  ) => ({
    test: '',
    nPrompt,
    nGen,
    threads: 1,
    nCtx: 0,
    reps: samples.length,
    tps: {mean: 0, sd: 0},
    samples,
    samplesNs: [],
    ...(tokenMs ? {tokenMs} : {}),
  })
  const r = {
    results: [row(64, 0, [100, 120]), row(0, 8, [9, 11], {n: 16, fastest: 50, median: 90})],
  } as unknown as BenchResult
  assert.deepEqual(benchTps(r), {decode: 20, prefill: 120})
  assert.deepEqual(benchTps(r, 'best'), {decode: 11, prefill: 120})
  assert.deepEqual(benchTps(r, 'median'), {decode: 10, prefill: 110})
  const old = {results: [row(0, 8, [9, 11])]} as unknown as BenchResult
  assert.deepEqual(benchTps(old), {decode: 11, prefill: null})
})

test('rounds: decode from the fastest token step of any round, the best round median and the best repetition; prefill from the best repetition', () => {
  const tg = {
    nPrompt: 0,
    nGen: 4,
    rounds: [
      // round 1: a burst slowed every step; round 2: quiet but one slow step
      {samplesNs: [40e6, 44e6], tokenNs: [10e6, 10e6, 10e6, 10e6, 11e6, 11e6, 11e6, 11e6]},
      {samplesNs: [30e6, 24e6], tokenNs: [5e6, 6e6, 6e6, 7e6, 6e6, 6e6, 6e6, 20e6]},
    ],
  }
  const s = roundsTps(tg)
  assert.equal(s.decode, 200) // 1 ÷ 5 ms
  assert.equal(s.decodeMedian, 1e9 / 6e6) // round 2's median step
  assert.equal(s.decodeRep, (1e9 * 4) / 24e6)
  assert.equal(s.prefill, null)
  assert.equal(s.rounds, 2)
  const pp = roundsTps({
    nPrompt: 64,
    nGen: 0,
    rounds: [
      {samplesNs: [64e6], tokenNs: []},
      {samplesNs: [32e6], tokenNs: []},
    ],
  })
  assert.equal(pp.prefill, 2000)
  assert.equal(pp.decode, null)
  // no round ran: nothing measured, never Infinity
  assert.deepEqual(roundsTps({nPrompt: 0, nGen: 4, rounds: []}), {
    decode: null,
    decodeMedian: null,
    decodeRep: null,
    prefill: null,
    rounds: 0,
  })
})

test('roundPasses: decode repetitions one per pass spaced over the round, prompt tests whole in the first pass; unspread, every test whole in one pass', () => {
  const tg = (reps: number) => ({reps, test: {nPrompt: 0, nGen: 16}})
  const pp = (reps: number) => ({reps, test: {nPrompt: 512, nGen: 0}})
  const configs = [tg(5), tg(2), pp(2), tg(1), pp(3)]
  const passes = roundPasses(configs, true)
  // 5 passes (the most decode repetitions); tg(2) in passes 0 and 2, tg(1) in pass 0
  assert.deepEqual(passes, [
    [
      {config: 0, reps: 1},
      {config: 1, reps: 1},
      {config: 2, reps: 2},
      {config: 3, reps: 1},
      {config: 4, reps: 3},
    ],
    [{config: 0, reps: 1}],
    [
      {config: 0, reps: 1},
      {config: 1, reps: 1},
    ],
    [{config: 0, reps: 1}],
    [{config: 0, reps: 1}],
  ])
  // every config's repetitions, in total, once per round
  for (const [i, c] of configs.entries())
    assert.equal(
      passes
        .flat()
        .filter((x) => x.config === i)
        .reduce((n, x) => n + x.reps, 0),
      c.reps,
    )
  assert.deepEqual(roundPasses(configs, false), [configs.map((c, i) => ({config: i, reps: c.reps}))])
  // a test with both prompt and generation, or a tg test at depth (one fill per bench call), stays whole
  assert.deepEqual(roundPasses([{reps: 3, test: {nPrompt: 8, nGen: 8}}], true), [[{config: 0, reps: 3}]])
  assert.deepEqual(roundPasses([tg(2), {reps: 2, test: {nPrompt: 0, nGen: 16, nDepth: 256}}], true), [
    [
      {config: 0, reps: 1},
      {config: 1, reps: 2},
    ],
    [{config: 0, reps: 1}],
  ])
})
