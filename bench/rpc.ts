#!/usr/bin/env -S node --import tsx
/**
 * bench/rpc — llama.cpp RPC on loopback (issue 15), two checks side by side in one run:
 *
 * 1. Parity: our `bench --rpc` beside llama.cpp's own llama-bench `--rpc` of the same release, on
 *    the same split (synth tiny, -ngl 99 -ts 1,1 over two `moerig rpc-server`s on 127.0.0.1),
 *    interleaved round by round. Prints ours / llama-bench for pp and tg (goal ≥ 0.95).
 * 2. The speed model's network term (planner/rpc.ts) for two splits over one loopback server that
 *    differ only in where the output layer is (remote: each token's logits cross; local: the
 *    hidden state comes back): the decode time difference it predicts with the link measured as
 *    `calibrate --rpc` measures it, beside the measured difference (best repetitions). On
 *    loopback the remote compute is this CPU too.
 *
 * Run:   npm run bench:rpc
 *        npm run bench:rpc -- --rounds 5 -p 64 -n 32 -r 5
 * Needs: a built addon and build/rpc (npm install), g++ for llama-bench (bench/runner-parity.ts).
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {createServer} from 'node:net'
import {loadavg} from 'node:os'
import {basename, join} from 'node:path'
import {parseArgs} from 'node:util'
import {projectRoot, rpcBuildDir} from '../src/lib/paths.js'
import {runBench} from '../src/runner/bench.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {measureRpcLink} from '../src/runner/rpc-link.js'
import {measuredLink, rpcTraffic, rpcTransferSeconds} from '../src/planner/rpc.js'
import {readGguf} from '../src/model/gguf.js'
import {inventoryFromGguf} from '../src/model/inventory.js'
import type {RpcEndpoint} from '../src/engine/rpc.js'
import {compileLlamaBench} from './runner-parity.js'

const GOAL = 0.95

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as {port: number}).port
      s.close(() => resolve(port))
    })
  })
}

/** A loopback server computing with `threads` threads (as many as the local side: same compute). */
async function startServer(threads: number): Promise<{e: RpcEndpoint; proc: ChildProcess}> {
  const port = await freePort()
  const args = ['rpc-server', '--port', String(port), '--threads', String(threads)]
  const proc = spawn(process.execPath, [join(projectRoot, 'bin', 'run.js'), ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`rpc-server on ${port} did not start`)), 60_000)
    proc.stdout!.on('data', (d) => {
      out += d
      if (/^serving /m.test(out)) {
        clearTimeout(t)
        resolve()
      }
    })
    proc.on('exit', (c) => reject(new Error(`rpc-server on ${port} exited (${c})`)))
  })
  return {e: {host: '127.0.0.1', port}, proc}
}

interface Pair {
  pp: number | null
  tg: number | null
}

/** llama-bench -o json, from build/rpc/ (ggml_backend_load_all finds libggml-rpc.so and the CPU variants there). */
function llamaBench(
  exe: string,
  model: string,
  rpc: RpcEndpoint[],
  a: {p: number; n: number; r: number; t: number},
): Pair {
  const out = execFileSync(
    exe,
    [
      '-m',
      model,
      '--rpc',
      rpc.map((e) => `${e.host}:${e.port}`).join(','),
      '-ngl',
      '99',
      '-ts',
      '1/1',
      '-p',
      String(a.p),
      '-n',
      String(a.n),
      '-r',
      String(a.r),
      '-t',
      String(a.t),
      '-o',
      'json',
    ],
    {cwd: rpcBuildDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 2 ** 20},
  )
  const rows = JSON.parse(out) as Array<{n_prompt: number; n_gen: number; avg_ts: number; backends?: string}>
  return {
    pp: rows.find((x) => x.n_prompt > 0 && x.n_gen === 0)?.avg_ts ?? null,
    tg: rows.find((x) => x.n_gen > 0 && x.n_prompt === 0)?.avg_ts ?? null,
  }
}

