import type ort from 'onnxruntime-node'

export const THROUGHPUT_BATCH = 32

export interface SpeedOptions {
  /** Rounds; each runs every model in turn (the order alternating), so drift of a noisy machine hits both alike. */
  rounds?: number
  /** How long one model runs one kind of call (batch 1, batch 32) in one round. */
  roundMs?: number
  /** Fewest calls of a kind per model and round, however slow the model. */
  minCalls?: number
  /** The clock (milliseconds); performance.now by default. */
  now?: () => number
}

export interface SpeedSample {
  /** Median wall time of one call with one row, in milliseconds. */
  latencyMs: number
  /** Rows per second at batch 32: 32 over the median wall time of one such call. */
  rowsPerSecond: number
  calls: {batch1: number; batch32: number}
}

export interface SpeedSubject {
  session: ort.InferenceSession
  one: Record<string, ort.Tensor>
  batch: Record<string, ort.Tensor>
}

/**
 * Batch-1 latency and batch-32 throughput of several sessions measured side by side, in this process: rounds in
 * which each session runs its calls for roundMs, the order of the sessions alternating between rounds, and the median
 * of every call of a kind.
 */
export async function measureSpeed(
  subjects: readonly SpeedSubject[],
  options: SpeedOptions = {},
): Promise<SpeedSample[]> {
  const now = options.now ?? (() => performance.now())
  const rounds = options.rounds ?? 5
  const roundMs = options.roundMs ?? 150
  const minCalls = options.minCalls ?? 3
  const batch1 = subjects.map(() => [] as number[])
  const batch32 = subjects.map(() => [] as number[])
  // A first call allocates and may pack weights: keep it out of the figures.
  for (const subject of subjects) {
    await subject.session.run(subject.one)
    await subject.session.run(subject.batch)
  }
  const timed = async (subject: SpeedSubject, feeds: Record<string, ort.Tensor>, into: number[]) => {
    const start = now()
    for (let calls = 0; calls < minCalls || now() - start < roundMs; calls++) {
      const before = now()
      await subject.session.run(feeds)
      into.push(now() - before)
    }
  }
  for (let round = 0; round < rounds; round++) {
    const order = subjects.map((_, i) => i)
    if (round % 2 === 1) order.reverse()
    for (const i of order) {
      await timed(subjects[i]!, subjects[i]!.one, batch1[i]!)
      await timed(subjects[i]!, subjects[i]!.batch, batch32[i]!)
    }
  }
  return subjects.map((_, i) => {
    const batchMs = median(batch32[i]!)
    return {
      calls: {batch1: batch1[i]!.length, batch32: batch32[i]!.length},
      latencyMs: median(batch1[i]!),
      rowsPerSecond: batchMs > 0 ? (THROUGHPUT_BATCH * 1000) / batchMs : Number.POSITIVE_INFINITY,
    }
  })
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
