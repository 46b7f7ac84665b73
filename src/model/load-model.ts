import {loadConfig, type LoadedConfig} from '../config/load.js'
import type {Signature} from '../config/schema.js'
import {resolveSignature, readModelSignature} from './signature.js'

export interface ResolvedModel extends LoadedConfig {
  /** The signature the server uses (model.yaml's, checked against the model, or the model's own). */
  signature: Signature
  /** Where the signature came from. */
  signatureSource: 'model.yaml' | 'model'
}

/** Loads model.yaml and the model it names, and resolves the serving signature. */
export async function loadModelProject(dirOrFile = '.'): Promise<ResolvedModel> {
  const loaded = await loadConfig(dirOrFile)
  const fromModel = await readModelSignature(loaded.modelPath)
  const signature = resolveSignature(fromModel, loaded.config.signature, {
    configFile: loaded.file,
    modelPath: loaded.modelPath,
  })
  return {...loaded, signature, signatureSource: loaded.config.signature ? 'model.yaml' : 'model'}
}
