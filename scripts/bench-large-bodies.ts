/**
 * /health while large bodies are read and parsed (issue 16, item 9), written to BENCHMARKS.md "Health under large
 * bodies":
 *
 *   npm run bench:large-bodies [-- --quick] [--rounds N] [--seconds S] [--json FILE]
 *
 * The server (examples/iris, in a child process, as `serve --local` runs it) gets 32, then 64, clients that each send
 * a ~9 MB JSON body again and again, while a probe in another process asks GET /health every 5 ms, one request at a
 * time (bench/peers/health-probe.mjs). The bodies are the seed contract's, with more rows than serving.max_batch_size:
 * the server reads and parses each in full, then refuses it (400), so what is measured is reading and parsing alone.
 * Side by side in each round: large bodies decoded by a decode thread (the default) and every body parsed on the event
 * loop (`largeBodies: false`, what the server did before). Medians of the rounds.
 */
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {median, writeBenchmarkSection} from './lib/benchmarks-md.js'
import {log, scriptArgs} from './lib/script-args.js'
import {type HealthProbe, type LoopDelay, probeHealth, startChildServer} from './lib/child-server.js'
import {closedLoop} from './lib/closed-loop.js'

const root = path.resolve(import.meta.dirname, '..')
const {flag, number, quick} = scriptArgs()
const rounds = number('--rounds', 1, 3)
const seconds = number('--seconds', 4, 10)
const jsonOut = flag('--json')
const CONCURRENCY = [32, 64]
const BODY_BYTES = 9 * 1024 * 1024

type Mode = 'decode thread' | 'event loop'

/** A seed-contract body of about BODY_BYTES: iris rows, far more than serving.max_batch_size (1024). */
function largeBody(): Buffer {
  const row = '[5.1,3.5,1.4,0.2],'
  const rows = Math.floor((BODY_BYTES - 20) / row.length)
  return Buffer.from(`{"features":[${row.repeat(rows - 1)}[5.1,3.5,1.4,0.2]]}`)
}

interface Run {
  mode: Mode
  clients: number
  health: HealthProbe
  loop: LoopDelay
  bodiesPerSecond: number
  statuses: Record<string, number>
}

async function measure(mode: Mode, clients: number, body: Buffer): Promise<Run> {
  const server = await startChildServer({
    dir: path.join(root, 'examples/iris'),
    loopDelay: true,
    startOptions: `largeBodies: ${mode === 'decode thread' ? '{}' : 'false'}`,
  })
  let result: Omit<Run, 'loop'>
  try {
    const started = Date.now()
    const probe = probeHealth(server.url, seconds)
    const {statuses} = await closedLoop({
      bodies: [body],
      clients,
      contentType: 'application/json',
      until: started + seconds * 1000,
      url: `${server.url}/predict`,
    })
    const elapsed = (Date.now() - started) / 1000
    const health = await probe
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0)
    result = {
      bodiesPerSecond: answered / elapsed,
      clients,
      health,
      mode,
      statuses: Object.fromEntries([...statuses].map(([status, n]) => [String(status), n])),
    }
  } catch (error) {
    await server.stop()
    throw error
  }
  return {...result, loop: (await server.stop())!}
}

async function main(): Promise<void> {
  const body = largeBody()
  log(`body: ${(body.length / 2 ** 20).toFixed(1)} MiB; ${rounds} round(s) of ${seconds} s per configuration`)
  const runs: Run[] = []
  for (let round = 1; round <= rounds; round++) {
    for (const clients of CONCURRENCY) {
      // Interleaved, so that a change in the machine's load falls on both modes alike.
      for (const mode of ['event loop', 'decode thread'] as const) {
        const run = await measure(mode, clients, body)
        log(
          `round ${round}, ${clients} clients, ${mode}: /health p50 ${run.health.p50_ms} ms, p99 ${run.health.p99_ms} ms, max ${run.health.max_ms} ms (${run.health.n} probes, ${run.health.failed} failed); event loop delay p99 ${run.loop.p99_ms} ms, max ${run.loop.max_ms} ms; ${run.bodiesPerSecond.toFixed(1)} bodies/s ${JSON.stringify(run.statuses)}`,
        )
        runs.push(run)
      }
    }
  }
  if (jsonOut) await writeFile(jsonOut, JSON.stringify(runs, null, 2))

  const rows: string[] = []
  for (const clients of CONCURRENCY) {
    const of = (mode: Mode) => runs.filter((r) => r.clients === clients && r.mode === mode)
    const loop = of('event loop')
    const thread = of('decode thread')
    const cell = (list: Run[], pick: (r: Run) => number) => median(list.map(pick)).toFixed(1)
    for (const [mode, list] of [
      ['every body parsed on the event loop (before)', loop],
      ['large bodies decoded by a decode thread (now)', thread],
    ] as const) {
      rows.push(
        `| ${clients} | ${mode} | ${cell(list, (r) => r.health.p50_ms)} | ${cell(list, (r) => r.health.p99_ms)} | ${cell(list, (r) => r.health.max_ms)} | ${cell(list, (r) => r.loop.p99_ms)} | ${cell(list, (r) => r.loop.max_ms)} | ${cell(list, (r) => r.bodiesPerSecond)} |`,
      )
    }
    const ratio = median(loop.map((r) => r.health.p99_ms)) / median(thread.map((r) => r.health.p99_ms))
    rows.push(`| ${clients} | /health p99, before / now | | ${ratio.toFixed(1)}x | | | | |`)
  }
  const bodyText = `
${CONCURRENCY.join(' and ')} clients each send a ${(body.length / 2 ** 20).toFixed(1)} MiB JSON body (examples/iris rows,
more than serving.max_batch_size, so the server reads and parses each in full and then refuses it with 400) again and
again for ${seconds} s, while a probe in another process asks \`GET /health\` every 5 ms, one request at a time. The
server runs in a child process; both modes side by side in each of ${rounds} round(s), medians of the rounds.

| clients | bodies | /health p50 ms | /health p99 ms | /health max ms | event loop delay p99 ms | event loop delay max ms | bodies answered/s |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

The event loop delay is the server's own (perf_hooks.monitorEventLoopDelay over the run): how long its event loop was
blocked, whatever the machine's load did to the probe. Parsing a body of megabytes of numbers takes JSON.parse tens to
hundreds of milliseconds; on the event loop, every /health behind it waits (and the HEALTHCHECK's 3 s timeout passes
with 64 such bodies queued). A body of 256 KiB or more on an inference route now goes, as bytes, to a decode thread
(below the event loop's CPU priority) that parses and decodes it into tensors and hands them back; the event loop only
reads the bytes.
`
  await writeBenchmarkSection({
    body: bodyText,
    command: `npm run bench:large-bodies${quick ? ' -- --quick' : ''}`,
    id: 'large-bodies',
    title: 'Health under large bodies (issue 16)',
  })
}

await main()
