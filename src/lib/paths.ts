/**
 * Where moerig's own files live. The one place that knows the repository layout: every module
 * that needs the project root, the build folder or the profiles folder imports it from here.
 */
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

/** Project root: this file lives in src/lib/ (tsx) or dist/lib/ (built). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** build/: the native addon, the extracted llama.cpp sources, test models, tsbuildinfo. */
export const buildDir = join(projectRoot, 'build')
/** build/native/: what scripts/build-native.mjs writes (Release/moerig.node, engine.json). */
export const nativeBuildDir = join(buildDir, 'native')
/** build/rpc/: what scripts/build-rpc.mjs writes (libggml-rpc.so, rpc-server, rpc.json). */
export const rpcBuildDir = join(buildDir, 'rpc')
/** profiles/: hand-written hardware and model profiles (JSON, schema-validated). */
export const profilesDir = join(projectRoot, 'profiles')
/** profiles/models/: the model catalog. */
export const modelProfilesDir = join(profilesDir, 'models')
/** profiles/hardware/: reference rigs. */
export const hardwareProfilesDir = join(profilesDir, 'hardware')
/** .moerig-cache/: generated models and intermediate results reused between runs. */
export const cacheDir = join(projectRoot, '.moerig-cache')
