import {describe, expect, it} from 'vitest'

import {Assigner, BUCKETS, keyBucket} from './assignment.js'

/** A seeded generator (mulberry32), so that the random split is the same on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const arms = (control: number, candidate: number) => [
  {name: 'control', weight: control},
  {name: 'candidate', weight: candidate},
]

function shares(picks: string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const pick of picks) counts[pick] = (counts[pick] ?? 0) + 1
  for (const name of Object.keys(counts)) counts[name] = (counts[name]! / picks.length) * 100
  return counts
}

describe('weighted random assignment', () => {
  it('splits 20,000 requests within one percentage point of the weights', () => {
    for (const [weights, seed] of [
      [[90, 10], 1],
      [[50, 50], 2],
      [[70, 20, 10], 3],
    ] as const) {
      const assigner = new Assigner({
        arms: weights.map((weight, i) => ({name: `arm${i}`, weight})),
        experiment: 'split',
        random: seeded(seed),
      })
      const observed = shares(Array.from({length: 20_000}, () => assigner.assignRandom()))
      weights.forEach((weight, i) => expect(Math.abs(observed[`arm${i}`]! - weight)).toBeLessThan(1))
    }
  })

  it('never picks an arm of weight 0', () => {
    const assigner = new Assigner({
      arms: [
        {name: 'a', weight: 0},
        {name: 'b', weight: 100},
        {name: 'c', weight: 0},
      ],
      experiment: 'zero',
      random: seeded(4),
    })
    const picks = new Set(Array.from({length: 5000}, () => assigner.assignRandom()))
    expect([...picks]).toEqual(['b'])
  })
})

describe('sticky assignment', () => {
  const keys = Array.from({length: 20_000}, (_, i) => `user-${i}`)

  it('sends every repeated key to the arm it got the first time', () => {
    const assigner = new Assigner({arms: arms(90, 10), experiment: 'sticky'})
    const first = keys.map((key) => assigner.assignKey(key))
    // Another assigner (another replica, or after a restart) and the keys again, in another order.
    const again = new Assigner({arms: arms(90, 10), experiment: 'sticky'})
    const reversed = [...keys]
      .reverse()
      .map((key) => again.assignKey(key))
      .reverse()
    expect(reversed).toEqual(first)
  })

  it('splits distinct keys within one percentage point of the weights', () => {
    const assigner = new Assigner({arms: arms(90, 10), experiment: 'sticky'})
    const observed = shares(keys.map((key) => assigner.assignKey(key)))
    expect(Math.abs(observed.control! - 90)).toBeLessThan(1)
    expect(Math.abs(observed.candidate! - 10)).toBeLessThan(1)
  })

  it('moves about 10% of the keys, and only from control to candidate, when 90/10 becomes 80/20', () => {
    const before = new Assigner({arms: arms(90, 10), experiment: 'sticky'})
    const after = new Assigner({arms: arms(80, 20), experiment: 'sticky'})
    let moved = 0
    for (const key of keys) {
      const from = before.assignKey(key)
      const to = after.assignKey(key)
      if (from === to) continue
      moved++
      expect([from, to]).toEqual(['control', 'candidate'])
    }
    expect(moved / keys.length).toBeGreaterThan(0.09)
    expect(moved / keys.length).toBeLessThan(0.11)
  })

  it('splits the same keys differently in another experiment', () => {
    const a = new Assigner({arms: arms(50, 50), experiment: 'one'})
    const b = new Assigner({arms: arms(50, 50), experiment: 'two'})
    const same = keys.filter((key) => a.assignKey(key) === b.assignKey(key)).length / keys.length
    expect(same).toBeGreaterThan(0.45)
    expect(same).toBeLessThan(0.55)
  })

  it('hashes a key to the same bucket everywhere (the hash is part of the contract)', () => {
    // A change of hash would move every user of every running experiment. Computed with coreutils:
    // printf 'iris-v2-test\0user-42' | sha256sum -> fb7e906e...; 0xfb7e906e * 10000 / 2^32 = 9823.
    expect(keyBucket('iris-v2-test', 'user-42')).toBe(9823)
    for (const key of keys.slice(0, 100)) {
      const bucket = keyBucket('sticky', key)
      expect(bucket).toBeGreaterThanOrEqual(0)
      expect(bucket).toBeLessThan(BUCKETS)
    }
  })

  it('refuses weights that do not cover the buckets', () => {
    expect(() => new Assigner({arms: arms(90, 5), experiment: 'x'})).toThrow(/9500 of 10000/)
  })
})
