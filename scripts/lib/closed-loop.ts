import {RequestSender} from '../../src/bench/sender.js'

export interface ClosedLoopOptions {
  /** The endpoint: origin and path. */
  url: string
  /** Requests in flight at all times, one per client: each answer sends that client's next body. */
  clients: number
  /** Sent in turn, each client starting at its own (client i sends bodies i, i + 1, ...). */
  bodies: ReadonlyArray<string | Uint8Array>
  contentType: string
  /** When the clients stop sending (Date.now() milliseconds); the answers on their way are waited for. */
  until: number
}

export interface ClosedLoopResult {
  /** Answers by HTTP status; 0 counts requests that got no answer (connection errors). */
  statuses: Map<number, number>
  /** From the first request to the last answer. */
  seconds: number
}

/**
 * The load of the scripts that measure a server saturated (bench:images, bench:texts, bench:large-bodies): `clients`
 * keep-alive connections, each sending its next body as soon as its answer comes, until `until`. Closed-loop on
 * purpose (what is measured is the most the server answers, not latency at an offered rate: that is `mlship bench`);
 * requests go through the sender `mlship bench` uses (src/bench/sender.ts: undici, one pool).
 */
export async function closedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const statuses = new Map<number, number>()
  const started = performance.now()
  let finish!: () => void
  const finished = new Promise<void>((resolve) => (finish = resolve))
  const next = new Map<number, number>()
  const sendNext = (client: number) => {
    const index = next.get(client) ?? client
    next.set(client, index + 1)
    sender.send(performance.now(), options.bodies[index % options.bodies.length], client)
  }
  const sender = new RequestSender<number>(
    {
      connections: options.clients,
      headers: {'content-type': options.contentType},
      method: 'POST',
      // No deadline: every request is answered or fails on its own.
      timeoutMs: Number.POSITIVE_INFINITY,
      url: options.url,
    },
    (_scheduledAt, client, outcome) => {
      const status = outcome.status ?? 0
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (Date.now() < options.until) sendNext(client)
      else if (sender.inFlight === 0) finish()
    },
  )
  for (let client = 0; client < options.clients; client++) sendNext(client)
  await finished
  const seconds = (performance.now() - started) / 1000
  await sender.destroy()
  return {seconds, statuses}
}

/** Answers with status 200, and the rest. */
export function okAndFailed(statuses: Map<number, number>): {ok: number; failed: number} {
  const ok = statuses.get(200) ?? 0
  return {failed: [...statuses.values()].reduce((sum, n) => sum + n, 0) - ok, ok}
}
