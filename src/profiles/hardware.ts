/**
 * Hardware profiles: the hand-written reference rigs in profiles/hardware/, files the user saved
 * with `probe --save`, or this machine ("probe", probed by the caller). `loadHardwareProfile` is what
 * plan/report use.
 * Every failure is one MoerigError line naming the file, the JSON path and what was expected.
 */
import {existsSync, readFileSync} from 'node:fs'
import {basename, join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {jsonFilesIn, readProblem, tryParseJson} from '../lib/fs.js'
import {hardwareProfilesDir} from '../lib/paths.js'
import {hardwareProfileSchema, type HardwareProfile} from '../schemas/hardware.js'
import {schemaErrors} from '../schemas/validate.js'

export {hardwareProfilesDir}

/** Checks JSON Schema cannot express; each returns "/json/path what was expected". */
export function semanticErrors(p: HardwareProfile): string[] {
  const errs: string[] = []
  if (p.cpu.threads < p.cpu.cores) errs.push(`/cpu/threads must be ≥ /cpu/cores (${p.cpu.cores}), got ${p.cpu.threads}`)
  if (p.cpu.cores < p.cpu.sockets) errs.push(`/cpu/cores must be ≥ /cpu/sockets (${p.cpu.sockets}), got ${p.cpu.cores}`)
  const ids = p.numa.nodes.map((n) => n.id)
  ids.forEach((id, i) => {
    if (ids.indexOf(id) !== i) errs.push(`/numa/nodes/${i}/id ${id} is used by another node`)
  })
  const cpus = p.numa.nodes.flatMap((n) => n.cpus)
  if (cpus.length > 0 && cpus.length !== p.cpu.threads)
    errs.push(`/numa/nodes must list each of the ${p.cpu.threads} CPUs (/cpu/threads) once, lists ${cpus.length}`)
  if (p.numa.distances) {
    const n = p.numa.nodes.length
    if (p.numa.distances.length !== n)
      errs.push(`/numa/distances must have ${n} rows (one per node), got ${p.numa.distances.length}`)
    p.numa.distances.forEach((row, i) => {
      if (row.length !== n) errs.push(`/numa/distances/${i} must have ${n} entries, got ${row.length}`)
    })
  }
  const m = p.memory
  if (m.channels !== null && m.speedMTs !== undefined && m.speedMTs !== null && m.theoreticalBandwidthGBs !== null) {
    const expect = Math.round(m.channels * m.speedMTs * 8) / 1000
    if (Math.abs(expect - m.theoreticalBandwidthGBs) > 0.01 * expect) {
      errs.push(
        `/memory/theoreticalBandwidthGBs must be channels × MT/s × 8 bytes = ${m.channels} × ${m.speedMTs} × 8 = ${expect} GB/s, got ${m.theoreticalBandwidthGBs}`,
      )
    }
  }
  p.gpus.forEach((g, i) => {
    if (g.numaNode !== null && !ids.includes(g.numaNode))
      errs.push(`/gpus/${i}/numaNode must be one of the NUMA node ids (${ids.join(', ')}), got ${g.numaNode}`)
  })
  if (p.origin === 'reference') {
    if (!p.id) errs.push('(root) is missing required field "id" (reference profiles are chosen by id)')
    if (!p.citations || Object.keys(p.citations).length === 0)
      errs.push('/citations must cite a public source for the fields of a reference profile')
  }
  return errs
}

/** All problems of a parsed document, schema first; empty when valid. */
export function profileErrors(data: unknown): string[] {
  const errs = schemaErrors(hardwareProfileSchema, data, {articles: true})
  if (errs.length > 0) return errs
  return semanticErrors(data as HardwareProfile)
}

/**
 * Every problem of a profile file, one line each: unreadable, not JSON, or the profile's errors.
 * Empty when the file is a valid profile.
 */
export function profileFileErrors(path: string): {data: unknown; errors: string[]} {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    return {data: undefined, errors: [readProblem(e)]}
  }
  // a byte-order mark is accepted, absurd nesting refused by name (src/lib/fs.ts)
  const {data, problem} = tryParseJson(text)
  if (problem !== undefined) return {data: undefined, errors: [problem]}
  return {data, errors: profileErrors(data)}
}

/** Read, parse and validate a profile file; throws one line "FILE: /path problem (and N more)". */
export function readHardwareProfile(path: string): HardwareProfile {
  const {data, errors} = profileFileErrors(path)
  if (errors.length > 0) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
    throw new MoerigError('E_PROFILE', `hardware profile ${path}: ${errors[0]}${more}`)
  }
  return data as HardwareProfile
}

export interface ProfileListing {
  file: string
  id: string | null
  name: string | null
  valid: boolean
  error: string | null
  profile: HardwareProfile | null
}

/** Every *.json in a profiles folder, each validated (an invalid one is listed with its error). */
export function listHardwareProfiles(dir = hardwareProfilesDir): ProfileListing[] {
  let files: string[]
  try {
    files = jsonFilesIn(dir)
  } catch {
    throw new MoerigError('E_FILE', `hardware profiles folder ${dir}: cannot read`)
  }
  return files.map((f) => {
    const file = join(dir, f)
    try {
      const profile = readHardwareProfile(file)
      const stem = basename(f, '.json')
      if (profile.id !== undefined && profile.id !== stem) {
        return {
          file,
          id: profile.id,
          name: profile.name,
          valid: false,
          error: `hardware profile ${file}: /id "${profile.id}" must match the file name "${stem}"`,
          profile: null,
        }
      }
      return {file, id: profile.id ?? stem, name: profile.name, valid: true, error: null, profile}
    } catch (e) {
      return {file, id: null, name: null, valid: false, error: (e as Error).message, profile: null}
    }
  })
}

/**
 * A hardware profile by file path, by id of a profile in profiles/hardware/, or "probe" for this
 * machine: `opts.probe` probes it (profiles/ sits below probe/; callers above probe/ pass
 * `probeThisMachine` from src/probe/machine.ts, or use its `loadHardware`).
 */
export async function loadHardwareProfile(
  pathOrId: string,
  opts: {dir?: string; probe?: () => Promise<HardwareProfile>} = {},
): Promise<HardwareProfile> {
  if (pathOrId === 'probe') {
    if (!opts.probe)
      throw new MoerigError(
        'E_USAGE',
        'hardware profile "probe": this machine can be probed only by a command that probes (plan, calibrate, reuse, profiles show)',
      )
    return opts.probe()
  }
  if (existsSync(pathOrId) || pathOrId.endsWith('.json') || pathOrId.includes('/')) return readHardwareProfile(pathOrId)
  const dir = opts.dir ?? hardwareProfilesDir
  const direct = join(dir, `${pathOrId}.json`)
  if (existsSync(direct)) return readHardwareProfile(direct)
  const all = existsSync(dir) ? listHardwareProfiles(dir) : []
  const hit = all.find((p) => p.id === pathOrId && p.profile)
  if (hit?.profile) return hit.profile
  const ids = all.filter((p) => p.valid).map((p) => p.id)
  throw new MoerigError(
    'E_PROFILE_NOT_FOUND',
    `hardware profile "${pathOrId}": not a file and not an id in ${dir} (ids: ${ids.length > 0 ? ids.join(', ') : 'none'}; or "probe" for this machine)`,
  )
}
