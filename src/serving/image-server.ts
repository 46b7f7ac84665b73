/**
 * The image's server as one CommonJS bundle (server-code.cjs), which the image runs with V8's code cache written at
 * build time (image-server-loader.ts, code-cache.ts): the container's PID 1 (serve-image.ts), and the processes it
 * forks in the cluster layout (cluster-child.ts), from the same file and the same cache. CommonJS, because Node 20's
 * ES module loader takes no code cache.
 */
import {openSync} from 'node:fs'

import {CLUSTER_PROCESS_FLAG} from './cluster.js'
import {runChild} from './cluster-child.js'
import {openInThread, serveInThread} from './in-thread-server.js'
import {createLogger} from './logger.js'
import {serveImage} from './serve-image.js'
import {SharedConnections} from './shared-connections.js'
import {timeSingleRow} from './warm-up.js'

/** PID 1 serves; a process it forked (cluster.ts, which says so in its arguments) is one of the cluster's others. */
export function start(): void {
  if (process.argv.includes(CLUSTER_PROCESS_FLAG)) void runChild()
  else void serveImage()
}

/**
 * The start and first answers (probes, a prediction, metrics) of the cluster's first HTTP process on the model in
 * `modelDir`, with no process forked: run by write-code-cache.ts in the image's build before it writes V8's code cache,
 * so that the cache holds the code a process compiles as it starts and answers (the others run the same), and little
 * else.
 */
export async function rehearse(modelDir: string): Promise<void> {
  const {loadConfig} = await import('../config/load.js')
  const opened = await openInThread(await loadConfig(modelDir), {})
  await timeSingleRow(opened.backend, opened.project.signature)
  const logger = createLogger('info', openSync('/dev/null', 'w')).child({process: 1})
  const {server, metrics} = await serveInThread({
    extraKeys: [],
    host: '127.0.0.1',
    listen: false,
    logger,
    opened,
    port: 0,
    processes: 2,
    render: () => metrics.registry.metrics(),
    serving: {},
  })
  // As the first process does (with no other process, it serves every connection itself).
  const connections = new SharedConnections((socket) => server.acceptConnection(socket))
  const url = `http://127.0.0.1:${await connections.listen('127.0.0.1', 0)}`
  const example = Object.fromEntries(server.context.signature.inputs.map((input) => [input.name, input.example]))
  const requests: Array<[string, RequestInit?]> = [
    ['/ready'],
    ['/health'],
    [
      '/predict',
      {body: JSON.stringify({inputs: example}), headers: {'content-type': 'application/json'}, method: 'POST'},
    ],
    ['/metrics'],
  ]
  for (const [path, init] of requests) {
    const response = await fetch(`${url}${path}`, init)
    if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${path} answered ${response.status}`)
    await response.arrayBuffer()
  }
  metrics.startProcessMetrics()
  connections.close()
  await server.close({deadlineMs: 1000})
}
