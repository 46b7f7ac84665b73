import type {InferenceSession} from 'onnxruntime-node'

import type {LoadedConfig} from '../config/load.js'
import type {Signature} from '../config/schema.js'
import {openSession, type OpenSessionOptions} from './session.js'
import {resolveSignature, readModelSignature, sessionSignature} from './signature.js'

export interface ResolvedModel extends LoadedConfig {
  /** The signature the server uses (model.yaml's, checked against the model, or the model's own). */
  signature: Signature
  /** Where the signature came from. */
  signatureSource: 'model.yaml' | 'model'
}

/** Loads model.yaml and the model it names, and resolves the serving signature. */
export async function loadModelProject(dirOrFile = '.'): Promise<ResolvedModel> {
  // Imported here only: a serving process given model.yaml opens its model without the YAML parser and zod.
  const {loadConfig} = await import('../config/load.js')
  const loaded = await loadConfig(dirOrFile)
  return resolveProject(loaded, await readModelSignature(loaded.modelPath))
}

export interface OpenModelProject {
  project: ResolvedModel
  /** The session that read the model's signature, open: the caller runs it and releases it. */
  session: InferenceSession
}

/**
 * loadModelProject for a model.yaml already loaded, keeping open the session that read the signature: one prediction
 * in this process then opens the model, and loads onnxruntime, once.
 */
export async function openModelProject(
  loaded: LoadedConfig,
  sessionOptions: OpenSessionOptions = {},
): Promise<OpenModelProject> {
  const session = await openSession(loaded.modelPath, sessionOptions)
  try {
    return {project: resolveProject(loaded, sessionSignature(loaded.modelPath, session)), session}
  } catch (error) {
    await session.release()
    throw error
  }
}

/**
 * The second half of loadModelProject: the model's own signature (an onnxruntime session opened and released) checked
 * against model.yaml's. Apart so that a server can start its inference workers from the config meanwhile.
 */
export async function resolveModelProject(loaded: LoadedConfig): Promise<ResolvedModel> {
  return resolveProject(loaded, await readModelSignature(loaded.modelPath))
}

function resolveProject(loaded: LoadedConfig, fromModel: Signature): ResolvedModel {
  const signature = resolveSignature(fromModel, loaded.config.signature, {
    configFile: loaded.file,
    modelPath: loaded.modelPath,
  })
  return {...loaded, signature, signatureSource: loaded.config.signature ? 'model.yaml' : 'model'}
}
