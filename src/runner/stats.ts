/** Summary statistics as llama-bench computes them (sample standard deviation, n − 1). */

export function mean(v: number[]): number {
  return v.length === 0 ? 0 : v.reduce((s, x) => s + x, 0) / v.length
}

/** The geometric mean of positive values (1 for no values). */
export function geomean(v: number[]): number {
  return Math.exp(mean(v.map(Math.log)))
}

/** The middle value (the mean of the two middle ones for an even count); null for no values. */
export function median(v: number[]): number | null {
  if (v.length === 0) return null
  const s = [...v].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * The q-quantile (0 … 1) by linear interpolation between order statistics (numpy's default, R type
 * 7): of [a, b], a + q (b − a); null for no values.
 */
export function quantile(v: number[], q: number): number | null {
  if (v.length === 0) return null
  const s = [...v].sort((a, b) => a - b)
  const p = Math.min(1, Math.max(0, q)) * (s.length - 1)
  const i = Math.floor(p)
  return i + 1 < s.length ? s[i] + (p - i) * (s[i + 1] - s[i]) : s[i]
}

/** llama-bench's stdev: 0 for fewer than two samples. */
export function stdev(v: number[]): number {
  if (v.length <= 1) return 0
  const m = mean(v)
  const ss = v.reduce((s, x) => s + (x - m) ** 2, 0)
  return Math.sqrt(ss / (v.length - 1))
}

/** tokens/s of each repetition: (nPrompt + nGen) tokens in ns nanoseconds. */
export function tokensPerSecond(samplesNs: number[], nTokens: number): number[] {
  return samplesNs.map((ns) => (1e9 * nTokens) / ns)
}

/** "pp512", "tg128", "pp512+tg128" (llama-bench naming). */
export function testName(nPrompt: number, nGen: number, nDepth = 0): string {
  // llama-bench's names: pp512, tg128, pp512 @ d4096
  const at = nDepth > 0 ? ` @ d${nDepth}` : ''
  if (nPrompt > 0 && nGen === 0) return `pp${nPrompt}${at}`
  if (nGen > 0 && nPrompt === 0) return `tg${nGen}${at}`
  return `pp${nPrompt}+tg${nGen}${at}`
}

/** The context a test needs: depth, prompt and generated tokens (llama-bench's n_ctx for a test). */
export function testContext(t: {nPrompt: number; nGen: number; nDepth?: number}): number {
  return (t.nDepth ?? 0) + t.nPrompt + t.nGen
}

/** Solve a 3×3 linear system (Cramer); null when singular. */
export function solve3(m: number[][], y: number[]): number[] | null {
  const det = (a: number[][]) =>
    a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
    a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
    a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
  const d = det(m)
  if (!Number.isFinite(d) || Math.abs(d) < 1e-30) return null
  return [0, 1, 2].map((c) => det(m.map((row, i) => row.map((v, j) => (j === c ? y[i] : v)))) / d)
}
