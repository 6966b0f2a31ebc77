/**
 * `moerig synth`: complete GGUF models with deterministic random weights that llama.cpp loads and
 * runs, for tests and benchmarks. Presets are plain data here; the native side
 * (native/src/engine/synth.cpp) writes them with ggml's GGUF writer. Every tensor gets the type
 * llama.cpp's own per-tensor rules give it (`llama_model_quantize` in dry-run mode on the header),
 * and its data is written directly as random but valid blocks of that type, on `threads` threads:
 * no F16 intermediate, no quantization pass.
 *
 * Validation happens here first (preset, quant, output path, disk space) with one-line
 * MoerigErrors; the native code re-checks the hyper-parameters because llama.cpp aborts on
 * inconsistent ones. The file is written under a temp name next to the output and renamed into
 * place only when complete, so an existing file is never half-overwritten.
 */
import {existsSync, readdirSync, renameSync, rmSync, statSync, statfsSync, accessSync, constants as fsc} from 'node:fs'
import {createHash} from 'node:crypto'
import {availableParallelism} from 'node:os'
import {basename, dirname, join, resolve} from 'node:path'
import {MoerigError, oneLine} from '../lib/errors.js'
import {ensureDir, fileError, removeTemp, trackTemp, untrackTemp} from '../lib/fs.js'
import {buildDir, cacheDir as projectCacheDir} from '../lib/paths.js'
import {
  engineBuild,
  loadAddon,
  type SynthNativeProgress,
  type SynthNativeResult,
  type SynthNativeSpec,
} from '../engine/addon.js'
import {
  getPreset,
  KV_LAYOUTS,
  parseQuant,
  presetParams,
  SYNTH_VOCABS,
  type KvLayout,
  type SynthHparams,
  type SynthPreset,
  type SynthQuant,
} from '../model/synth-presets.js'

export interface SynthOptions {
  preset: string
  output: string
  quant?: string
  kvLayout?: string
  force?: boolean
  seed?: number
  threads?: number
  /**
   * "direct" (default): random blocks of the rule types written straight into the file.
   * "quantize": the reference the tests compare it with (F16 file, then llama_model_quantize).
   * "header": direct's header with the data section left a hole (all-zero blocks, a sparse file):
   * lets tests read a big preset's tensor types and offsets without writing its data. Not a model
   * to run: zero scales give zero weights.
   */
  pipeline?: SynthPipeline
  onProgress?: (p: SynthNativeProgress) => void
}

export const SYNTH_PIPELINES = ['direct', 'quantize', 'header'] as const
export type SynthPipeline = (typeof SYNTH_PIPELINES)[number]

export interface SynthSummary {
  path: string
  preset: string
  arch: 'deepseek2' | 'qwen3moe'
  quant: SynthQuant
  /** deepseek2 only; null for qwen3moe. */
  kvLayout: KvLayout | null
  fileBytes: number
  tensorCount: number
  params: number
  nVocab: number
  nLayer: number
  nExpert: number
  nExpertUsed: number
  seed: number
  /** ggml type name → tensor count in the written file. */
  typeCounts: Record<string, number>
  /** The whole native call: type rules, header and data (measured). */
  seconds: number
  /** fileBytes / seconds in MB/s (10^6 bytes), measured. */
  mbPerSecond: number
}

export const DEFAULT_SEED = 1

/** Version of the bytes synth writes for a given spec (part of cachedSynthModel's key). */
const SYNTH_WRITER = 'direct-1'

/** Disk a header-only file takes (the vocabulary dominates: ≈ 3 MB for 150 K tokens), generously. */
const HEADER_BYTES = 64 * 1024 ** 2

/** Bits per weight used only for the free-space estimate (Q4_K_M real files: ≈ 4.85). */
const EST_BPW: Record<SynthQuant, number> = {
  Q2_K: 3.0,
  Q3_K_M: 4.0,
  Q4_K_M: 4.9,
  Q5_K_M: 5.7,
  Q6_K: 6.6,
  Q8_0: 8.5,
  F16: 16,
}

function vocabDir(): string {
  try {
    return join(engineBuild().source, 'models')
  } catch {
    return join(buildDir, 'llama-src', 'models')
  }
}

interface Paths {
  out: string
  tmp: string
  work: string | undefined
}

/** The output may be a new file or (with --force) a regular file; never a directory, device or pipe. */
function checkOutput(output: string, out: string, force: boolean): void {
  if (!existsSync(out)) return
  const st = statSync(out)
  if (st.isDirectory())
    throw new MoerigError(
      'E_USAGE',
      `output ${output} is a directory; give a file name, e.g. ${join(output, 'model.gguf')}`,
    )
  // the rename would replace a device or pipe node itself (as root: /dev/null), --force or not
  if (!st.isFile())
    throw new MoerigError(
      'E_FILE',
      `output ${output} is not a regular file (a device, pipe or socket); give a file name`,
    )
  if (!force) throw new MoerigError('E_EXISTS', `output ${output} already exists; use --force to overwrite it`)
}

