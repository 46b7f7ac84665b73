import {randomBytes} from 'node:crypto'

import {errorMessage} from '../errors.js'
import {apiKeyHeaders} from '../serving/auth/client.js'
import {assertCudaUsable, chooseDevice} from '../serving/device.js'
import type {TargetStarter} from './bench.js'
import type {BenchDevice, BenchTarget} from './target.js'

export interface InProcessTargetOptions {
  /** The model directory (or its model.yaml). */
  dir: string
  /** The endpoint's path on the server (default /predict). */
  path?: string
  /** Inference worker threads (default: serving.workers of model.yaml). */
  workers?: number
}

/**
 * --local: the serving app in this process (the generator has a thread of its own), on 127.0.0.1 and a free port.
 * Time to ready is from the call to the first ready answer: model load, worker threads and the warm-up inference.
 * A model with serving.auth on is benchmarked as it serves, keys checked: with a key minted here, never shown.
 */
export function inProcessTarget(options: InProcessTargetOptions): TargetStarter {
  const apiKey = randomBytes(32).toString('hex')
  return {
    gpuUnavailableReason: async () => {
      try {
        assertCudaUsable(chooseDevice('cuda', {}, true))
        return null
      } catch (error) {
        return errorMessage(error)
      }
    },
    kind: 'local',
    start: async (device: BenchDevice): Promise<BenchTarget> => {
      // The serving app (fastify, prom-client, pino) loads when a local target starts, not with `mlship bench`;
      // before the clock starts, as it was when it loaded with the command.
      const [{startServer}, {default: pino}] = await Promise.all([import('../serving/server.js'), import('pino')])
      const started = performance.now()
      const server = await startServer({
        auth: {extraKeys: [apiKey]},
        device: device === 'gpu' ? 'cuda' : 'cpu',
        dir: options.dir,
        host: '127.0.0.1',
        // The request log costs what it costs in production, but goes nowhere: the terminal shows the benchmark.
        logger: pino({base: undefined, level: 'info'}, pino.destination({dest: '/dev/null', sync: false})),
        port: 0,
        serving: options.workers === undefined ? {} : {workers: options.workers},
      })
      const timeToReadyMs = Math.round(performance.now() - started)
      return {
        close: () => server.close(),
        device,
        executionProvider: server.context.backend.info.executionProvider,
        headers: apiKeyHeaders(server.context.project.config.serving.auth.enabled ? apiKey : undefined),
        imageSizeBytes: null,
        kind: 'local',
        timeToReadyMs,
        url: `${server.url}${options.path ?? '/predict'}`,
      }
    },
  }
}
