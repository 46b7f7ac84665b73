import {AggregatorRegistry} from 'prom-client'

import type {MetricsSnapshot} from '../monitoring/metrics.js'

export interface ClusterMetricsOptions {
  /**
   * Asks every live forked HTTP process for its metrics; resolves by the deadline with those that answered, by process
   * number (2..processes).
   */
  collect(): Promise<Map<number, MetricsSnapshot>>
  /** The first HTTP process's own metrics (its process metrics among them), added to the others'. */
  own?: () => Promise<MetricsSnapshot>
  /** How long one aggregation answers every scrape (ms): concurrent scrapes share one collect. Default 1000. */
  reuseMs?: number
  now?: () => number
}

/**
 * The cluster's one metrics view, summed over its processes. Prometheus reads a summed counter that goes down as a
 * counter reset (rate() spikes), so no counter may drop when a process is late or replaced: a process that does not
 * answer in time counts with its last answer, and a process that stops leaves its counters (and histograms) as an
 * offset added to its number from then on, so its replacement (which starts again from 0) continues from them.
 * Gauges (in flight, queue depth, memory) are not carried: a dead process holds no memory.
 */
export class ClusterMetrics {
  private readonly last = new Map<number, MetricsSnapshot>()
  private readonly offsets = new Map<number, MetricsSnapshot>()
  private inFlight: Promise<string> | undefined
  private latest: {at: number; text: string} | undefined

  constructor(private readonly options: ClusterMetricsOptions) {}

  /** The Prometheus text of the whole cluster, the first process included. */
  render(): Promise<string> {
    const now = this.options.now ?? Date.now
    if (this.latest && now() - this.latest.at < (this.options.reuseMs ?? 1000)) return Promise.resolve(this.latest.text)
    this.inFlight ??= this.aggregate().then(
      (text) => {
        this.latest = {at: now(), text}
        this.inFlight = undefined
        return text
      },
      (error: unknown) => {
        this.inFlight = undefined
        throw error
      },
    )
    return this.inFlight
  }

  /** Process `index` stopped: its last counters and histograms carry into its number's later answers. */
  retire(index: number): void {
    const final = this.last.get(index)
    this.last.delete(index)
    if (!final) return
    const previous = this.offsets.get(index) ?? []
    const counters = final.filter((metric) => ['counter', 'histogram'].includes(String(metric.type)))
    this.offsets.set(index, [...previous, ...counters])
  }

  private async aggregate(): Promise<string> {
    const [answers, own] = await Promise.all([this.options.collect(), this.options.own?.()])
    for (const [index, snapshot] of answers) this.last.set(index, snapshot)
    const snapshots = [...this.last.values(), ...this.offsets.values()]
    if (own) snapshots.push(own)
    // AggregatorRegistry groups by name over every snapshot: an offset holding two retirements sums them both.
    return AggregatorRegistry.aggregate(snapshots).metrics()
  }
}
