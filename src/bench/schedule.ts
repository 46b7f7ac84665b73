/** When requests are sent: at a constant rate, or as a Poisson process (exponential gaps) with the same mean. */
export type Arrival = 'constant' | 'poisson'

/** A small seeded PRNG (mulberry32): a Poisson schedule is random but the same run after run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d_2b_79_f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Returns the gap in ms before each next request. */
export function arrivalGaps(arrival: Arrival, ratePerSecond: number, seed = 1): () => number {
  const mean = 1000 / ratePerSecond
  if (arrival === 'constant') return () => mean
  const random = seededRandom(seed)
  return () => -Math.log(1 - random()) * mean
}
