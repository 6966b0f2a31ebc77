/**
 * GPU backends: node-llama-cpp's GPU packages of the same release carry ggml backend libraries
 * (`libggml-vulkan.so`, `libggml-cuda.so`) that load beside the CPU package's libraries with
 * `ggml_backend_load(path)` (test/native/checkplan-vulkan.test.ts does so with Mesa's llvmpipe, a
 * software Vulkan device).
 * This module only finds candidate files; native/src/engine/runtime.cpp loads them.
 *
 *   npm install -E @node-llama-cpp/linux-x64-vulkan@<version>   # Intel Arc, AMD, NVIDIA
 *   npm install -E @node-llama-cpp/linux-x64-cuda@<version>     # NVIDIA (CUDA)
 *
 * <version> is GPU_PACKAGE_VERSION below, the release package.json pins.
 *
 * `npm run build:backend -- cuda` builds one from the release's source into build/backends/
 * (scripts/build-backend.mjs); such a library is taken before the packages.
 *
 * MOERIG_BACKENDS=cpu skips them; MOERIG_BACKEND_LIBS=/a/libggml-x.so:/b/… adds libraries by path
 * (a SYCL build of the same release, for example).
 */
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {projectRoot} from '../lib/paths.js'

/** The package our CPU libraries come from (scripts/build-native.mjs links against it). */
const CPU_PACKAGE = '@node-llama-cpp/linux-x64'

/**
 * The release our CPU libraries come from, as package.json pins it (the one place the version is
 * written; node-llama-cpp is pinned to the same): a GPU package of another version would not match
 * its ABI.
 */
export const GPU_PACKAGE_VERSION = pinnedVersion(CPU_PACKAGE)

/** The npm command that installs `pkg` at the pinned release. */
export function installCommand(pkg: string = GPU_PACKAGES[0].pkg): string {
  return `npm install -E ${pkg}@${GPU_PACKAGE_VERSION}`
}

function pinnedVersion(pkg: string): string {
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>
  }
  const v = manifest.dependencies?.[pkg]
  if (!v) throw new Error(`package.json does not pin ${pkg}`)
  return v
}

/** Packages that carry GPU backends, and the backend library each one holds. */
export const GPU_PACKAGES = [
  {pkg: '@node-llama-cpp/linux-x64-vulkan', backend: 'Vulkan', lib: 'libggml-vulkan.so'},
  {pkg: '@node-llama-cpp/linux-x64-cuda', backend: 'CUDA', lib: 'libggml-cuda.so'},
  {pkg: '@node-llama-cpp/linux-x64-cuda-ext', backend: 'CUDA', lib: 'libggml-cuda.so'},
] as const

export interface BackendLib {
  backend: string
  path: string
  /** npm package it came from, or "MOERIG_BACKEND_LIBS" */
  origin: string
}

export interface BackendDiscovery {
  libs: BackendLib[]
  /** packages present but not used, with why ("version 3.20.0, need 3.21.1") */
  skipped: Array<{origin: string; reason: string}>
}

/** This project's candidates: GPU packages in its node_modules and what `npm run build:backend` built. */
export function projectBackends(env: NodeJS.ProcessEnv = process.env): BackendDiscovery {
  return discoverBackends(join(projectRoot, 'node_modules'), env, join(projectRoot, 'build', 'backends'))
}

/** First file named `lib` in `<pkgDir>/bins/<any>/` (the package's one platform folder). */
function findInBins(pkgDir: string, lib: string): string | null {
  const bins = join(pkgDir, 'bins')
  if (!existsSync(bins)) return null
  for (const sub of readdirSync(bins).sort()) {
    const p = join(bins, sub, lib)
    if (existsSync(p) && statSync(p).isFile()) return p
  }
  return null
}

/** What scripts/build-backend.mjs writes beside the libraries it builds (build/backends/backends.json). */
interface BuiltBackends {
  backends?: Record<string, {lib?: string; version?: string; release?: string}>
}

