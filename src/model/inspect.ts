import {stat} from 'node:fs/promises'

import type {ModelConfig, Signature} from '../config/schema.js'
import {sha256File} from '../util/hash.js'
import {loadModelProject} from './load-model.js'
import {ortVersion} from './session.js'

export interface InspectResult {
  file: string
  dir: string
  config: ModelConfig
  model: {path: string; sha256: string; sizeBytes: number; onnxruntime: string}
  signature: Signature
  signatureSource: 'model.yaml' | 'model'
}

/** Loads model.yaml and the model, checks one against the other, and describes the result. */
export async function inspectModel(dirOrFile: string): Promise<InspectResult> {
  const project = await loadModelProject(dirOrFile)
  const [sha256, info, onnxruntime] = await Promise.all([
    sha256File(project.modelPath),
    stat(project.modelPath),
    ortVersion(),
  ])
  return {
    config: project.config,
    dir: project.dir,
    file: project.file,
    model: {onnxruntime, path: project.modelPath, sha256, sizeBytes: info.size},
    signature: project.signature,
    signatureSource: project.signatureSource,
  }
}
