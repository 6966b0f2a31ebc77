#!/usr/bin/env -S node --import tsx
/**
 * bench/membw — our STREAM triad (native addon, src/engine/membw.ts) beside a plain C triad loop
 * compiled here at run time with `gcc -O3 -fopenmp`, run with the same threads pinned to the same
 * CPUs (one per physical core per NUMA node) and the same array size, interleaved round by round
 * so that machine noise hits both alike. Prints each round, the best of each and the ratio
 * ours/plain (goal ≥ 0.9).
 *
 * Run:   npm run bench:membw                      (or: node --import tsx bench/membw.ts)
 *        npm run bench:membw -- --rounds 5 --array-mib 512 --repetitions 20
 * Needs: gcc with OpenMP (Debian: gcc + libgomp), a built addon (npm run build:native).
 * Writes only build/membw-plain/ (the C source and binary).
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {projectRoot} from '../src/lib/paths.js'
import {type MemBwNode, type MemBwOptions, type MemBwResult} from '../src/engine/addon.js'
import {MEMBW_DEFAULT_REPETITIONS, measureMemBandwidth, membwArrayBytesPerThread} from '../src/engine/membw.js'

const ROUNDS_DEFAULT = 3
const GOAL_RATIO = 0.9

// The plain loop: STREAM's triad, static OpenMP schedule, parallel first touch (so each thread's
// chunk lands on its node, as ours does), one warm-up pass, best of `reps` timed passes.
const PLAIN_C = String.raw`#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: triad ELEMENTS REPS\n"); return 2; }
  const long n = atol(argv[1]); const int reps = atoi(argv[2]); const double s = 3.0;
  double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
  if (!a || !b || !c) { fprintf(stderr, "out of memory\n"); return 1; }
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) { a[i] = 1.0; b[i] = 2.0; c[i] = 0.5; }
  double best = 1e30;
  for (int k = 0; k <= reps; k++) {
    double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
    t = omp_get_wtime() - t;
    if (k > 0 && t < best) best = t;
  }
  if (a[0] != 3.5 || a[n - 1] != 3.5) { fprintf(stderr, "wrong result\n"); return 1; }
  printf("{\"triadGBs\": %.6f, \"threads\": %d}\n", 24.0 * (double)n / best / 1e9, omp_get_max_threads());
  return 0;
}
`

/** Sysfs node list with one CPU per physical core (lowest thread sibling); one node of all CPUs if hidden. */
function readNodes(): MemBwNode[] {
  const read = (p: string): string | null => {
    try {
      return readFileSync(p, 'utf8').trim()
    } catch {
      return null
    }
  }
  const parseList = (s: string): number[] =>
    s
      .split(',')
      .filter(Boolean)
      .flatMap((r) => {
        const [lo, hi = lo] = r.split('-').map(Number)
        return Array.from({length: hi - lo + 1}, (_, i) => lo + i)
      })
  const base = '/sys/devices/system/node'
  const ids = existsSync(base)
    ? readdirSync(base)
        .filter((d) => /^node\d+$/.test(d))
        .map((d) => Number(d.slice(4)))
        .sort((x, y) => x - y)
    : []
  const nodes = ids
    .map((id) => ({id, cpus: parseList(read(`${base}/node${id}/cpulist`) ?? '')}))
    .filter((n) => n.cpus.length > 0)
  const all = nodes.length > 0 ? nodes : [{id: 0, cpus: Array.from({length: availableParallelism()}, (_, i) => i)}]
  return all.map((n) => ({
    id: n.id,
    cpus: n.cpus.filter((c) => {
      const sib = read(`/sys/devices/system/cpu/cpu${c}/topology/thread_siblings_list`)
      return sib === null || Math.min(...parseList(sib)) === c
    }),
  }))
}

/** Sum of distinct L3 caches from sysfs, or null when the platform hides them (common in VMs). */
function readLlcBytes(): number | null {
  const seen = new Map<string, number>()
  const cpuDir = '/sys/devices/system/cpu'
  for (const d of readdirSync(cpuDir).filter((x) => /^cpu\d+$/.test(x))) {
    const cache = join(cpuDir, d, 'cache')
    if (!existsSync(cache)) continue
    for (const idx of readdirSync(cache).filter((x) => x.startsWith('index'))) {
      const p = join(cache, idx)
      try {
        if (readFileSync(join(p, 'level'), 'utf8').trim() !== '3') continue
        const size = /^(\d+)K$/.exec(readFileSync(join(p, 'size'), 'utf8').trim())
        if (size) seen.set(readFileSync(join(p, 'shared_cpu_list'), 'utf8').trim(), Number(size[1]) * 1024)
      } catch {
        // an unreadable cache entry only makes the size unknown
      }
    }
  }
  return seen.size > 0 ? [...seen.values()].reduce((x, y) => x + y, 0) : null
}

