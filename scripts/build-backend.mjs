#!/usr/bin/env node
// Builds a GPU backend library of the pinned llama.cpp release from node-llama-cpp's source bundle
// into build/backends/ (opt-in; never part of `npm install` or the tests): today `cuda`.
//
//   npm run build:backend -- cuda [--arch 90] [--jobs N] [--force] [--quiet] [--source DIR]
//
// --source DIR: a folder holding the release's ggml/ already extracted (bench/device/pack.sh packs
// one for a machine without the bundle); otherwise it is extracted from the bundle with git.
//
// Why: @node-llama-cpp/linux-x64-cuda@3.21.1 links the CUDA 13 runtime (libcudart.so.13,
// libcublas.so.13) and carries machine code for sm_86/89/120/121 only (Hopper and Ampere
// datacenter parts get PTX, compiled by the driver at first load); a machine with another CUDA
// toolkit, or one that wants its own GPU's machine code, builds the backend here instead. It needs
// git, cmake ≥ 3.18, a C++17 compiler and the CUDA toolkit (nvcc, cuBLAS); 190 s on 16 cores for one
// architecture (an H200 machine, docs/device/h200-2026-12-04/), far longer on a few.
//
// The build is ggml's own CMake project with the flags llama.cpp's releases use for a backend that
// loads at run time (GGML_BACKEND_DL) and llama.cpp's own CUDA default (GGML_CUDA_GRAPHS=ON: ggml's
// project alone defaults it off, and decode without graphs pays a launch per node); only the
// backend target is built. CMAKE_PLATFORM_NO_VERSIONED_SONAME keeps the library's dependency on
// plain `libggml-base.so`, the name the prebuilt CPU package's base library carries, so the engine's
// copy of ggml-base is the one it binds to. src/engine/backends.ts finds the result
// (build/backends/libggml-<name>.so, with backends.json naming the release) before any package.
import {spawnSync} from 'node:child_process'
import {cpus} from 'node:os'
import {copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {extractBundle} from './llama-bundle.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, 'build', 'backends')
const BACKENDS = {
  cuda: {
    lib: 'libggml-cuda.so',
    target: 'ggml-cuda',
    dir: 'ggml-cuda',
    tool: 'nvcc',
    missing: 'install the CUDA toolkit (nvcc and cuBLAS) or use the prebuilt package',
    flags: (o) => ['-DGGML_CUDA=ON', '-DGGML_CUDA_GRAPHS=ON', `-DCMAKE_CUDA_ARCHITECTURES=${o.arch ?? 'native'}`],
  },
}
const USAGE = 'usage: npm run build:backend -- cuda [--arch 90] [--jobs N] [--force] [--quiet] [--source DIR]'

function fail(msg, code = 1) {
  process.stderr.write(`moerig build-backend: error: ${msg}\n`)
  process.exit(code)
}

/** argv → {backend, arch, jobs, force, quiet}; exits 2 on bad usage. */
function parseArgs(argv) {
  const o = {backend: null, arch: null, jobs: cpus().length, force: false, quiet: false, source: null}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) fail(`${a} needs a value; ${USAGE}`, 2)
      return v
    }
    if (a === '--arch') {
      o.arch = value()
      if (!/^(native|all|all-major|\d+[af]?(-real|-virtual)?(;\d+[af]?(-real|-virtual)?)*)$/.test(o.arch))
        fail(`--arch ${o.arch}: give CUDA architectures as CMake takes them (90, 86;89, 90-real, native)`, 2)
    } else if (a === '--jobs') {
      o.jobs = Number(value())
      if (!Number.isInteger(o.jobs) || o.jobs < 1) fail(`--jobs must be a positive integer`, 2)
    } else if (a === '--source') {
      o.source = resolve(value())
      if (!existsSync(join(o.source, 'ggml', 'CMakeLists.txt')))
        fail(`--source ${o.source}: no ggml/CMakeLists.txt there`, 2)
    } else if (a === '--force') o.force = true
    else if (a === '--quiet') o.quiet = true
    else if (a.startsWith('-')) fail(`unknown flag ${a}; ${USAGE}`, 2)
    else if (o.backend) fail(`one backend at a time; ${USAGE}`, 2)
    else o.backend = a.toLowerCase()
  }
  if (!o.backend) fail(USAGE, 2)
  if (!BACKENDS[o.backend])
    fail(`unknown backend "${o.backend}" (this script builds: ${Object.keys(BACKENDS).join(', ')})`, 2)
  return o
}

const opts = parseArgs(process.argv.slice(2))
const be = BACKENDS[opts.backend]
const log = (m) => {
  if (!opts.quiet) process.stderr.write(`moerig build-backend: ${m}\n`)
}
const has = (cmd) => spawnSync(cmd, ['--version'], {stdio: 'ignore'}).status === 0

const pkgJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const version = pkgJson.dependencies?.['@node-llama-cpp/linux-x64']
const nlc = join(root, 'node_modules', 'node-llama-cpp')
const bundle = join(nlc, 'llama', 'gitRelease.bundle')
const info = join(nlc, 'llama', 'llama.cpp.info.json')
if (!existsSync(info) || (!opts.source && !existsSync(bundle)))
  fail(`${opts.source ? info : bundle} is missing; run npm install`)
const release = JSON.parse(readFileSync(info, 'utf8')).tag
for (const tool of [...(opts.source ? [] : ['git']), 'cmake', be.tool])
  if (!has(tool))
    fail(
      `${tool} not found: ${tool === be.tool ? be.missing : `install ${tool}`} (npm install -E @node-llama-cpp/linux-x64-${opts.backend}@${version})`,
    )

const manifestPath = join(outDir, 'backends.json')
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : {backends: {}}
const want = {
  release,
  version,
  arch: opts.arch ?? 'native',
  script: readFileSync(fileURLToPath(import.meta.url), 'utf8').length,
}
const have = manifest.backends?.[opts.backend]
if (!opts.force && have && existsSync(join(outDir, be.lib)) && JSON.stringify(have.stamp) === JSON.stringify(want)) {
  log(`build/backends/${be.lib} is up to date (llama.cpp ${release}, arch ${want.arch}); --force rebuilds`)
  process.exit(0)
}

// ggml's CMake project: its top level, headers, core sources, the CPU sources the core includes, and
// this backend's folder (the other backends' folders are left out)
const work = join(outDir, 'work')
const src = opts.source ?? join(work, 'src')
const bld = join(work, `build-${opts.backend}`)
// a fresh build folder: the build only runs when out of date, and a cache from another source would refuse it
rmSync(bld, {recursive: true, force: true})
mkdirSync(work, {recursive: true})
if (!opts.source) extract()
function extract() {
  log(`extracting ggml of llama.cpp ${release} from ${bundle}`)
  const paths = [
    'ggml/CMakeLists.txt',
    'ggml/cmake',
    'ggml/include',
    ':(glob)ggml/src/*',
    'ggml/src/ggml-cpu',
    `ggml/src/${be.dir}`,
  ]
  try {
    extractBundle(bundle, src, paths)
  } catch (e) {
    fail(e.message)
  }
}
// the standalone project configures a pkg-config file the bundle's ggml/ does not carry
const pc = join(src, 'ggml', 'ggml.pc.in')
if (!existsSync(pc)) writeFileSync(pc, '')

const run = (what, args) => {
  const t0 = Date.now()
  const r = spawnSync('cmake', args, {
    stdio: opts.quiet ? ['ignore', 'ignore', 'pipe'] : ['ignore', 'inherit', 'inherit'],
  })
  if (r.status !== 0) {
    const tail = r.stderr ? String(r.stderr).trim().split('\n').slice(-1)[0] : `exit ${r.status}`
    fail(`${what} failed (${tail}); the log is above, the build folder ${bld}`)
  }
  return (Date.now() - t0) / 1000
}
const generator = has('ninja') ? ['-G', 'Ninja'] : []
const cfgFlags = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=ON',
  '-DGGML_BACKEND_DL=ON',
  '-DGGML_CPU=OFF',
  '-DGGML_NATIVE=OFF',
  '-DGGML_BUILD_TESTS=OFF',
  '-DGGML_BUILD_EXAMPLES=OFF',
  '-DGGML_CCACHE=OFF',
  '-DCMAKE_PLATFORM_NO_VERSIONED_SONAME=ON',
  ...be.flags(opts),
]
log(`configuring (${cfgFlags.join(' ')})`)
const tCfg = run('cmake configure', ['-S', join(src, 'ggml'), '-B', bld, ...generator, ...cfgFlags])
log(`building ${be.target} on ${opts.jobs} jobs (minutes: one architecture took 190 s on 16 cores)`)
const tBuild = run('cmake build', ['--build', bld, '--target', be.target, '-j', String(opts.jobs)])

const built = [join(bld, 'bin', be.lib), join(bld, 'src', be.dir, be.lib)].find((p) => existsSync(p))
if (!built) fail(`the build finished without ${be.lib} under ${bld}`)
const tmp = join(outDir, `${be.lib}.tmp`)
copyFileSync(built, tmp)
renameSync(tmp, join(outDir, be.lib))
manifest.backends = {
  ...manifest.backends,
  [opts.backend]: {
    lib: be.lib,
    release,
    version,
    flags: cfgFlags,
    seconds: {configure: tCfg, build: tBuild},
    stamp: want,
  },
}
writeFileSync(`${manifestPath}.tmp`, JSON.stringify(manifest, null, 2) + '\n')
renameSync(`${manifestPath}.tmp`, manifestPath)
if (!opts.source) rmSync(src, {recursive: true, force: true})
log(`built build/backends/${be.lib} (${tBuild.toFixed(0)} s); moerig engine lists it`)
