import {errorMessage, ExitCode, MlshipError} from '../errors.js'
import {apiKeyHeaders, keyRefusal} from '../serving/auth/client.js'

export type BenchDevice = 'cpu' | 'gpu'

/** A server under test, running: where to send requests, what is known about it, and how to stop it. */
export interface BenchTarget {
  kind: 'url' | 'local' | 'container'
  /** The device mlship started it on (null for --url: whatever that server runs on). */
  device: BenchDevice | null
  /** The full URL of the endpoint under load. */
  url: string
  /** From the server's start to its first ready answer (null: not started by mlship). */
  timeToReadyMs: number | null
  /** The image's size (container target only). */
  imageSizeBytes: number | null
  /** The execution provider the server reports, where it reports one. */
  executionProvider: string | null
  /** Headers every request to it carries: its API key (serving.auth), where it needs one. */
  headers: Record<string, string>
  close(): Promise<void>
}

export interface EndpointOptions {
  method: string
  /** Replaces the URL's path when given; a URL without a path gets /predict. */
  path?: string
}

/** The endpoint URL: --url as given, its path replaced by --path, or /predict when it has none. */
export function endpointUrl(base: string, options: EndpointOptions): string {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    throw new MlshipError(`--url ${base}: not a URL`, {
      code: 'BENCH_URL_INVALID',
      exitCode: ExitCode.usage,
      suggestions: ['Give the endpoint, for example --url http://127.0.0.1:8080/predict'],
    })
  }
  if (url.protocol !== 'http:') {
    throw new MlshipError(`--url ${base}: only http:// is supported`, {
      code: 'BENCH_URL_INVALID',
      exitCode: ExitCode.usage,
    })
  }
  if (options.path) url.pathname = options.path.startsWith('/') ? options.path : `/${options.path}`
  else if (url.pathname === '/' || url.pathname === '') url.pathname = '/predict'
  return url.toString()
}

export interface ProbeOptions {
  url: string
  method: string
  headers: Record<string, string>
  body: string | undefined
  timeoutMs?: number
}

/**
 * Sends one request before any load: a server that is down or rejects the payload fails here with its answer, not
 * as a sweep of 100% errors.
 */
export async function probeEndpoint(options: ProbeOptions): Promise<void> {
  const {request} = await import('undici')
  let status: number
  let text: string
  try {
    const response = await request(options.url, {
      body: options.body,
      headers: options.headers,
      method: options.method as 'POST',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    })
    status = response.statusCode
    text = await response.body.text()
  } catch (error) {
    throw new MlshipError(`Cannot reach ${options.url}: ${describeNetworkError(error)}`, {
      cause: error,
      code: 'BENCH_TARGET_UNREACHABLE',
      details: {url: options.url},
      exitCode: ExitCode.containerUnhealthy,
      suggestions: ['Check that the server is running and listening on that address (`curl` it).'],
    })
  }
  const refusal = keyRefusal({
    retryAfter: null,
    sentKey: Object.keys(options.headers).some((h) => h.toLowerCase() === 'authorization'),
    status,
    url: options.url,
  })
  if (refusal) throw refusal
  if (status < 200 || status >= 300) {
    throw new MlshipError(
      `${options.method} ${options.url} answered ${status} to the benchmark payload: ${text.slice(0, 300)}`,
      {
        code: 'BENCH_TARGET_REJECTED',
        details: {body: text.slice(0, 2000), status, url: options.url},
        exitCode: ExitCode.usage,
        suggestions: [
          'Check the payload (--payload FILE, or the example inputs in model.yaml), --path and --method.',
          'Send the same body with curl to see the full answer.',
        ],
      },
    )
  }
}

function describeNetworkError(error: unknown): string {
  const code = (error as {code?: string}).code ?? (error as {cause?: {code?: string}}).cause?.code
  if (code === 'ECONNREFUSED') return 'connection refused (nothing listens there)'
  if ((error as Error).name === 'TimeoutError') return 'no answer within 10 s'
  return code ? `${code} ${errorMessage(error)}` : errorMessage(error)
}

/**
 * The execution provider an mlship server reports on `GET /` (`execution_provider`). Other servers report none,
 * and that is said, not guessed.
 */
export async function reportedExecutionProvider(
  url: string,
  headers: Record<string, string> = {},
): Promise<string | null> {
  const {request} = await import('undici')
  try {
    const response = await request(new URL('/', url), {headers, signal: AbortSignal.timeout(5000)})
    if (response.statusCode !== 200) {
      await response.body.dump()
      return null
    }
    const body = (await response.body.json()) as {execution_provider?: unknown}
    return typeof body.execution_provider === 'string' ? body.execution_provider : null
  } catch {
    return null
  }
}

/** --url: any running server, mlship or not, with its API key where it needs one. Nothing to start or stop. */
export async function urlTarget(url: string, apiKey?: string): Promise<BenchTarget> {
  const headers = apiKeyHeaders(apiKey)
  return {
    close: async () => {},
    device: null,
    executionProvider: await reportedExecutionProvider(url, headers),
    headers,
    imageSizeBytes: null,
    kind: 'url',
    timeToReadyMs: null,
    url,
  }
}
