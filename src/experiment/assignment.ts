import {createHash} from 'node:crypto'

/** The split has a resolution of 0.01%: weights are laid out on 10,000 buckets. */
export const BUCKETS = 10_000

export interface Arm {
  name: string
  /** Percentage of the traffic, 0 to 100, at most two decimals. */
  weight: number
}

export interface AssignerOptions {
  /** Seeds the hash: two experiments split the same keys independently. */
  experiment: string
  /** The variants that answer, in the order of model.yaml: the order the buckets are laid out in. */
  arms: readonly Arm[]
  /** Uniform in [0, 1), for requests without a sticky key (Math.random by default; tests inject their own). */
  random?: () => number
}

/**
 * Picks the variant that answers a request. Each arm owns a run of buckets of [0, 10000), laid out one after the other
 * in a fixed order (90/10: control [0, 9000), candidate [9000, 10000)). A request with a sticky key goes to the
 * bucket a stable hash of the key names (SHA-256 of the experiment name and the key), so the same key always lands
 * on the same arm, in every replica and after every restart; a request without one goes to a random bucket.
 *
 * Because the runs are cumulative, changing the weights moves only the keys between the old and the new boundary:
 * 90/10 to 80/20 moves the keys of [8000, 9000), 10% of them, the fewest any assignment could move.
 */
export class Assigner {
  private readonly bounds: Array<{name: string; end: number}>
  private readonly random: () => number

  constructor(private readonly options: AssignerOptions) {
    let end = 0
    this.bounds = options.arms.map((arm) => {
      end += Math.round(arm.weight * (BUCKETS / 100))
      return {end, name: arm.name}
    })
    if (end !== BUCKETS) throw new Error(`the weights of ${options.experiment} cover ${end} of ${BUCKETS} buckets`)
    this.random = options.random ?? Math.random
  }

  /** The arm of a sticky key. */
  assignKey(key: string): string {
    return this.armOf(keyBucket(this.options.experiment, key))
  }

  /** A weighted-random arm. */
  assignRandom(): string {
    return this.armOf(Math.min(BUCKETS - 1, Math.floor(this.random() * BUCKETS)))
  }

  private armOf(bucket: number): string {
    for (const bound of this.bounds) if (bucket < bound.end) return bound.name
    return this.bounds.at(-1)!.name
  }
}

/** The bucket of a key: the first 32 bits of SHA-256(experiment NUL key), scaled to [0, 10000). */
export function keyBucket(experiment: string, key: string): number {
  const digest = createHash('sha256').update(experiment).update('\0').update(key).digest()
  return Math.floor((digest.readUInt32BE(0) * BUCKETS) / 2 ** 32)
}
