#!/usr/bin/env -S node --import tsx
/**
 * bench/rpc — llama.cpp RPC on loopback (issue 15), two checks side by side in one run:
 *
 * 1. Parity: our `bench --rpc` beside llama.cpp's own llama-bench `--rpc` of the same release, on
 *    the same split (synth tiny, -ngl 99 -ts 1,1 over two `moerig rpc-server`s on 127.0.0.1),
 *    interleaved round by round. Prints ours / llama-bench for pp and tg (goal ≥ 0.95).
 * 2. The speed model's network term (planner/rpc.ts) on a split whose output layer is remote
 *    (qwen3moe-tiny, 594 KiB of logits per token): the traffic per decoded token counted by a TCP
 *    proxy (bytes each way, round trips) beside the planner's, and the cost per token of a delay
 *    the proxy adds each way beside what the planner's round trips predict. (A comparison of
 *    timings alone, remote vs local, drowns in the machine's noise on loopback.)
 *
 * Run:   npm run bench:rpc
 *        npm run bench:rpc -- --rounds 5 -p 64 -n 32 -r 5
 * Needs: a built addon and build/rpc (npm install), g++ for llama-bench (bench/runner-parity.ts).
 */
import {execFileSync} from 'node:child_process'
import {connect, createServer, type Socket} from 'node:net'
import {loadavg} from 'node:os'
import {basename} from 'node:path'
import {parseArgs} from 'node:util'
import {rpcBuildDir} from '../src/lib/paths.js'
import {runBench} from '../src/runner/bench.js'
import {cachedSynthModel} from '../src/runner/synth.js'
import {measureRpcLink} from '../src/runner/rpc-link.js'
import {measuredLink, rpcTraffic, rpcTransferSeconds} from '../src/planner/rpc.js'
import {readGguf} from '../src/model/gguf.js'
import {inventoryFromGguf} from '../src/model/inventory.js'
import type {RpcEndpoint} from '../src/engine/rpc.js'
import {compileLlamaBench} from './runner-parity.js'
import {startServer, stopServer} from '../test/support/rpc-helpers.js'

const GOAL = 0.95

/**
 * A TCP proxy to an RPC server on loopback that counts bytes each way and turnarounds (the first
 * bytes back after bytes out: one answered request), and can delay every chunk by `delayMs` each
 * way (order kept: equal timers fire in order).
 */
