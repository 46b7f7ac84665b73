import {errorMessage, ExitCode, MlshipError} from '../../errors.js'
import type {BenchResult} from '../bench.js'
import {BenchUiSession, type BenchUiOptions, type SessionHooks} from './session.js'
import {startUiServer} from './ui-server.js'

export interface RunBenchUiOptions extends BenchUiOptions {
  /** The page's port on 127.0.0.1 (0: a free one). */
  port: number
  /** Ends the session: the load, a sweep in progress, the servers it started and the page. */
  signal: AbortSignal
}

export interface BenchUiHooks extends SessionHooks {
  /** The page is up at `url`: print it, open it. */
  onReady?: (url: string) => void
}

/**
 * `bench --ui`: starts the servers under test and the live load, serves the page, and runs until `signal` aborts
 * (Ctrl-C). Resolves with the session as bench's result (the live segments and sweeps, per device).
 */
export async function runBenchUi(options: RunBenchUiOptions, hooks: BenchUiHooks = {}): Promise<BenchResult> {
  const session = await BenchUiSession.start(options, hooks)
  let server: Awaited<ReturnType<typeof startUiServer>>
  try {
    server = await startUiServer({port: options.port, session})
  } catch (error) {
    await session.stop()
    const code = (error as {code?: string}).code
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new MlshipError(`--port ${options.port}: cannot listen on 127.0.0.1:${options.port} (${code})`, {
        cause: error,
        code: 'BENCH_UI_PORT',
        exitCode: ExitCode.usage,
        suggestions: ['Choose another --port, or leave it out for a free one.'],
      })
    }
    throw new MlshipError(`The page could not start: ${errorMessage(error)}`, {cause: error, code: 'BENCH_UI_FAILED'})
  }
  try {
    if (!options.signal.aborted) {
      hooks.onReady?.(server.url)
      await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), {once: true}))
    }
    return await session.stop()
  } finally {
    await server.close()
  }
}