function compilePlain(): string {
  const dir = join(projectRoot, 'build', 'membw-plain')
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, 'triad.c'), PLAIN_C)
  const exe = join(dir, 'triad')
  try {
    execFileSync('gcc', ['-O3', '-fopenmp', '-o', exe, join(dir, 'triad.c')], {stdio: ['ignore', 'ignore', 'pipe']})
  } catch (e) {
    const err = e as {code?: string; stderr?: Buffer}
    const why =
      err.code === 'ENOENT'
        ? 'gcc not found on PATH'
        : String(err.stderr ?? e)
            .trim()
            .split('\n')[0]
    throw new Error(`could not compile the plain C triad (${why}); needs gcc with OpenMP`, {cause: e})
  }
  return exe
}

function runPlain(exe: string, cpus: number[], elements: number, reps: number): number {
  // One OpenMP place per CPU, in our order, bound: thread i runs where our thread i runs.
  const env = {
    ...process.env,
    OMP_NUM_THREADS: String(cpus.length),
    OMP_PLACES: cpus.map((c) => `{${c}}`).join(','),
    OMP_PROC_BIND: 'close',
  }
  const out = execFileSync(exe, [String(elements), String(reps)], {env, encoding: 'utf8'})
  const r = JSON.parse(out) as {triadGBs: number; threads: number}
  if (r.threads !== cpus.length) throw new Error(`plain C ran ${r.threads} threads, expected ${cpus.length}`)
  return r.triadGBs
}

const fmt = (x: number) => x.toFixed(1).padStart(8)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      rounds: {type: 'string', default: String(ROUNDS_DEFAULT)},
      'array-mib': {type: 'string'},
      repetitions: {type: 'string', default: String(MEMBW_DEFAULT_REPETITIONS)},
    },
  })
  const rounds = Number(values.rounds)
  const repetitions = Number(values.repetitions)
  const nodes = readNodes()
  const cpus = nodes.flatMap((n) => n.cpus)
  const llc = readLlcBytes()
  const arrayBytes = values['array-mib']
    ? Number(values['array-mib']) * 2 ** 20
    : membwArrayBytesPerThread(cpus.length, llc)
  if (!Number.isSafeInteger(rounds) || rounds < 1)
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`)
  if (!Number.isSafeInteger(arrayBytes) || arrayBytes < 4096)
    throw new Error(`--array-mib must be a positive number, got ${values['array-mib']}`)
  const opts: MemBwOptions = {nodes, arrayBytesPerThread: arrayBytes, repetitions, perNode: false}
  const exe = compilePlain()
  const elements = Math.floor(arrayBytes / 4096) * 512 // ours rounds to whole pages: same element count

  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
  console.log(
    `membw: ${cpus.length} threads (${nodes.map((n) => `node ${n.id}: cpus ${n.cpus.join(',')}`).join('; ')}), ` +
      `${mib(arrayBytes)} per array per thread (3 arrays, ${mib(3 * arrayBytes * cpus.length)} in all; LLC ${llc === null ? 'unknown' : mib(llc)}), ` +
      `best of ${repetitions} after 1 warm-up, ${rounds} interleaved rounds`,
  )

  const ours: number[] = []
  const oursTemporal: number[] = []
  const plain: number[] = []
  let kernels = ''
  let bestOurs: MemBwResult | undefined
  console.log('round   ours GB/s  ours temporal  plain C -O3 -fopenmp   (triad, 1e9 B/s)')
  for (let r = 1; r <= rounds; r++) {
    const a = await measureMemBandwidth(opts)
    kernels = a.kernels
    if (!bestOurs || a.triadGBs > bestOurs.triadGBs) bestOurs = a
    const t = await measureMemBandwidth({...opts, stores: 'temporal'})
    const p = runPlain(exe, cpus, elements * cpus.length, repetitions)
    ours.push(a.triadGBs)
    oursTemporal.push(t.triadGBs)
    plain.push(p)
    console.log(`${String(r).padStart(5)}  ${fmt(a.triadGBs)}  ${fmt(t.triadGBs)}       ${fmt(p)}`)
  }
  const best = (xs: number[]) => Math.max(...xs)
  console.log(`best   ${fmt(best(ours))}  ${fmt(best(oursTemporal))}       ${fmt(best(plain))}`)
  const ratio = best(ours) / best(plain)
  const perRound = ours.map((x, i) => x / plain[i])
  console.log(
    `ours (${kernels}) / plain C: ${ratio.toFixed(2)} best-vs-best, ${median(perRound).toFixed(2)} median per round ` +
      `(goal ≥ ${GOAL_RATIO}: ${ratio >= GOAL_RATIO ? 'met' : 'NOT met'})`,
  )
  console.log(
    `ours with temporal stores / plain C: ${(best(oursTemporal) / best(plain)).toFixed(2)} (same store kind as the plain loop)`,
  )
  if (bestOurs) {
    const b = bestOurs
    console.log(
      `ours, best round, all kernels (GB/s): copy ${b.copyGBs.toFixed(1)}, scale ${b.scaleGBs.toFixed(1)}, ` +
        `add ${b.addGBs.toFixed(1)}, triad ${b.triadGBs.toFixed(1)}; huge pages ${b.hugePages ? 'advised' : 'not available'}, ` +
        `NUMA bind ${b.numaBind ? 'yes' : 'no'}`,
    )
  }
}

main().catch((e: unknown) => {
  console.error(`bench/membw: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`)
  process.exit(1)
})
