#!/usr/bin/env node
// Builds the native addon (native/) with cmake-js in Node-API mode.
//
// Default path (seconds): our own C++ only, compiled against the headers of the llama.cpp release
// bundled in node-llama-cpp@3.21.1 (llama/gitRelease.bundle, extracted with git) and linked to the
// prebuilt libraries of @node-llama-cpp/linux-x64@3.21.1. Both versions are pinned in package.json.
//
// MOERIG_LLAMA_CPP_DIR=/path/to/llama.cpp builds against another checkout instead (SYCL builds,
// ipex-llm's fork, newer releases); its libraries are taken from MOERIG_LLAMA_LIB_DIR or
// <dir>/build/bin. Building llama.cpp itself is the user's job on that path (over an hour here).
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {extractBundle} from './llama-bundle.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const buildDir = join(root, 'build')
// Paths of the llama.cpp source we need: headers for the addon (ggml-backend-impl.h for the plain
// host buffer type of the engine's AMX guard, native/src/engine/engine.cpp); common/vendor/llama-bench for
// bench/runner-parity; the vocab-only GGUFs for synthetic models with a real BPE vocabulary.
const SOURCE_PATHS = [
  'include',
  'ggml/include',
  'ggml/src/ggml-backend-impl.h',
  'common',
  'vendor',
  'tools/llama-bench',
  'models',
]
const quiet = process.argv.includes('--quiet')
const log = (m) => {
  if (!quiet) process.stderr.write(`moerig build: ${m}\n`)
}

function fail(msg) {
  process.stderr.write(`moerig build: error: ${msg}\n`)
  process.exit(1)
}

function pkgDir(name) {
  const p = join(root, 'node_modules', name)
  if (!existsSync(join(p, 'package.json'))) fail(`package ${name} is not installed; run npm install`)
  return p
}

/** Extract the pinned llama.cpp source from node-llama-cpp's git bundle (cached by commit). */
function bundledSource() {
  const nlc = pkgDir('node-llama-cpp')
  const bundle = join(nlc, 'llama', 'gitRelease.bundle')
  const info = JSON.parse(readFileSync(join(nlc, 'llama', 'llama.cpp.info.json'), 'utf8'))
  const dest = join(buildDir, 'llama-src')
  const stamp = join(dest, '.moerig-release')
  const want = `${info.tag} ${readFileSync(bundle).length} ${SOURCE_PATHS.join(',')}`
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return {dir: dest, release: info.tag}
  log(`extracting llama.cpp ${info.tag} headers from ${bundle}`)
  mkdirSync(buildDir, {recursive: true})
  try {
    extractBundle(bundle, dest, SOURCE_PATHS)
  } catch (e) {
    fail(e.message)
  }
  writeFileSync(stamp, want)
  return {dir: dest, release: info.tag}
}

function engineConfig() {
  const custom = process.env.MOERIG_LLAMA_CPP_DIR
  if (custom) {
    const dir = resolve(custom)
    if (!existsSync(join(dir, 'include', 'llama.h'))) fail(`MOERIG_LLAMA_CPP_DIR=${dir} has no include/llama.h`)
    const libDir = resolve(process.env.MOERIG_LLAMA_LIB_DIR || join(dir, 'build', 'bin'))
    const libs = ['libllama.so', 'libggml.so', 'libggml-base.so']
    for (const l of libs)
      if (!existsSync(join(libDir, l)))
        fail(`${join(libDir, l)} not found; build llama.cpp with -DBUILD_SHARED_LIBS=ON or set MOERIG_LLAMA_LIB_DIR`)
    return {source: dir, libDir, libs, release: 'custom', origin: `MOERIG_LLAMA_CPP_DIR=${dir}`}
  }
  const src = bundledSource()
  const libDir = join(pkgDir('@node-llama-cpp/linux-x64'), 'bins', 'linux-x64')
  const libs = readdirSync(libDir).filter((f) => /^lib(llama|ggml)\.v[\d.]+\.so$/.test(f) || f === 'libggml-base.so')
  if (libs.length !== 3) fail(`unexpected prebuilt libraries in ${libDir}: ${libs.join(', ')}`)
  return {
    source: src.dir,
    libDir,
    libs,
    release: src.release,
    origin: 'node-llama-cpp@3.21.1 bundle + @node-llama-cpp/linux-x64@3.21.1',
  }
}

const cfg = engineConfig()
const incs = [join(cfg.source, 'include'), join(cfg.source, 'ggml', 'include'), join(cfg.source, 'ggml', 'src')].join(
  ';',
)
const cmakeJs = join(pkgDir('cmake-js'), 'bin', 'cmake-js')
log(`compiling native addon against llama.cpp ${cfg.release} (${cfg.origin})`)
try {
  execFileSync(
    process.execPath,
    [
      cmakeJs,
      'compile',
      '-d',
      join(root, 'native'),
      '-O',
      join(buildDir, 'native'),
      `--CDLLAMA_INCLUDE_DIRS=${incs}`,
      `--CDLLAMA_LIB_DIR=${cfg.libDir}`,
      `--CDLLAMA_LIBS=${cfg.libs.join(';')}`,
      ...(quiet ? ['-l', 'error'] : []),
    ],
    {stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', cwd: join(root, 'native')},
  )
} catch {
  fail('cmake-js compile failed (see the compiler output above); needs cmake and a C++17 compiler')
}
writeFileSync(
  join(buildDir, 'native', 'engine.json'),
  JSON.stringify(
    {
      release: cfg.release,
      libDir: cfg.libDir,
      libs: cfg.libs,
      source: cfg.source,
      origin: cfg.origin,
    },
    null,
    2,
  ) + '\n',
)
log(`built ${join('build', 'native', 'Release', 'moerig.node')}`)