async function countingProxy(to: RpcEndpoint) {
  const count = {up: 0, down: 0, turns: 0}
  const state = {delayMs: 0}
  let last: 'up' | 'down' = 'down'
  const sockets = new Set<Socket>()
  const later = (fn: () => void) => (state.delayMs > 0 ? setTimeout(fn, state.delayMs) : fn())
  const server = createServer((c) => {
    const s = connect(to.port, to.host)
    for (const x of [c, s]) {
      sockets.add(x)
      x.setNoDelay(true)
      x.on('error', () => {})
      x.on('close', () => {
        sockets.delete(x)
        c.destroy()
        s.destroy()
      })
    }
    c.on('data', (d: Buffer) => {
      count.up += d.length
      last = 'up'
      later(() => s.write(d))
    })
    s.on('data', (d: Buffer) => {
      count.down += d.length
      if (last === 'up') count.turns++
      last = 'down'
      later(() => c.write(d))
    })
  })
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as {port: number}).port)),
  )
  return {
    e: {host: '127.0.0.1', port} as RpcEndpoint,
    count,
    set delayMs(v: number) {
      state.delayMs = v
    },
    reset() {
      count.up = count.down = count.turns = 0
    },
    close() {
      for (const x of sockets) x.destroy()
      server.close()
    },
  }
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
  const servers = await Promise.all([0, 1].map(() => startServer(['--threads', String(t)])))
  const rpc: RpcEndpoint[] = servers.map((s) => ({host: '127.0.0.1', port: s.port}))
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

    // 2. the network term on the split with the output layer remote (-ngl 99): each token's
    // logits cross (n_vocab × 4 B) and the hidden state goes out once. qwen3moe-tiny has a
    // 151 936-token vocabulary: 594 KiB of logits per token.
    const qwen = await cachedSynthModel({preset: 'qwen3moe-tiny'})
    const {nEmbd, nVocab} = inventoryFromGguf(await readGguf(qwen)).shape.hp
    console.log(`\n2. network term: ${basename(qwen)} over one loopback server, -ngl 99, -t ${t}`)
    const link = await measureRpcLink(rpc[0])
    console.log(
      `link (calibrate --rpc): round trip ${link.rttUs} µs, ${link.uploadGBs} GB/s up, ${link.downloadGBs} GB/s down (measured)`,
    )
    // -ngl 99: the embeddings on the CPU, every layer and the output on the server
    const remoteOut = rpcTraffic({onto: 1, off: 0, outputRemote: true, nEmbd, nVocab, tokens: 1})
    console.log(
      `planner: ${remoteOut.roundTrips} round trip + ${remoteOut.bytes} B per token = ${(rpcTransferSeconds(remoteOut, measuredLink(link), 'mid') * 1e3).toFixed(3)} ms per token on this link`,
    )
    // What really crosses: the same split through a counting TCP proxy (bytes each way, and
    // turnarounds = answers, each the end of a round trip), per decoded token from two runs that
    // differ only in their token count; then the proxy adds a one-way delay, so each round trip
    // costs 2 × delay more, beside the round trips the planner counts.
    const proxy = await countingProxy(rpc[0])
    try {
      const traffic = async (tokens: number) => {
        proxy.reset()
        await runBench({
          path: qwen,
          nPrompt: [0],
          nGen: [tokens],
          reps: 1,
          warmup: false,
          threads: t,
          runsDir: null,
          rpc: [proxy.e],
          placement: {nGpuLayers: 99},
        })
        return {...proxy.count}
      }
      const [n1, n2] = [8, 40]
      const c1 = await traffic(n1)
      const c2 = await traffic(n2)
      const per = (k: keyof typeof c1) => (c2[k] - c1[k]) / (n2 - n1)
      console.log(
        `traffic per decoded token, through a counting proxy: ${per('up').toFixed(0)} B to the server, ${per('down').toFixed(0)} B back, ${per('turns').toFixed(2)} round trips (measured); planner: ${remoteOut.bytes} B, ${remoteOut.roundTrips} round trip`,
      )
      const delayMs = 2
      const tpot = async (delay: number) => {
        proxy.delayMs = delay
        let bestMs = Infinity
        for (let i = 0; i < rounds; i++) {
          const res = await runBench({
            path: qwen,
            nPrompt: [0],
            nGen: [n],
            reps: r,
            threads: t,
            runsDir: null,
            rpc: [proxy.e],
            placement: {nGpuLayers: 99},
          })
          for (const x of res.results[0].samples) bestMs = Math.min(bestMs, 1000 / x)
        }
        return bestMs
      }
      const fast = await tpot(0)
      const slow = await tpot(delayMs)
      console.log(
        `with ${delayMs} ms added each way: ${slow.toFixed(2)} vs ${fast.toFixed(2)} ms/token = +${(slow - fast).toFixed(2)} ms (measured, best repetitions); ` +
          `the planner's ${remoteOut.roundTrips} round trip per token predicts +${(remoteOut.roundTrips * 2 * delayMs).toFixed(2)} ms, the measured ${per('turns').toFixed(2)} round trips +${(per('turns') * 2 * delayMs).toFixed(2)} ms`,
      )
    } finally {
      proxy.close()
    }
    console.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    )
  } finally {
    await Promise.all(servers.map((s) => stopServer(s)))
  }
}

main().catch((e: unknown) => {
  console.error(`bench/rpc: error: ${(e as Error).message.split('\n')[0]}`)
  process.exit(1)
})
