import assert from 'node:assert/strict'
import {createCanvas, loadImage} from '@napi-rs/canvas'
import type {ReportInput} from '../../src/report/build.js'

const GiB = 1024 ** 3

/** Decode a PNG and count pixels that are not (near) white; also the luminance variance. */
export async function pngStats(
  png: Buffer,
): Promise<{width: number; height: number; nonWhite: number; variance: number}> {
  const img = await loadImage(png)
  const c = createCanvas(img.width, img.height)
  const ctx = c.getContext('2d')
  ctx.drawImage(img, 0, 0)
  const d = ctx.getImageData(0, 0, img.width, img.height).data
  let nonWhite = 0
  let sum = 0
  let sum2 = 0
  const n = img.width * img.height
  for (let i = 0; i < d.length; i += 4) {
    const lum = (d[i] + d[i + 1] + d[i + 2]) / 3
    if (lum < 245) nonWhite++
    sum += lum
    sum2 += lum * lum
  }
  const mean = sum / n
  return {width: img.width, height: img.height, nonWhite, variance: sum2 / n - mean * mean}
}

export async function assertChart(png: Buffer, size: {width: number; height: number}, what: string) {
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG', `${what}: PNG signature`)
  const s = await pngStats(png)
  assert.equal(s.width, size.width, `${what}: width`)
  assert.equal(s.height, size.height, `${what}: height`)
  // Not blank: a real chart covers a few % of its pixels with ink, and the background is opaque white.
  assert.ok(s.nonWhite > 0.01 * s.width * s.height, `${what}: only ${s.nonWhite} non-white pixels`)
  assert.ok(s.variance > 50, `${what}: variance ${s.variance}`)
}

/** A complete set of views: two plans (this box, a reference rig), two benches, reuse, trace. */
export function sampleInputs(model = 'DeepSeek-R1'): ReportInput[] {
  const plan = (hardware: string, gpus: number, quant = 'Q4_K_M') => ({
    kind: 'plan' as const,
    label: `${model} ${quant} · llama.cpp · ${hardware}`,
    model,
    quant,
    engine: 'llama.cpp',
    hardware,
    weightsBytes: 376 * GiB,
    context: 8192,
    fits: gpus > 0,
    verdict: gpus > 0 ? null : 'RAM is the binding constraint',
    devices: [
      {id: 'numa0', kind: 'numa', capacityBytes: 512 * GiB, weightsBytes: 180 * GiB, kvBytes: 0, computeBytes: GiB},
      {id: 'numa1', kind: 'numa', capacityBytes: 512 * GiB, weightsBytes: 180 * GiB, kvBytes: 0, computeBytes: GiB},
      ...Array.from({length: gpus}, (_, i) => ({
        id: `gpu${i}`,
        kind: 'gpu',
        capacityBytes: 16 * GiB,
        weightsBytes: 8 * GiB,
        kvBytes: 0.6 * GiB,
        computeBytes: 1.2 * GiB,
      })),
    ],
    kvBytesPerToken: 70272,
    maxContextByGpuCount: [
      {gpus: 0, context: 16384},
      ...Array.from({length: gpus}, (_, i) => ({gpus: i + 1, context: 65536 * (i + 1)})),
    ],
    decodeTps: 9.5,
    decodeTpsRange: [7.1, 11.4] as [number, number],
    prefillTps: 60,
    assumptions: ['triad bandwidth × 0.8 efficiency', '0.1 ms per-layer hand-off'],
    rows: [],
  })
  const bench = (threads: number, tg: number) => ({
    kind: 'bench' as const,
    tool: 'bench' as const,
    label: `${model} r1-mini Q4_K_M, ${threads} threads`,
    model,
    quant: 'Q4_K_M',
    sizeBytes: 1.4 * GiB,
    backend: 'CPU',
    threads,
    placement: 'CPU only',
    results: [
      {test: 'pp512', nPrompt: 512, nGen: 0, threads, mean: 40 * threads, sd: 1.5},
      {test: 'tg128', nPrompt: 0, nGen: 128, threads, mean: tg, sd: 0.4},
    ],
    memory: threads === 2 ? [{device: 'CPU', plannedBytes: 1.5 * GiB, measuredBytes: 1.45 * GiB}] : [],
    predicted: threads === 2 ? {decodeTps: 14, prefillTps: 90} : null,
    provenance: 'measured, llama.cpp b1234, moerig 0.1.0',
  })
  const layers = Array.from({length: 24}, (_, i) => i + 3)
  return [
    {
      path: 'hw.json',
      view: {
        kind: 'hardware',
        label: 'this machine',
        cpu: 'Xeon',
        sockets: 1,
        cores: 2,
        threads: 2,
        memoryBytes: 24 * GiB,
        channels: null,
        theoreticalGBs: null,
        measuredGBs: 11.3,
        gpus: [],
      },
    },
    {path: 'a.json', view: plan('this-machine', 0)},
    {path: 'b.json', view: plan('dual-8592-2xa770', 2)},
    {path: 'c.json', view: plan('dual-8592-2xa770', 2, 'Q2_K')},
    {path: 'd.json', view: bench(2, 12.5)},
    {path: 'e.json', view: bench(1, 7.1)},
    {
      path: 'f.json',
      view: {
        kind: 'reuse',
        label: `${model} trace`,
        model,
        layers: layers.map((l) => ({
          layer: l,
          reuse: 0.2 + 0.1 * Math.sin(l),
          reuseRandom: 8 / 256,
          top10Share: 0.3,
          entropy: 0.9,
        })),
        cache: ['lru', 'lfu', 'static', 'opt'].flatMap((policy, p) =>
          [8, 16, 32, 64].map((capacity) => ({
            policy,
            capacity,
            layer: 'all' as const,
            hitRate: Math.min(1, (capacity / 80) * (1 + p / 4)),
            hitRateRandom: capacity / 256,
            bytesPerToken: 1e6 / capacity,
            decodeTps: 5 + capacity / 10,
          })),
        ),
        overall: {reuse: 0.21, reuseRandom: 8 / 256, top10Share: 0.3, entropy: 0.9, gini: 0.2},
        noCacheDecodeTps: 4.2,
        notes: [],
      },
    },
    {
      path: 'g.trace',
      view: {
        kind: 'trace',
        label: `${model} trace`,
        model,
        nExpert: 64,
        k: 6,
        nTokens: 100,
        moeLayers: layers,
        counts: layers.map((l) => Array.from({length: 64}, (_, e) => ((e * 7 + l * 13) % 23) + (e === l ? 60 : 0))),
      },
    },
  ]
}

/** Every check of the "no external reference" rule, on one HTML text. */
export function assertSelfContained(html: string) {
  assert.doesNotMatch(html, /https?:\/\//i, 'no http(s) URL')
  assert.doesNotMatch(html, /\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, 'no protocol-relative URL')
  for (const m of html.matchAll(/\b(src|href|srcset|poster|action|data)\s*=\s*["']?([^"'\s>]*)/gi)) {
    assert.match(m[2], /^data:image\/png;base64,/, `${m[1]}= must be a data: URI, got ${m[2].slice(0, 40)}`)
  }
  assert.doesNotMatch(html, /<link\b/i, 'no <link>')
  assert.doesNotMatch(html, /<script\b/i, 'no <script>')
  assert.doesNotMatch(html, /<iframe\b|<object\b|<embed\b/i)
  assert.doesNotMatch(html, /url\(/i, 'no CSS url()')
  assert.doesNotMatch(html, /@import/i)
}
