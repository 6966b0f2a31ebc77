/**
 * The model catalog (profiles/models/*.json): the only reader of those files. `plan`, `models` and
 * `reuse` all come here, so a bad or unknown model gives the same line everywhere.
 */
import {basename, join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {jsonFilesIn} from '../lib/fs.js'
import {readJsonFile} from '../schemas/validate.js'
import {modelProfilesDir} from '../lib/paths.js'
import {modelProfileSchema, type ModelProfile} from '../schemas/model.js'
import {FTYPES} from '../model/quant.js'

export {modelProfilesDir}

/** Checks the schema cannot express. */
function checkModel(m: ModelProfile, file: string): void {
  const stem = basename(file, '.json')
  const fail = (what: string) => {
    throw new MoerigError('E_PROFILE', `model profile ${file}: ${what}`)
  }
  if (m.id !== stem) fail(`/id "${m.id}" must match the file name "${stem}"`)
  for (const q of m.quants)
    if (!(q in FTYPES)) fail(`/quants: ${q} is not a quant moerig can model (${Object.keys(FTYPES).join(', ')})`)
  if (!m.quants.includes(m.defaultQuant)) fail(`/defaultQuant ${m.defaultQuant} is not in /quants`)
  if (m.arch === 'deepseek2' && !m.layouts) fail('/layouts is required for deepseek2 models')
  const hp = m.hparams
  if ((hp.nExpert ?? 0) > 0 && !((hp.nExpertUsed ?? 0) > 0 && (hp.nExpertUsed ?? 0) <= (hp.nExpert ?? 0)))
    fail('/hparams/nExpertUsed must be 1 … nExpert')
  if (hp.nHead % hp.nHeadKv !== 0) fail('/hparams/nHead must be a multiple of nHeadKv')
}

/** One model profile file, validated (schema, then the checks above). */
export function readModelProfile(file: string): ModelProfile {
  const m = readJsonFile<ModelProfile>(file, modelProfileSchema, 'model profile')
  checkModel(m, file)
  return m
}

export function loadCatalog(dir = modelProfilesDir): ModelProfile[] {
  let files: string[]
  try {
    files = jsonFilesIn(dir)
  } catch {
    throw new MoerigError('E_FILE', `model catalog ${dir}: cannot read`)
  }
  return files.map((f) => readModelProfile(join(dir, f)))
}

export function catalogModel(id: string, dir = modelProfilesDir): ModelProfile {
  const all = loadCatalog(dir)
  const m = all.find((x) => x.id === id)
  if (!m)
    throw new MoerigError(
      'E_MODEL',
      `unknown model "${id}": not a GGUF file and not a catalog id (${all.map((x) => x.id).join(', ')})`,
    )
  return m
}