async function ours(
  model: string,
  rpc: RpcEndpoint[],
  ngl: number,
  split: number[],
  a: {p: number; n: number; r: number; t: number},
): Promise<Pair> {
  const res = await runBench({
    path: model,
    nPrompt: [a.p],
    nGen: [a.n],
    reps: a.r,
    threads: a.t,
    runsDir: null,
    rpc,
    placement: {nGpuLayers: ngl, tensorSplit: split},
  })
  return {
    pp: res.results.find((x) => x.nPrompt > 0)?.tps.mean ?? null,
    tg: res.results.find((x) => x.nGen > 0)?.tps.mean ?? null,
  }
}

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN
}
const f = (x: number | null) => (x === null ? '     n/a' : x.toFixed(2).padStart(8))

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      rounds: {type: 'string', default: '3'},
      p: {type: 'string', short: 'p', default: '64'},
      n: {type: 'string', short: 'n', default: '32'},
      r: {type: 'string', short: 'r', default: '3'},
      t: {type: 'string', short: 't', default: '1'},
    },
  })
  const [rounds, p, n, r, t] = [values.rounds, values.p, values.n, values.r, values.t].map(Number)
  const a = {p, n, r, t}
  const model = await cachedSynthModel({preset: 'tiny'})
  const exe = compileLlamaBench()
  const servers = await Promise.all([startServer(t), startServer(t)])
  const rpc = servers.map((s) => s.e)
  try {
    console.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (noisy on a shared machine)`,
    )
    console.log(
      `1. parity: synth tiny, -ngl 99 -ts 1,1 over ${rpc.map((e) => `${e.host}:${e.port}`).join(', ')}, -t ${t}`,
    )
    console.log('round   llama-bench pp   ours pp   llama-bench tg   ours tg   (t/s)')
    const lb = {pp: [] as number[], tg: [] as number[]}
    const us = {pp: [] as number[], tg: [] as number[]}
    for (let i = 0; i < rounds; i++) {
      // alternate who goes first: machine noise hits both alike
      const x = i % 2 === 0 ? llamaBench(exe, model, rpc, a) : await ours(model, rpc, 99, [1, 1], a)
      const y = i % 2 === 0 ? await ours(model, rpc, 99, [1, 1], a) : llamaBench(exe, model, rpc, a)
      const [l, o] = i % 2 === 0 ? [x, y] : [y, x]
      for (const k of ['pp', 'tg'] as const) {
        if (l[k] !== null) lb[k].push(l[k]!)
        if (o[k] !== null) us[k].push(o[k]!)
      }
      console.log(`${String(i + 1).padStart(5)}   ${f(l.pp)}       ${f(o.pp)}  ${f(l.tg)}        ${f(o.tg)}`)
    }
    for (const k of ['pp', 'tg'] as const) {
      const ratio = med(us[k]) / med(lb[k])
      console.log(
        `${k}: ours / llama-bench = ${ratio.toFixed(3)} (medians ${med(us[k]).toFixed(2)} / ${med(lb[k]).toFixed(2)} t/s) ${ratio >= GOAL ? 'meets' : 'MISSES'} the goal ≥ ${GOAL}`,
      )
    }

    // 2. the network term, from what differs between two splits over one server: with the output
    // layer remote (-ngl 99) each token's logits cross (n_vocab × 4 B) and the hidden state goes
    // out once; with it local (-ngl n_layer) the hidden state goes out and comes back. The compute
    // is the same CPU either way. qwen3moe-tiny: a 151 936-token vocabulary, 594 KiB of logits.
    const qwen = await cachedSynthModel({preset: 'qwen3moe-tiny'})
    const {nEmbd, nVocab, nLayer} = inventoryFromGguf(await readGguf(qwen)).shape.hp
    console.log(
      `\n2. network term: ${basename(qwen)} over one loopback server, output remote (-ngl 99) vs local (-ngl ${nLayer}), -t ${t}`,
    )
    const link = await measureRpcLink(rpc[0])
    console.log(
      `link (calibrate --rpc): round trip ${link.rttUs} µs, ${link.uploadGBs} GB/s up, ${link.downloadGBs} GB/s down (measured)`,
    )
    const remoteOut = rpcTraffic({crossings: 1, nEmbd, tokens: 1, logitsRemote: true, nVocab})
    const localOut = rpcTraffic({crossings: 2, nEmbd, tokens: 1, logitsRemote: false, nVocab})
    const lm = measuredLink(link)
    const predictedMs = (rpcTransferSeconds(remoteOut, lm, 'mid') - rpcTransferSeconds(localOut, lm, 'mid')) * 1e3
    // best repetition of each (contention only slows), alternating the order
    const best = {remote: Infinity, local: Infinity}
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? (['remote', 'local'] as const) : (['local', 'remote'] as const)
      for (const w of order) {
        const res = await runBench({
          path: qwen,
          nPrompt: [0],
          nGen: [n],
          reps: r,
          threads: t,
          runsDir: null,
          rpc: [rpc[0]],
          placement: {nGpuLayers: w === 'remote' ? 99 : nLayer},
        })
        for (const x of res.results[0].samples) best[w] = Math.min(best[w], 1000 / x)
      }
    }
    const measuredMs = best.remote - best.local
    console.log(
      `decode, best repetition: output remote ${best.remote.toFixed(3)} ms/token, local ${best.local.toFixed(3)} ms/token: difference ${measuredMs.toFixed(3)} ms (measured)`,
    )
    console.log(
      `planner: output remote ${remoteOut.crossings} round trip + ${remoteOut.bytes} B, local ${localOut.crossings} round trips + ${localOut.bytes} B per token: difference ${predictedMs.toFixed(3)} ms predicted with the measured link; predicted / measured = ${(predictedMs / measuredMs).toFixed(2)}`,
    )
    console.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    )
  } finally {
    for (const s of servers) s.proc.kill('SIGINT')
  }
}

main().catch((e: unknown) => {
  console.error(`bench/rpc: error: ${(e as Error).message.split('\n')[0]}`)
  process.exit(1)
})