/** The output's folder exists (created if need be) and is writable. */
function checkWritableDir(dir: string): void {
  try {
    ensureDir(dir) // never Node 20's recursive mkdir: it loops forever under /proc (lib/fs.ts)
    accessSync(dir, fsc.W_OK)
  } catch (e) {
    throw fileError(e, `to ${dir}`)
  }
}

/** At least `need` bytes (+5 %) free in `dir`; where statfs is unsupported the write fails with its own error. */
function checkFreeSpace(dir: string, need: number): void {
  let free: number
  try {
    const fs = statfsSync(dir)
    free = fs.bavail * fs.bsize
  } catch {
    return
  }
  if (free < need * 1.05) {
    throw new MoerigError(
      'E_DISK',
      `not enough free space in ${dir}: needs about ${(need / 1e9).toFixed(2)} GB, has ${(free / 1e9).toFixed(2)} GB`,
    )
  }
}

/**
 * Output checks: not a directory, no silent overwrite, parent creatable and writable, disk space.
 * `work`: for quantized files, the header-only F16 probe llama.cpp's type rules read (a sparse
 * file, a few MB on disk); for the reference pipeline, the full F16 intermediate.
 */
function preparePaths(output: string, force: boolean, quant: SynthQuant, need: number): Paths {
  const out = resolve(output)
  checkOutput(output, out, force)
  const dir = dirname(out)
  checkWritableDir(dir)
  checkFreeSpace(dir, need)
  const tag = `${process.pid}-${Date.now().toString(36)}`
  return {
    out,
    tmp: join(dir, `.${basename(out)}.tmp-${tag}`),
    work: quant === 'F16' ? undefined : join(dir, `.${basename(out)}.f16-${tag}`),
  }
}

/** Remove temp files of an interrupted or failed synth. */
export function removeTemps(paths: {tmp: string; work?: string}): void {
  for (const p of [paths.tmp, paths.work]) if (p) removeTemp(p)
}

/** Stop the native writer (a signal handler's first step): it stops between write jobs and removes its files. */
export function stopSynth(): void {
  try {
    loadAddon().synthStop()
  } catch {
    // no addon, nothing running
  }
}

/** The temp files of the synth in progress, for a SIGINT handler. */
export const inFlight = new Set<{tmp: string; work?: string}>()

/** The preset's hyper-parameters with --kv-layout applied (deepseek2 only). */
function presetHparams(preset: SynthPreset, kvLayout: string | undefined): SynthHparams {
  const h = preset.hparams
  if (kvLayout === undefined) return h
  if (!(KV_LAYOUTS as readonly string[]).includes(kvLayout))
    throw new MoerigError('E_USAGE', `unknown KV layout "${kvLayout}"; use ${KV_LAYOUTS.join(' or ')}`)
  if (h.arch !== 'deepseek2')
    throw new MoerigError('E_USAGE', `--kv-layout applies to deepseek2 presets only (${preset.name} is ${h.arch})`)
  return {...h, kvLayout: kvLayout as KvLayout}
}

/** Seed, threads and pipeline, checked. */
function runOptions(opts: SynthOptions): {seed: number; threads: number; pipeline: SynthPipeline} {
  const seed = opts.seed ?? DEFAULT_SEED
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new MoerigError('E_USAGE', `seed must be a non-negative integer, got ${opts.seed}`)
  const threads = opts.threads ?? availableParallelism()
  if (!Number.isInteger(threads) || threads < 1)
    throw new MoerigError('E_USAGE', `threads must be a positive integer, got ${opts.threads}`)
  const pipeline = opts.pipeline ?? 'direct'
  if (!(SYNTH_PIPELINES as readonly string[]).includes(pipeline))
    throw new MoerigError('E_USAGE', `unknown pipeline "${pipeline}"; use one of ${SYNTH_PIPELINES.join(', ')}`)
  return {seed, threads, pipeline}
}

/** The preset's vocabulary file from the llama.cpp source; missing = one line pointing at the build. */
function vocabFile(preset: SynthPreset): string {
  const path = join(vocabDir(), SYNTH_VOCABS[preset.vocab].file)
  if (!existsSync(path))
    throw new MoerigError(
      'E_VOCAB',
      `vocabulary ${path} is missing (it comes with the llama.cpp source); run: npm run build:native`,
    )
  return path
}

/** Disk the write needs: the estimated file, plus the F16 intermediate for the reference pipeline; a header-only file is small. */
function diskNeed(params: number, quant: SynthQuant, pipeline: SynthPipeline): number {
  const final = (params * EST_BPW[quant]) / 8
  if (pipeline === 'header') return HEADER_BYTES
  return pipeline === 'quantize' && quant !== 'F16' ? params * 2 + final : final
}

