/** Interleaved rounds (src/runner/rounds.ts): several models in one child, tests round after round. */
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {runRounds, roundsTps} from '../../src/runner/rounds.js'
import {synthTiny, tempDir} from '../support/runner-helpers.js'

const dir = tempDir('moerig-rounds-')

test(
  'rounds: two models, tg and pp tests interleaved for every round, the tg repetitions spread over the round; each round keeps its token steps',
  {timeout: 120_000},
  async () => {
    const tiny = synthTiny(dir)
    const order: string[] = []
    const loaded: number[] = []
    const r = await runRounds(
      {
        models: [{path: tiny}, {path: tiny, placement: {mmap: false}}],
        tests: [
          {model: 0, threads: 1, nPrompt: 0, nGen: 8, reps: 2},
          {model: 1, threads: 1, nPrompt: 32, nGen: 0, reps: 1, nUbatch: 32},
        ],
        rounds: 3,
        budgetS: 600,
      },
      {onTest: (round, t) => order.push(`${round}:${t}`), onLoaded: (m) => loaded.push(m)},
    )
    assert.deepEqual(loaded, [0, 1])
    // spread (passes.ts): pass 0 runs the tg test's first repetition and the pp test, pass 1 the
    // tg test's second; a test's round is reported after its last pass
    assert.deepEqual(order, ['0:1', '0:0', '1:1', '1:0', '2:1', '2:0'])
    assert.equal(r.roundsRun, 3)
    assert.equal(r.stopped, false)
    assert.ok(r.llamaRelease && r.cpuVariant !== undefined)
    const [tg, pp] = r.tests
    assert.equal(tg.rounds.length, 3)
    for (const q of tg.rounds) {
      assert.equal(q.samplesNs.length, 2)
      assert.equal(q.tokenNs.length, 2 * 8)
    }
    const s = roundsTps(tg)
    assert.ok(s.decode! > 0 && s.decode! >= s.decodeMedian! && s.decodeMedian! > 0, JSON.stringify(s))
    assert.ok(roundsTps(pp).prefill! > 0)
  },
)

test('rounds: a spent budget still runs the very first test, then stops and says so; a test naming a missing model is refused', async () => {
  const tiny = synthTiny(dir)
  const r = await runRounds({
    models: [{path: tiny}],
    tests: [
      {model: 0, threads: 1, nPrompt: 0, nGen: 4, reps: 1},
      {model: 0, threads: 1, nPrompt: 16, nGen: 0, reps: 1},
    ],
    rounds: 5,
    budgetS: 0,
  })
  assert.equal(r.roundsRun, 1)
  assert.equal(r.budgetSpent, true)
  assert.deepEqual(
    r.tests.map((t) => t.rounds.length),
    [1, 0],
  )
  assert.equal(r.stopped, false)
  await assert.rejects(
    runRounds({
      models: [{path: tiny}],
      tests: [{model: 1, threads: 1, nPrompt: 0, nGen: 4, reps: 1}],
      rounds: 1,
      budgetS: 1,
    }),
    /test model index 1 outside 0\.\.0/,
  )
})
