/** Images between the engine and a registry: push (layer by layer, the manifest digest at the end) and pull. */
import type {DockerEngine} from '../docker/engine.js'
import {engineMessage} from '../docker/engine.js'
import type {EngineAuthConfig} from '../docker/images.js'
import {EngineStreamError, type EngineStreamEvent, followEngineStream} from '../docker/stream.js'
import {ExitCode, MlshipError} from '../errors.js'
import {registryAuthError} from './client.js'
import type {RegistryCredentials} from './credentials.js'

export function engineAuthConfig(
  host: string,
  credentials: RegistryCredentials | undefined,
): EngineAuthConfig | undefined {
  if (!credentials) return undefined
  if (credentials.identityToken) return {identitytoken: credentials.identityToken, serveraddress: host}
  return {password: credentials.password, serveraddress: host, username: credentials.username}
}

export type LayerState = 'preparing' | 'waiting' | 'pushing' | 'pushed' | 'exists' | 'mounted' | 'pulling' | 'pulled'

export interface LayerProgressEvent {
  type: 'layer'
  id: string
  state: LayerState
  current?: number
  total?: number
}

export interface EnginePushResult {
  digest: string
  /** Layers uploaded by this push. */
  pushedLayers: number
  /** Layers the registry already had (or mounted from another repository): not uploaded again. */
  reusedLayers: number
  /** Bytes of the uploaded layers as the engine reported them (compressed sizes). */
  pushedBytes: number
}

const PUSH_STATES: Record<string, LayerState> = {
  'Layer already exists': 'exists',
  Preparing: 'preparing',
  Pushed: 'pushed',
  Pushing: 'pushing',
  Waiting: 'waiting',
}

/**
 * Pushes one local tag through the engine (which uploads only the layers the registry lacks), checking every event
 * of the stream: an error event rejects with the engine's message, auth failures with how to fix them (exit 6).
 */
export async function pushWithEngine(options: {
  engine: Pick<DockerEngine, 'transfer'>
  /** host/repository */
  repository: string
  tag: string
  host: string
  credentials?: RegistryCredentials
  onProgress?: (event: LayerProgressEvent) => void
}): Promise<EnginePushResult> {
  const layers = new Map<string, {state: LayerState; total?: number}>()
  let digest: string | undefined
  const onEvent = (event: EngineStreamEvent) => {
    const aux = event.aux as {Digest?: string} | undefined
    if (aux?.Digest) digest = aux.Digest
    if (!event.id || !event.status) return
    const state = PUSH_STATES[event.status] ?? (event.status.startsWith('Mounted from') ? 'mounted' : undefined)
    if (!state) return
    const previous = layers.get(event.id)
    const total = event.progressDetail?.total ?? previous?.total
    layers.set(event.id, {state, total})
    options.onProgress?.({current: event.progressDetail?.current, id: event.id, state, total, type: 'layer'})
  }

  try {
    const auth = engineAuthConfig(options.host, options.credentials)
    await followEngineStream(await options.engine.transfer.push(options.repository, options.tag, auth), onEvent)
  } catch (error) {
    throw pushError(error, options)
  }
  if (!digest) {
    throw new MlshipError(
      `The engine finished pushing ${options.repository}:${options.tag} without reporting a digest`,
      {
        code: 'PUSH_FAILED',
        exitCode: ExitCode.registry,
        suggestions: ['Run again; if it persists, push with `docker push` to see what the engine says.'],
      },
    )
  }
  const values = [...layers.values()]
  return {
    digest,
    pushedBytes: values.filter((l) => l.state === 'pushed').reduce((sum, l) => sum + (l.total ?? 0), 0),
    pushedLayers: values.filter((l) => l.state === 'pushed').length,
    reusedLayers: values.filter((l) => l.state === 'exists' || l.state === 'mounted').length,
  }
}

/** Pulls an image from the registry into the engine (for a rollback of a locally served container). */
export async function pullWithEngine(options: {
  engine: Pick<DockerEngine, 'transfer'>
  reference: string
  host: string
  credentials?: RegistryCredentials
}): Promise<void> {
  try {
    const auth = engineAuthConfig(options.host, options.credentials)
    await followEngineStream(await options.engine.transfer.pull(options.reference, auth))
  } catch (error) {
    const message = error instanceof EngineStreamError ? error.message : engineMessage(error)
    if (/unauthorized|authentication required|denied/i.test(message))
      throw registryAuthError(options.host, options.credentials?.username, message)
    throw new MlshipError(`Pulling ${options.reference} failed: ${message}`, {
      code: 'PULL_FAILED',
      exitCode: ExitCode.registry,
    })
  }
}

function pushError(
  error: unknown,
  options: {repository: string; tag: string; host: string; credentials?: RegistryCredentials},
): MlshipError {
  const message = error instanceof EngineStreamError ? error.message : engineMessage(error)
  if (/unauthorized|authentication required|no basic auth credentials|denied/i.test(message)) {
    return registryAuthError(options.host, options.credentials?.username, message)
  }
  const unreachable =
    /connection refused|no such host|i\/o timeout|dial tcp|server gave HTTP response to HTTPS client/i.test(message)
  return new MlshipError(`Pushing ${options.repository}:${options.tag} failed: ${message}`, {
    cause: error,
    code: unreachable ? 'REGISTRY_UNREACHABLE' : 'PUSH_FAILED',
    details: {message, reference: `${options.repository}:${options.tag}`},
    exitCode: ExitCode.registry,
    suggestions: /HTTPS client/.test(message)
      ? [
          `The registry speaks plain HTTP: add "${options.host}" to insecure-registries in the engine's daemon.json, or serve it over TLS.`,
        ]
      : ['Run again; the engine retries each layer, and layers already uploaded are not sent twice.'],
  })
}
