/**
 * Render the fixture report and screenshot its index.html in headless Chromium (Debian's
 * `chromium` package: `apt-get install -y chromium`), to check that the self-contained page shows
 * its charts in a real browser: no network, a fresh profile, everything from data: URIs.
 *
 *   node --import tsx bench/report-screenshot.ts [OUT_DIR [REPORT_DIR]]
 *
 * OUT_DIR defaults to reports/report-screenshot; with REPORT_DIR (e.g. reports/demo) that existing
 * report is screenshot instead of the fixture one.
 *
 * Prints the report folder, the screenshot path, its size, and how much of it is not white.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {createCanvas, loadImage} from '@napi-rs/canvas'
import {runReport} from '../src/report/report.js'

const FIXTURES = 'test/fixtures/report'
const WINDOW = {width: 1280, height: 2000}

function findChromium(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], {encoding: 'utf8'})
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim()
  }
  console.error('report-screenshot: no chromium on PATH (Debian: apt-get install -y chromium)')
  process.exit(2)
}

const out = resolve(process.argv[2] ?? 'reports/report-screenshot')
let t = Date.now()
let report: {dir: string}
if (process.argv[3]) {
  report = {dir: resolve(process.argv[3])}
  if (!existsSync(join(report.dir, 'index.html'))) {
    console.error(`report-screenshot: ${report.dir} has no index.html`)
    process.exit(2)
  }
} else {
  const inputs = [
    ...readdirSync(FIXTURES)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => join(FIXTURES, f)),
    join(FIXTURES, 'trace.csv'),
  ]
  const written = await runReport(inputs, {output: join(out, 'report'), experts: 32, title: 'moerig report (fixtures)'})
  console.log(`report: ${written.dir}/index.html, ${written.charts.length} charts, rendered in ${Date.now() - t} ms`)
  report = written
}
mkdirSync(out, {recursive: true})

const chromium = findChromium()
const shot = join(out, 'screenshot.png')
const profile = mkdtempSync(join(tmpdir(), 'moerig-chromium-'))
t = Date.now()
try {
  execFileSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      `--screenshot=${shot}`,
      `--window-size=${WINDOW.width},${WINDOW.height}`,
      pathToFileURL(join(report.dir, 'index.html')).href,
    ],
    {stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000},
  )
} finally {
  rmSync(profile, {recursive: true, force: true})
}
const img = await loadImage(readFileSync(shot))
const c = createCanvas(img.width, img.height)
const ctx = c.getContext('2d')
ctx.drawImage(img, 0, 0)
const d = ctx.getImageData(0, 0, img.width, img.height).data
let ink = 0
for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 3 * 235) ink++
console.log(
  `screenshot: ${shot}, ${img.width}×${img.height}, ${((100 * ink) / (img.width * img.height)).toFixed(1)} % non-white pixels, chromium took ${Date.now() - t} ms`,
)
