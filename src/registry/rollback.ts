/** `mlship rollback`: the registry's tag (rollback-tags.ts), then the containers served from it, swapped. */
import type {LoadedConfig} from '../config/load.js'
import {findServedContainers} from '../container/container.js'
import {replaceContainer} from '../container/replace.js'
import {connectEngine, type DockerEngine} from '../docker/engine.js'
import {errorMessage} from '../errors.js'
import {RegistryClient, type RetryOptions} from './client.js'
import type {RegistryCredentials} from './credentials.js'
import {pullWithEngine} from './engine-transfer.js'
import {imageReference, type RegistryTarget} from './reference.js'
import {type RollbackRegistryResult, rollbackRegistry} from './rollback-tags.js'

export interface RollbackOptions {
  target: RegistryTarget
  version: string
  credentials?: RegistryCredentials
  retry?: RetryOptions
  /** The model directory's config, when there is one: its name finds the model's containers served locally. */
  loaded?: LoadedConfig
  /** Replace local containers of the model (default true). */
  containers?: boolean
  /** The engine; connected when there are containers to look for. */
  engine?: DockerEngine
  onProgress?: (message: string) => void
}

export interface ContainerSwap {
  name: string
  oldId: string
  newId: string
  image: string
  /** start-first: the replacement listens on a new host port. */
  oldUrl: string
  url: string
  readyMs: number
}

export interface RollbackResult extends RollbackRegistryResult {
  /** Local containers of this model replaced by the rolled-back image. */
  containers: ContainerSwap[]
  /** Why local containers were not looked at, when they were not. */
  containersSkipped?: string
}

/**
 * `mlship rollback`: move `latest` in the registry, then replace the containers of this model that mlship serves
 * on the local engine: the new one starts and becomes ready before the old one stops, so a server always answers.
 */
export async function rollback(options: RollbackOptions): Promise<RollbackResult> {
  const client = new RegistryClient({
    credentials: options.credentials,
    host: options.target.host,
    repository: options.target.repository,
    retry: options.retry,
  })
  const registry = await rollbackRegistry({...options, client})
  if (options.containers === false) return {...registry, containers: [], containersSkipped: 'not asked to'}
  const modelName = options.loaded?.config.name
  if (!modelName)
    return {...registry, containers: [], containersSkipped: 'no model.yaml, so no model name to find containers by'}

  let engine = options.engine
  if (!engine) {
    try {
      engine = await connectEngine({timeoutMs: 3000})
    } catch (error) {
      return {...registry, containers: [], containersSkipped: `no Docker engine (${errorMessage(error)})`}
    }
  }

  const containers = await replaceServedContainers({
    credentials: options.credentials,
    engine,
    host: options.target.host,
    modelName,
    onProgress: options.onProgress,
    reference: imageReference(options.target, registry.version),
  })
  return {...registry, containers}
}

export interface ReplaceServedOptions {
  engine: DockerEngine
  /** Containers of this model that mlship serves are replaced. */
  modelName: string
  /** The image they run from now on; pulled when the engine lacks it. */
  reference: string
  host: string
  credentials?: RegistryCredentials
  onProgress?: (message: string) => void
}

/**
 * Replaces the containers of a model that mlship serves on the engine with an image of it (pulled first when the
 * engine lacks it), start-first: each replacement is ready before the container it replaces stops. Containers
 * that already run the image are left alone.
 */
export async function replaceServedContainers(options: ReplaceServedOptions): Promise<ContainerSwap[]> {
  const {engine, reference} = options
  const served = await findServedContainers(engine, options.modelName)
  if (served.length === 0) return []

  let wanted = (await engine.images.inspect(reference))?.id
  if (!wanted) {
    options.onProgress?.(`Pulling ${reference}`)
    await pullWithEngine({credentials: options.credentials, engine, host: options.host, reference})
    wanted = (await engine.images.inspect(reference))?.id
  }

  const containers: ContainerSwap[] = []
  for (const container of served) {
    if (container.imageId === wanted) continue
    const {name} = container
    options.onProgress?.(`Replacing container ${name} with ${reference}`)
    const swapped = await replaceContainer({container: container.id, engine, image: reference})
    containers.push({
      image: reference,
      name,
      newId: swapped.current.id,
      oldId: container.id,
      oldUrl: swapped.old.url,
      readyMs: swapped.readyMs,
      url: swapped.current.url,
    })
  }
  return containers
}
