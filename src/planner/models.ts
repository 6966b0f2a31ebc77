/** `moerig models`: the catalog with sizes per quant (computed) beside the published files. */
import {renderTable} from '../lib/table.js'
import {fmtGB} from '../lib/units.js'
import type {ModelProfile, ModelsList} from '../schemas/model.js'
import {loadCatalog} from '../profiles/catalog.js'
import {inventoryFromCatalog} from '../model/inventory.js'

type Entry = ModelsList['models'][number]

export function describeModel(m: ModelProfile): Entry {
  const layouts = m.arch === 'deepseek2' ? (m.layouts ?? ['mla']) : [null]
  const quants: Entry['quants'] = []
  let first: ReturnType<typeof inventoryFromCatalog> | null = null
  for (const q of m.quants) {
    for (const layout of layouts) {
      const pub =
        m.published?.files?.find((f) => f.quant === q && (layout === null || (f.layout ?? 'mla') === layout)) ?? null
      // the default layout always; other layouts only where a published file exists to compare with
      if (layout !== layouts[0] && !pub) continue
      const inv = inventoryFromCatalog(m, {quant: q, layout: layout ?? undefined})
      if (!first) first = inv
      quants.push({
        quant: q,
        layout,
        fileBytes: Math.round(inv.fileBytes),
        tensorCount: inv.tensors.length,
        bitsPerWeight: Math.round((8 * inv.totalBytes * 1000) / inv.params) / 1000,
        publishedGB: pub ? pub.sizeGB : null,
        deltaPercent: pub ? Math.round((10000 * (inv.fileBytes / 1e9 - pub.sizeGB)) / pub.sizeGB) / 100 : null,
        publishedSource: pub ? pub.source : null,
      })
    }
  }
  const inv = first!
  return {
    id: m.id,
    name: m.name,
    arch: m.arch,
    layout: layouts[0],
    params: inv.params,
    activeParams: inv.activeParams,
    publishedParams: m.published?.paramsTotal ?? null,
    publishedActiveParams: m.published?.paramsActive ?? null,
    contextLength: m.hparams.contextLength,
    nExpert: m.hparams.nExpert ?? 0,
    nExpertUsed: m.hparams.nExpertUsed ?? 0,
    defaultQuant: m.defaultQuant,
    quants,
  }
}

export function listModels(): ModelsList {
  return {models: loadCatalog().map(describeModel)}
}

export function renderModels(list: ModelsList): string[] {
  const out: string[] = []
  for (const m of list.models) {
    out.push(
      `${m.id}  ${m.name} · ${m.arch}${m.layout ? ` (${m.layout} layout by default)` : ''} · ${(m.params / 1e9).toFixed(1)} B params, ${(m.activeParams / 1e9).toFixed(1)} B active · ${m.nExpertUsed} of ${m.nExpert} experts · context ${m.contextLength}`,
    )
    const rows = m.quants.map((q) => {
      const pub =
        q.publishedGB != null
          ? `   published ${q.publishedGB.toFixed(1)} GB (${q.deltaPercent! >= 0 ? '+' : ''}${q.deltaPercent!.toFixed(2)} %)`
          : ''
      const isDefault = q.quant === m.defaultQuant && q.layout === m.layout
      return [
        '',
        q.quant,
        q.layout ?? '',
        fmtGB(q.fileBytes),
        `${q.bitsPerWeight!.toFixed(2)} bpw${isDefault ? '  (default)' : ''}${pub}`,
      ]
    })
    // indent 4, quant 10, layout 7, size 10 (right), then the rest unpadded
    out.push(
      ...renderTable(null, rows, [
        {width: 4},
        {width: 10, gap: ''},
        {width: 7, gap: ''},
        {width: 10, right: true, gap: ''},
        {width: 0},
      ]),
    )
    out.push('')
  }
  out.push(
    'sizes: computed per tensor from the published hyper-parameters and llama-quantize v0.4.0 rules (GB = 1e9 bytes)',
  )
  return out
}
