/**
 * A round's passes (issue 13): how rounds.ts spreads each test's repetitions over its round.
 *
 * On a 2-vCPU guest two-thread decode flips between the machine's own speed and about half of it
 * (another guest holding the second vCPU), in episodes from under a second to many seconds: tiny
 * tg64 at two threads measured 1 161, 1 284, 1 370, 1 993, 2 163 t/s in five back-to-back
 * repetitions, and a whole 7-second round at ≈ 1 250. A test whose repetitions all run together
 * sees one moment of the round; two runs of the same test in the same rounds came out 20–25 % apart
 * (bench/speed-fidelity passes 29–31). Spread, a decode test's repetitions run one per pass, and the
 * passes go round every test, so each test is sampled across the whole round.
 *
 * Decode (tg) tests spread: their warm-up is one token. A prompt (pp) test keeps its repetitions
 * together (its warm-up is a whole prompt run) in the first pass, where the unspread round had it;
 * so does a decode test at depth (its context is filled by a prompt run once per bench call, then
 * restored for the other repetitions). Tried and not kept: the pp tests taking the passes in turn —
 * in bench/speed-fidelity pass 32 three small-shape pp rows fell 27–34 % below their twins (a pp
 * test then follows another model's decode instead of its own model's).
 */

/** What one pass of a round runs: test (config) indexes with their repetition counts, in test order. */
export type RoundPass = Array<{config: number; reps: number}>

/** The passes of one round (pure): every config's reps in total, each config at least once. */
export function roundPasses(
  configs: Array<{reps: number; test: {nPrompt: number; nGen: number; nDepth?: number}}>,
  spread: boolean,
): RoundPass[] {
  const spreads = (c: (typeof configs)[number]) => spread && c.test.nPrompt === 0 && c.test.nGen > 0 && !c.test.nDepth
  const n = Math.max(1, ...configs.map((c) => (spreads(c) ? c.reps : 1)))
  const passes: RoundPass[] = Array.from({length: n}, () => [])
  for (const [i, c] of configs.entries()) {
    if (!spreads(c)) {
      // not spread: the whole test in the first pass
      passes[0].push({config: i, reps: c.reps})
      continue
    }
    // c.reps ≤ n: one repetition in each of c.reps passes spaced evenly over the n, the first in
    // pass 0 (a round the budget cuts short still gives every test what it ran there)
    for (let j = 0; j < c.reps; j++) passes[Math.floor((j * n) / c.reps)].push({config: i, reps: 1})
  }
  return passes.filter((p) => p.length > 0)
}
