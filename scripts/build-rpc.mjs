#!/usr/bin/env node
// Builds llama.cpp's RPC pieces into build/rpc/ (issue 15): libggml-rpc.so (the client backend the
// engine loads to use remote devices) and rpc-server (what `moerig rpc-server` runs on each host).
//
// The prebuilt @node-llama-cpp/linux-x64 packages ship no RPC backend, but node-llama-cpp's
// llama/gitRelease.bundle holds the release's source: both pieces compile against the prebuilt
// libggml-base.so / libggml.v*.so in a few seconds each with g++ (no cmake, no network). See
// README.md, "Two or more machines: llama.cpp RPC", and tools/rpc/ in the bundled source.
//
// build/rpc/ also gets links to the release's libggml-cpu-*.so: rpc-server calls
// ggml_backend_load_all(), which looks for backends beside its executable.
//
// Skipped (seconds → milliseconds) when build/rpc/rpc.json matches the release, the bundle and this
// script. MOERIG_LLAMA_CPP_DIR builds (scripts/build-native.mjs) are not handled: build llama.cpp
// there with -DGGML_RPC=ON and point MOERIG_RPC_DIR at its bin folder instead.
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, renameSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {extractBundle, firstLine} from './llama-bundle.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const outDir = join(root, 'build', 'rpc')
const srcDir = join(outDir, 'src')
// The source we compile: the RPC backend, ggml's internal headers it includes, and the server tool.
const SOURCE_PATHS = ['ggml/include', ':(glob)ggml/src/*.h', 'ggml/src/ggml-rpc', 'tools/rpc']
const quiet = process.argv.includes('--quiet')
const force = process.argv.includes('--force')
const log = (m) => {
  if (!quiet) process.stderr.write(`moerig build-rpc: ${m}\n`)
}

function fail(msg) {
  process.stderr.write(`moerig build-rpc: error: ${msg}\n`)
  process.exit(1)
}

function pkgDir(name) {
  const p = join(root, 'node_modules', name)
  if (!existsSync(join(p, 'package.json'))) fail(`package ${name} is not installed; run npm install`)
  return p
}

const nlc = pkgDir('node-llama-cpp')
const bundle = join(nlc, 'llama', 'gitRelease.bundle')
const release = JSON.parse(readFileSync(join(nlc, 'llama', 'llama.cpp.info.json'), 'utf8')).tag
const libDir = join(pkgDir('@node-llama-cpp/linux-x64'), 'bins', 'linux-x64')
const libs = readdirSync(libDir)
const ggmlLib = libs.find((f) => /^libggml\.v[\d.]+\.so$/.test(f))
if (!ggmlLib || !libs.includes('libggml-base.so')) fail(`no libggml-base.so / libggml.v*.so in ${libDir}`)
const cpuVariants = libs.filter((f) => /^libggml-cpu-.+\.so$/.test(f))

const scriptHash = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .update(readFileSync(join(root, 'scripts', 'rpc-server-shim.cpp')))
  .digest('hex')
  .slice(0, 16)
const stamp = {release, bundleBytes: readFileSync(bundle).length, libDir, script: scriptHash}
const manifestPath = join(outDir, 'rpc.json')
const lib = join(outDir, 'libggml-rpc.so')
const server = join(outDir, 'rpc-server')

function upToDate() {
  if (force || !existsSync(manifestPath) || !existsSync(lib) || !existsSync(server)) return false
  try {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'))
    return JSON.stringify(m.stamp) === JSON.stringify(stamp)
  } catch {
    return false
  }
}

/** The RPC sources of the pinned release, from node-llama-cpp's git bundle. */
function extract() {
  log(`extracting the RPC sources of llama.cpp ${release} from ${bundle}`)
  mkdirSync(outDir, {recursive: true})
  try {
    extractBundle(bundle, srcDir, SOURCE_PATHS)
  } catch (e) {
    fail(e.message)
  }
}

/** g++ into a temp name, renamed when done: a failed build never leaves a half-written binary. */
function compile(what, out, args) {
  const cxx = process.env.CXX || 'g++'
  const tmp = `${out}.tmp`
  const t0 = Date.now()
  try {
    execFileSync(cxx, [...args, '-o', tmp], {stdio: ['ignore', 'ignore', 'pipe']})
  } catch (e) {
    rmSync(tmp, {force: true})
    const why = e.code === 'ENOENT' ? `${cxx} not found; install a C++17 compiler` : firstLine(e)
    fail(`compiling ${what} failed: ${why}`)
  }
  renameSync(tmp, out)
  log(`built ${join('build', 'rpc', what)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
}

if (upToDate()) {
  log(`build/rpc is up to date (llama.cpp ${release})`)
  process.exit(0)
}
extract()
const inc = (p) => `-I${join(srcDir, p)}`
const rpcSrc = join(srcDir, 'ggml', 'src', 'ggml-rpc')
// Flags as ggml's own ggml_add_backend_library sets them for a dynamically loaded backend
// (GGML_BACKEND_DL: exports ggml_backend_init; GGML_BACKEND_BUILD: exports the API).
compile('libggml-rpc.so', lib, [
  '-O2',
  '-std=c++17',
  '-fPIC',
  '-shared',
  '-DGGML_BACKEND_DL',
  '-DGGML_BACKEND_SHARED',
  '-DGGML_SHARED',
  '-DGGML_BACKEND_BUILD',
  inc('ggml/include'),
  inc('ggml/src'),
  `-I${rpcSrc}`,
  join(rpcSrc, 'ggml-rpc.cpp'),
  join(rpcSrc, 'transport.cpp'),
  `-L${libDir}`,
  '-l:libggml-base.so',
  `-Wl,-rpath,${libDir}`,
  '-lpthread',
])
// The server tool: its own main() over the registry (ggml_backend_load_all finds libggml-rpc.so and
// the CPU variants beside it). The shim line-buffers stdout (the server's banner and its
// connection lines reach a pipe as they happen) and caps the memory a device reports to clients
// when MOERIG_RPC_MEM_BYTES is set (`moerig rpc-server --mem`).
compile('rpc-server', server, [
  '-O2',
  '-std=c++17',
  '-rdynamic',
  inc('ggml/include'),
  join(srcDir, 'tools', 'rpc', 'rpc-server.cpp'),
  join(root, 'scripts', 'rpc-server-shim.cpp'),
  `-L${libDir}`,
  `-l:${ggmlLib}`,
  '-l:libggml-base.so',
  `-Wl,-rpath,${libDir}`,
  '-ldl',
  '-lpthread',
])
for (const v of cpuVariants) {
  const link = join(outDir, v)
  rmSync(link, {force: true})
  symlinkSync(join(libDir, v), link)
}
const tmpManifest = `${manifestPath}.tmp`
writeFileSync(
  tmpManifest,
  JSON.stringify(
    {release, libDir, lib, server, cpuVariants, origin: `node-llama-cpp bundle (${release})`, stamp},
    null,
    2,
  ) + '\n',
)
renameSync(tmpManifest, manifestPath)
