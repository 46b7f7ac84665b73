import {ExitCode, MlshipError} from '../errors.js'
import {apiKeyHeaders, keyRefusal} from '../serving/auth/client.js'
import {analyseExperiment, type ExperimentReport, mergeSnapshots} from './analysis.js'
import type {ExperimentSnapshot} from './snapshot.js'

export interface ExperimentReportOptions {
  /** One server, or every replica of one (their counts are added up). */
  urls: string[]
  /** The servers' API key (serving.auth: --api-key-stdin or MLSHIP_API_KEY). */
  apiKey?: string
  /** Per request (default 10 s). */
  timeoutMs?: number
}

/** `mlship experiment report`: reads GET /experiment of each server, adds them up and analyses the experiment. */
export async function experimentReport(options: ExperimentReportOptions): Promise<ExperimentReport> {
  const snapshots = await Promise.all(options.urls.map((url) => fetchSnapshot(url, options)))
  let merged: ExperimentSnapshot
  try {
    merged = mergeSnapshots(snapshots)
  } catch (error) {
    throw new MlshipError(`${(error as Error).message}: report one experiment at a time`, {
      code: 'EXPERIMENT_MISMATCH',
      exitCode: ExitCode.usage,
      suggestions: ['Pass the --url of the replicas of one model only.'],
    })
  }
  return analyseExperiment(merged, options.urls)
}

async function fetchSnapshot(url: string, options: ExperimentReportOptions): Promise<ExperimentSnapshot> {
  let endpoint: URL
  try {
    endpoint = new URL('/experiment', url.endsWith('/') ? url : `${url}/`)
  } catch {
    throw new MlshipError(`--url ${url} is not a URL`, {
      code: 'URL_INVALID',
      exitCode: ExitCode.usage,
      suggestions: ['Pass the address of a running server, such as http://127.0.0.1:8080.'],
    })
  }
  let response: Response
  try {
    response = await fetch(endpoint, {
      headers: apiKeyHeaders(options.apiKey),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    })
  } catch (error) {
    const cause = (error as {cause?: {code?: string}}).cause?.code ?? (error as Error).name
    throw new MlshipError(`no server answers at ${endpoint.origin}${cause ? ` (${cause})` : ''}`, {
      cause: error,
      code: 'SERVER_UNREACHABLE',
      exitCode: ExitCode.containerUnhealthy,
      suggestions: ['Start the model with `mlship serve DIR --local` (or in its container) and pass its address.'],
    })
  }
  const text = await response.text()
  if (response.status === 404) {
    throw new MlshipError(`${endpoint.origin} runs no experiment: GET /experiment answered 404`, {
      code: 'NO_EXPERIMENT',
      exitCode: ExitCode.usage,
      suggestions: ["Add an experiment: section to the model's model.yaml and restart the server (README: A/B tests)."],
    })
  }
  const refusal = keyRefusal({
    retryAfter: response.headers.get('retry-after'),
    sentKey: options.apiKey !== undefined,
    status: response.status,
    url: endpoint.href,
  })
  if (refusal) throw refusal
  if (!response.ok) {
    throw new MlshipError(`${endpoint.href} answered ${response.status}: ${text.slice(0, 200)}`, {
      code: 'SERVER_ERROR',
      details: {status: response.status},
    })
  }
  try {
    const snapshot = JSON.parse(text) as ExperimentSnapshot
    if (typeof snapshot.experiment !== 'string' || !Array.isArray(snapshot.variants)) throw new Error('not a snapshot')
    return snapshot
  } catch {
    throw new MlshipError(`${endpoint.href} did not answer with an experiment snapshot: ${text.slice(0, 200)}`, {
      code: 'SERVER_BAD_ANSWER',
      suggestions: ['Is it an mlship server? `mlship experiment report` reads the GET /experiment of one.'],
    })
  }
}
