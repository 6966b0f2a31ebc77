/**
 * The network term of the speed model for llama.cpp RPC devices (issue 15): what crosses between
 * hosts, and what that costs over the link.
 *
 * ggml's scheduler runs a graph as splits, one per run of nodes on the same backend. Where a
 * split on an RPC device follows one on another host (or precedes one), the tensor that crosses is
 * the hidden state between layers: n_embd f32 values per token (the activations ggml passes
 * between layers are F32). Per crossing the client uploads it (SET_TENSOR, no answer), the server
 * computes (GRAPH_COMPUTE, no answer) and the next split on the other side fetches the result
 * (GET_TENSOR: one request/answer round trip that also waits for the compute). When the output
 * layer is on a remote device its logits cross too: n_vocab × 4 bytes for each token whose logits
 * are read (every token in decode; the last of a ubatch in prefill). So:
 *
 *   t = crossings × RTT + bytes ÷ bandwidth
 *   bytes = crossings × n_embd × 4 × tokens (+ n_vocab × 4 when the logits are remote)
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
  /** host boundaries along the layer sequence: one round trip each */
  crossings: number
  bytes: number
}

/**
 * The traffic of one step: `tokens` tokens of hidden state at each crossing, plus one token's
 * logits (n_vocab × 4 B) when the output layer is on a remote device.
 */
export function rpcTraffic(a: {
  crossings: number
  nEmbd: number
  tokens: number
  logitsRemote: boolean
  nVocab: number
}): RpcTraffic {
  if (a.crossings <= 0) return {crossings: 0, bytes: 0}
  const logits = a.logitsRemote ? a.nVocab * HIDDEN_STATE_BYTES_PER_ELEMENT : 0
  return {crossings: a.crossings, bytes: a.crossings * crossingBytes(a.nEmbd, a.tokens) + logits}
}

/** Seconds the network adds to one step. */
export function rpcTransferSeconds(t: RpcTraffic, link: RpcLinkModel, k: keyof Range): number {
  if (t.crossings <= 0) return 0
  return t.crossings * link.rttS[k] + t.bytes / link.bytesPerS[k]
}

/** The assumption in words, for a plan's speed notes. */
export function rpcTransferWords(decode: RpcTraffic, prefill: RpcTraffic, ubatch: number, link: RpcLinkModel): string {
  const ms = (s: number) => +(s * 1e3).toFixed(2)
  const gbs = (b: number) => +(b / 1e9).toFixed(2)
  return (
    `network (RPC): ${decode.crossings} host crossings per token, each a round trip of ${ms(link.rttS.high)}–${ms(link.rttS.low)} ms;` +
    ` ${decode.bytes} B cross per token, ${prefill.bytes} B per ubatch of ${ubatch} (hidden state n_embd × 4 B per token per crossing, logits when the output is remote)` +
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