/**
 * Libraries `npm run build:backend` built into `dir`, of the pinned version, for backends `out` has
 * none of yet; others skipped with why.
 */
function builtBackends(dir: string, out: BackendDiscovery): void {
  const manifest = join(dir, 'backends.json')
  if (!existsSync(manifest)) return
  let m: BuiltBackends
  try {
    m = JSON.parse(readFileSync(manifest, 'utf8')) as BuiltBackends
  } catch {
    out.skipped.push({
      origin: 'build:backend',
      reason: `${manifest}: not valid JSON (npm run build:backend -- <name> --force)`,
    })
    return
  }
  for (const [name, b] of Object.entries(m.backends ?? {})) {
    const path = join(dir, b.lib ?? '')
    if (!b.lib || !existsSync(path)) {
      out.skipped.push({origin: 'build:backend', reason: `${name}: ${path} is missing`})
    } else if (b.version !== GPU_PACKAGE_VERSION) {
      out.skipped.push({
        origin: 'build:backend',
        reason: `${name}: built for ${b.version}, need ${GPU_PACKAGE_VERSION} (npm run build:backend -- ${name} --force)`,
      })
    } else if (!out.libs.some((l) => l.backend === backendOfLib(path)))
      out.libs.push({backend: backendOfLib(path), path, origin: 'build:backend'})
  }
}

/**
 * Candidate GPU backend libraries: MOERIG_BACKEND_LIBS entries first, then what
 * `npm run build:backend` built into `builtDir`, then packages under `nodeModulesDir` in
 * GPU_PACKAGES order; at most one per backend. Pure path logic: nothing is loaded here.
 */
export function discoverBackends(
  nodeModulesDir: string,
  env: NodeJS.ProcessEnv = process.env,
  builtDir?: string,
): BackendDiscovery {
  const out: BackendDiscovery = {libs: [], skipped: []}
  for (const p of (env.MOERIG_BACKEND_LIBS ?? '').split(':').filter(Boolean)) {
    if (existsSync(p)) out.libs.push({backend: backendOfLib(p), path: p, origin: 'MOERIG_BACKEND_LIBS'})
    else out.skipped.push({origin: 'MOERIG_BACKEND_LIBS', reason: `${p}: no such file`})
  }
  if ((env.MOERIG_BACKENDS ?? '').toLowerCase() === 'cpu') return out
  if (builtDir) builtBackends(builtDir, out)
  const have = new Set(out.libs.map((l) => l.backend))
  for (const g of GPU_PACKAGES) {
    const dir = join(nodeModulesDir, ...g.pkg.split('/'))
    if (!existsSync(join(dir, 'package.json'))) continue
    let version = 'unknown'
    try {
      version = String(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version)
    } catch {
      // unreadable package.json: reported as a version mismatch below
    }
    if (version !== GPU_PACKAGE_VERSION) {
      out.skipped.push({
        origin: g.pkg,
        reason: `version ${version}, need ${GPU_PACKAGE_VERSION} (${installCommand(g.pkg)})`,
      })
      continue
    }
    if (have.has(g.backend)) continue
    const path = findInBins(dir, g.lib)
    if (!path) {
      out.skipped.push({origin: g.pkg, reason: `no ${g.lib} under ${join(dir, 'bins')}`})
      continue
    }
    out.libs.push({backend: g.backend, path, origin: g.pkg})
    have.add(g.backend)
  }
  return out
}

/** "libggml-vulkan.so" → "Vulkan"; unknown names keep their stem. */
export function backendOfLib(path: string): string {
  const m = /libggml-([a-z0-9]+)[^/]*\.so[^/]*$/i.exec(path)
  if (!m) return 'unknown'
  const known: Record<string, string> = {
    vulkan: 'Vulkan',
    cuda: 'CUDA',
    sycl: 'SYCL',
    hip: 'HIP',
    rpc: 'RPC',
    metal: 'Metal',
    opencl: 'OpenCL',
  }
  return known[m[1].toLowerCase()] ?? m[1]
}
