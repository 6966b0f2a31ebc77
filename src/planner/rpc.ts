/**
 * The network term of the speed model for llama.cpp RPC devices (issue 15): what crosses between
 * hosts, and what that costs over the link.
 *
 * ggml's scheduler runs a graph as splits, one per run of nodes on the same backend. Where the
 * layer sequence (embeddings on the CPU, the layers, the output) moves onto a remote device, the
 * client uploads the hidden state, n_embd F32 values per token (SET_TENSOR, no answer), and the
 * server computes (GRAPH_COMPUTE, no answer: the graph itself is sent once and recomputed). Where
 * it moves off a remote device, or ends on one (the logits, n_vocab × 4 B for each token whose
 * logits are read: every token in decode, the last of a ubatch in prefill), the client fetches
 * the result (GET_TENSOR): one round trip, which also waits for the compute. So per step:
 *
 *   t = round trips × RTT + bytes ÷ bandwidth
 *   round trips = moves off a remote device (+ 1 when the output is remote)
 *   bytes = moves onto or off a remote device × n_embd × 4 × tokens (+ n_vocab × 4, output remote)
 *
 * Counted through a proxy on loopback (npm run bench:rpc, qwen3moe-tiny, output remote): per
 * decoded token 607 752 B back (the logits) + 3 260 B out (hidden state, positions, mask) in 1.00
 * round trips; per prefill ubatch of 64, 69 kB out (32 kB of it hidden state) and the last token's
 * logits back in 1.00 round trips.
 *
 * Constants below are assumptions for a LAN unless a link was measured (`moerig calibrate --rpc`,
 * src/runner/rpc-link.ts), which replaces both by the measured figures × RPC_MEASURED_SPREAD.
 */
import type {Range} from './speed.js'

/** Bytes per element of the hidden state that crosses between splits (F32 activations). */
export const HIDDEN_STATE_BYTES_PER_ELEMENT = 4

/**
 * Round trip per crossing on an unmeasured LAN (request/answer, TCP, small payload): 2 / 1 / 0.3 ms
 * low / mid / high. An assumption: a switched 1–10 GbE LAN pings 0.1–0.5 ms; llama.cpp's
 * dispatcher and the server's command handling add to that.
 */
export const RPC_RTT_S: Range = {low: 2e-3, mid: 1e-3, high: 0.3e-3}

/**
 * Payload bandwidth of an unmeasured link, bytes/s: 1 GbE (≈ 0.117 GB/s of TCP payload) low,
 * 10 GbE (≈ 1.17 GB/s) mid, 25 GbE (≈ 2.9 GB/s) high. An assumption: the Ethernet classes people
 * link two machines with.
 */
export const RPC_BANDWIDTH_BPS: Range = {low: 0.117e9, mid: 1.17e9, high: 2.9e9}

/** A measured link is trusted to ± this (loopback repeat-to-repeat spread under load; an assumption). */
export const RPC_MEASURED_SPREAD: Range = {low: 0.7, mid: 1, high: 1.3}

/** A link between the host that runs the model and one RPC server. */
export interface RpcLinkModel {
  rttS: Range
  bytesPerS: Range
  source: 'assumed' | 'measured'
}

export const ASSUMED_LINK: RpcLinkModel = {rttS: RPC_RTT_S, bytesPerS: RPC_BANDWIDTH_BPS, source: 'assumed'}

/** From a measurement (calibrate --rpc): µs round trip, GB/s each way (the slower direction counts). */
export function measuredLink(m: {rttUs: number; uploadGBs: number; downloadGBs: number}): RpcLinkModel {
  const bw = Math.min(m.uploadGBs, m.downloadGBs) * 1e9
  const rtt = m.rttUs * 1e-6
  const s = RPC_MEASURED_SPREAD
  return {
    // slow end: a longer round trip and a narrower pipe
    rttS: {low: rtt / s.low, mid: rtt / s.mid, high: rtt / s.high},
    bytesPerS: {low: bw * s.low, mid: bw * s.mid, high: bw * s.high},
    source: 'measured',
  }
}

/** Bytes of hidden state one crossing moves for `tokens` tokens. */
export function crossingBytes(nEmbd: number, tokens: number): number {
  return nEmbd * HIDDEN_STATE_BYTES_PER_ELEMENT * tokens
}

/** What crosses between hosts for one step (a decoded token, or a prefill ubatch). */
export interface RpcTraffic {
  /** results fetched back from a remote device: one request/answer round trip each */
  roundTrips: number
  bytes: number
}

/** Along a device sequence (first: where the embeddings are, "CPU"; last: the output's device), the moves onto and off remote devices. */
export function rpcCrossings(
  sequence: string[],
  isRemote: (device: string) => boolean,
): {onto: number; off: number; outputRemote: boolean} {
  let onto = 0,
    off = 0
  for (let i = 1; i < sequence.length; i++) {
    const [a, b] = [sequence[i - 1], sequence[i]]
    if (a === b) continue
    if (isRemote(b)) onto++
    if (isRemote(a)) off++
  }
  return {onto, off, outputRemote: sequence.length > 0 && isRemote(sequence[sequence.length - 1])}
}

/** The traffic of one step of `tokens` tokens over the crossings of `rpcCrossings`. */
export function rpcTraffic(a: {
  onto: number
  off: number
  outputRemote: boolean
  nEmbd: number
  nVocab: number
  tokens: number
}): RpcTraffic {
  const logits = a.outputRemote ? a.nVocab * HIDDEN_STATE_BYTES_PER_ELEMENT : 0
  return {
    roundTrips: a.off + (a.outputRemote ? 1 : 0),
    bytes: (a.onto + a.off) * crossingBytes(a.nEmbd, a.tokens) + logits,
  }
}

/** Seconds the network adds to one step. */
export function rpcTransferSeconds(t: RpcTraffic, link: RpcLinkModel, k: keyof Range): number {
  return t.roundTrips * link.rttS[k] + t.bytes / link.bytesPerS[k]
}

/** The assumption in words, for a plan's speed notes. */
export function rpcTransferWords(decode: RpcTraffic, prefill: RpcTraffic, ubatch: number, link: RpcLinkModel): string {
  const ms = (s: number) => +(s * 1e3).toFixed(2)
  const gbs = (b: number) => +(b / 1e9).toFixed(2)
  return (
    `network (RPC): ${decode.roundTrips} round trip${decode.roundTrips === 1 ? '' : 's'} per token of ${ms(link.rttS.high)}–${ms(link.rttS.low)} ms (a result fetched from a remote device);` +
    ` ${decode.bytes} B cross per token, ${prefill.bytes} B per ubatch of ${ubatch} (hidden state n_embd × 4 B per token at each move between hosts, the logits when the output is remote)` +
    ` at ${gbs(link.bytesPerS.low)}–${gbs(link.bytesPerS.high)} GB/s (${link.source === 'measured' ? 'measured link, moerig calibrate --rpc' : 'assumed 1–25 GbE LAN; moerig calibrate --rpc measures it'})`
  )
}

/** The link the plan's remote hosts are reached over: the slowest measured one (calibrate --rpc), else the assumption. */
export function planLink(
  links: Array<{rttUs: number; uploadGBs: number; downloadGBs: number}> | undefined,
): RpcLinkModel {
  if (!links?.length) return ASSUMED_LINK
  const worst = links.reduce((w, l) => ({
    rttUs: Math.max(w.rttUs, l.rttUs),
    uploadGBs: Math.min(w.uploadGBs, l.uploadGBs),
    downloadGBs: Math.min(w.downloadGBs, l.downloadGBs),
  }))
  return measuredLink(worst)
}