/**
 * Run the native writer into the temp path and rename the file into place. The native writer
 * creates the temp files; TS owns them: src/lib/fs.ts removes them on a failure, on process.exit
 * and on SIGINT/SIGTERM/SIGHUP, so no hidden temp file (a multi-GB partial output, the sparse type
 * probe or the reference pipeline's F16 file) is left behind.
 */
async function writeModel(
  spec: SynthNativeSpec,
  paths: Paths,
  onProgress: SynthOptions['onProgress'],
): Promise<SynthNativeResult> {
  const addon = loadAddon()
  inFlight.add(paths)
  trackTemp(paths.tmp)
  if (paths.work) trackTemp(paths.work)
  try {
    const res = await addon.synth(spec, onProgress)
    renameSync(paths.tmp, paths.out)
    untrackTemp(paths.tmp)
    if (paths.work) removeTemp(paths.work)
    return res
  } catch (e) {
    removeTemps(paths)
    if (e instanceof MoerigError) throw e
    throw new MoerigError('E_SYNTH', `synth ${spec.preset} failed: ${oneLine(e)}`)
  } finally {
    inFlight.delete(paths)
  }
}

export async function synthModel(opts: SynthOptions): Promise<SynthSummary> {
  const preset = getPreset(opts.preset)
  const quant = parseQuant(opts.quant)
  const h = presetHparams(preset, opts.kvLayout)
  const {seed, threads, pipeline} = runOptions(opts)
  const vocabPath = vocabFile(preset)
  const need = diskNeed(presetParams(h, SYNTH_VOCABS[preset.vocab].tokens), quant, pipeline)
  const paths = preparePaths(opts.output, opts.force ?? false, quant, need)
  const spec: SynthNativeSpec = {
    ...h,
    name: `moerig synth ${preset.name}`,
    preset: preset.name,
    vocabPath,
    outPath: paths.tmp,
    ...(paths.work ? {workPath: paths.work} : {}),
    quant,
    seed,
    threads,
    pipeline,
  }
  const res = await writeModel(spec, paths, opts.onProgress)
  return {
    path: paths.out,
    preset: preset.name,
    arch: h.arch,
    quant,
    kvLayout: h.arch === 'deepseek2' ? (h.kvLayout ?? 'mla') : null,
    fileBytes: res.fileBytes,
    tensorCount: res.tensorCount,
    params: res.params,
    nVocab: res.nVocab,
    nLayer: h.nLayer,
    nExpert: h.nExpert,
    nExpertUsed: h.nExpertUsed,
    seed,
    typeCounts: res.typeCounts,
    seconds: res.seconds,
    mbPerSecond: res.seconds > 0 ? res.fileBytes / 1e6 / res.seconds : 0,
  }
}

/** Load `path` with llama.cpp in the runner child and decode one prompt (runner/decodecheck.ts). */
export {checkModel} from './decodecheck.js'

/** The llama.cpp release the engine was built from ("unknown" without a build). */
function engineRelease(): string {
  try {
    return engineBuild().release
  } catch {
    return 'unknown'
  }
}

/**
 * A synth model in a cache folder, made once and reused (tests and benches of other modules use
 * this instead of re-synthesizing). The file name carries a hash of everything that determines the
 * bytes (preset data, vocabulary, quant, layout, seed, llama.cpp release, writer version), so
 * editing a preset, upgrading llama.cpp or changing how blocks are generated makes a new file.
 * Concurrent callers may both write; the rename makes the last one win with identical bytes.
 * Making a file removes the older versions of the same preset, layout, quant and seed (another
 * hash): an r1-dram left behind by a llama.cpp upgrade is 9 GB nothing will read again.
 */
export async function cachedSynthModel(
  opts: {preset: string; quant?: string; kvLayout?: KvLayout; seed?: number},
  cacheDir = join(projectCacheDir, 'synth'),
): Promise<string> {
  const preset = getPreset(opts.preset)
  const quant = parseQuant(opts.quant)
  const seed = opts.seed ?? DEFAULT_SEED
  const key = JSON.stringify({
    h: preset.hparams,
    v: SYNTH_VOCABS[preset.vocab],
    quant,
    kv: opts.kvLayout ?? null,
    seed,
    release: engineRelease(),
    writer: SYNTH_WRITER,
  })
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 12)
  // "~": no preset name holds it, so preset tiny with the legacy layout never shares a stem with
  // preset tiny-legacy (the stem decides which older files a new one replaces)
  const layout = opts.kvLayout ? `~${opts.kvLayout}` : ''
  const stem = `${preset.name}${layout}-${quant}-s${seed}-`
  const path = join(cacheDir, `${stem}${hash}.gguf`)
  if (existsSync(path)) return path
  await synthModel({preset: preset.name, quant, kvLayout: opts.kvLayout, seed, output: path, force: true})
  for (const f of readdirSync(cacheDir))
    if (f.startsWith(stem) && /^[0-9a-f]{12}\.gguf$/.test(f.slice(stem.length)) && join(cacheDir, f) !== path)
      rmSync(join(cacheDir, f), {force: true})
  return path
}
