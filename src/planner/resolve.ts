/**
 * MODEL resolution for `plan`: a catalog id (read by profiles/catalog.ts) or a path to a GGUF (any
 * shard of a split).
 */
import {existsSync} from 'node:fs'
import {resolve} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {readGguf} from '../model/gguf.js'
import {inventoryFromCatalog, inventoryFromGguf, type Inventory} from '../model/inventory.js'
import {catalogModel} from '../profiles/catalog.js'
import type {ModelProfile} from '../schemas/model.js'

export function looksLikePath(model: string): boolean {
  return model.endsWith('.gguf') || model.includes('/') || existsSync(model)
}

export interface ResolvedModel {
  inv: Inventory
  catalog: ModelProfile | null
}

/** MODEL → inventory: a GGUF header, or a catalog model at a quant and layout. */
export async function resolveModel(
  model: string,
  opts: {quant?: string; layout?: 'mla' | 'legacy'},
): Promise<ResolvedModel> {
  if (looksLikePath(model)) {
    if (opts.layout) throw new MoerigError('E_USAGE', '--layout applies to catalog models; a GGUF has its own layout')
    const g = await readGguf(model)
    const inv = inventoryFromGguf(g)
    // Plans are read later from other folders (bench --plan, check-plan) and their commands are
    // copied elsewhere: keep the model's absolute path, not the one relative to here.
    inv.path = inv.path === null ? null : resolve(inv.path)
    inv.shards = inv.shards.map((p) => resolve(p))
    if (opts.quant && opts.quant.toUpperCase() !== inv.quant) {
      throw new MoerigError(
        'E_USAGE',
        `--quant ${opts.quant}: ${model} is ${inv.quant}; --quant picks a quant of a catalog model`,
      )
    }
    return {inv, catalog: null}
  }
  const m = catalogModel(model)
  const quant = opts.quant ?? m.defaultQuant
  return {inv: inventoryFromCatalog(m, {quant, layout: opts.layout}), catalog: m}
}
