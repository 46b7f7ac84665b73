/**
 * The serving process as it runs in the image (PID 1): the model from MLSHIP_MODEL_DIR (default /app/model), the port
 * from PORT (else model.yaml), every interface, JSON logs on stdout, in the layout the model's cost calls for
 * (layout.ts: one process, or one HTTP process per usable CPU, this one the first). SIGTERM or SIGINT: readiness turns
 * 503 at once (in every process), in-flight requests finish, exit 0 within 10 s. Imports nothing CLI-only: it is
 * bundled on its own (main.ts, image-server.ts).
 */
import {isMlshipError} from '../errors.js'
import {onInterrupt} from '../util/interrupt.js'
import {startServing} from './start-serving.js'
import {SHUTDOWN_LIMIT_MS} from './shutdown.js'

export async function serveImage(): Promise<void> {
  const env = process.env
  const dir = env.MLSHIP_MODEL_DIR || '/app/model'
  const port = env.PORT ? Number(env.PORT) : undefined
  // Until the server runs (with serving.log_level of model.yaml, or LOG_LEVEL), startup failures log here; pino is
  // imported only then, so that it is not on the way to the cluster's processes.
  const failStart = async (fields: object, message: string, exitCode: number): Promise<never> => {
    const {createLogger} = await import('./logger.js')
    createLogger('info').fatal(fields, message)
    process.exit(exitCode)
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) {
    await failStart({port: env.PORT}, `PORT="${env.PORT}" is not a port number`, 2)
  }

  let server
  try {
    server = await startServing({dir, host: env.HOST || '0.0.0.0', port})
  } catch (error) {
    if (isMlshipError(error)) {
      const fields = {code: error.code, details: error.details, suggestions: error.suggestions}
      return failStart(fields, error.message, error.exitCode)
    }
    return failStart({err: error}, 'the server failed to start', 1)
  }
  const logger = server.logger
  // Not a URL: 127.0.0.1:8080 inside the container is not where anyone outside it reaches the server.
  logger.info(
    {
      container_port: server.port,
      execution_provider: server.executionProvider,
      layout: server.layout.kind,
      note: `port ${server.port} is this container's; from the host, use the address \`mlship serve\` prints (or the port docker run -p maps to it)`,
      ...(server.layout.kind === 'cluster' ? {processes: server.layout.processes} : {}),
      workers: server.workers,
    },
    'ready',
  )
  // Ready once this process serves, the cluster's first; the others join it within a moment.
  const running = server.cluster
  if (running) {
    void running.allWarm().then(() => logger.info({processes: running.processes + 1}, 'every serving process is ready'))
  }

  const stop = (signal: string) => {
    logger.info({signal}, 'shutting down: finishing requests in flight')
    const timer = setTimeout(() => {
      logger.error(`requests still in flight after ${SHUTDOWN_LIMIT_MS} ms: exiting anyway`)
      process.exit(1)
    }, SHUTDOWN_LIMIT_MS)
    timer.unref()
    // Connections still open a second before the limit are cut, so that the server stops cleanly within it.
    server.close({deadlineMs: SHUTDOWN_LIMIT_MS - 1000}).then(
      () => {
        logger.info('stopped')
        process.exit(0)
      },
      (error: unknown) => {
        logger.error({err: error}, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  // PID 1 in a container: a second signal does not cut the drain short (the shutdown limit above does).
  onInterrupt({onFirst: stop, secondExits: false})
}
