/**
 * The model catalog (profiles/models/*.json) and MODEL resolution for `plan`: a catalog id or a
 * path to a GGUF (any shard of a split).
 */
import {existsSync, readdirSync} from 'node:fs'
import {basename, join, resolve} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {readJsonFile} from '../schemas/validate.js'
import {modelProfilesDir} from '../lib/paths.js'
import {modelProfileSchema, type ModelProfile} from '../schemas/model.js'
import {readGguf} from '../model/gguf.js'
import {inventoryFromCatalog, inventoryFromGguf, type Inventory} from '../model/inventory.js'
import {FTYPES} from '../model/quant.js'

export {modelProfilesDir}

/** Checks the schema cannot express. */
function checkModel(m: ModelProfile, file: string): void {
  const stem = basename(file, '.json')
  const fail = (what: string) => {
    throw new MoerigError('E_PROFILE', `model profile ${file}: ${what}`)
  }
  if (m.id !== stem) fail(`/id "${m.id}" must match the file name "${stem}"`)
  for (const q of m.quants) if (!(q in FTYPES)) fail(`/quants: ${q} is not a quant moerig can model (${Object.keys(FTYPES).join(', ')})`)
  if (!m.quants.includes(m.defaultQuant)) fail(`/defaultQuant ${m.defaultQuant} is not in /quants`)
  if (m.arch === 'deepseek2' && !m.layouts) fail('/layouts is required for deepseek2 models')
  const hp = m.hparams
  if ((hp.nExpert ?? 0) > 0 && !((hp.nExpertUsed ?? 0) > 0 && (hp.nExpertUsed ?? 0) <= (hp.nExpert ?? 0))) fail('/hparams/nExpertUsed must be 1 … nExpert')
  if (hp.nHead % hp.nHeadKv !== 0) fail('/hparams/nHead must be a multiple of nHeadKv')
}

export function loadCatalog(dir = modelProfilesDir): ModelProfile[] {
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  } catch {
    throw new MoerigError('E_FILE', `model catalog ${dir}: cannot read`)
  }
  return files.map((f) => {
    const file = join(dir, f)
    const m = readJsonFile<ModelProfile>(file, modelProfileSchema, 'model profile')
    checkModel(m, file)
    return m
  })
}

export function catalogModel(id: string, dir = modelProfilesDir): ModelProfile {
  const all = loadCatalog(dir)
  const m = all.find((x) => x.id === id)
  if (!m) throw new MoerigError('E_MODEL', `unknown model "${id}": not a GGUF file and not a catalog id (${all.map((x) => x.id).join(', ')})`)
  return m
}

export function looksLikePath(model: string): boolean {
  return model.endsWith('.gguf') || model.includes('/') || existsSync(model)
}

export interface ResolvedModel {
  inv: Inventory
  catalog: ModelProfile | null
}

/** MODEL → inventory: a GGUF header, or a catalog model at a quant and layout. */
export async function resolveModel(model: string, opts: {quant?: string; layout?: 'mla' | 'legacy'}): Promise<ResolvedModel> {
  if (looksLikePath(model)) {
    if (opts.layout) throw new MoerigError('E_USAGE', '--layout applies to catalog models; a GGUF has its own layout')
    const g = await readGguf(model)
    const inv = inventoryFromGguf(g)
    // Plans are read later from other folders (bench --plan, check-plan) and their commands are
    // copied elsewhere: keep the model's absolute path, not the one relative to here.
    inv.path = inv.path === null ? null : resolve(inv.path)
    inv.shards = inv.shards.map((p) => resolve(p))
    if (opts.quant && opts.quant.toUpperCase() !== inv.quant) {
      throw new MoerigError('E_USAGE', `--quant ${opts.quant}: ${model} is ${inv.quant}; --quant picks a quant of a catalog model`)
    }
    return {inv, catalog: null}
  }
  const m = catalogModel(model)
  const quant = opts.quant ?? m.defaultQuant
  return {inv: inventoryFromCatalog(m, {quant, layout: opts.layout}), catalog: m}
}
