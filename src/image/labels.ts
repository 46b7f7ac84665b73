import type {ModelConfig, Signature} from '../config/schema.js'
import type {Platform} from './dockerfile.js'
import type {GitInfo} from './git.js'

/**
 * The labels of an mlship image: a registry client reads them from the image config without pulling a layer
 * (`mlship versions`, or `docker inspect`). The keys are a stable interface.
 */
export const LABELS = {
  created: 'org.opencontainers.image.created',
  description: 'org.opencontainers.image.description',
  revision: 'org.opencontainers.image.revision',
  source: 'org.opencontainers.image.source',
  title: 'org.opencontainers.image.title',
  version: 'org.opencontainers.image.version',
  baseName: 'org.opencontainers.image.base.name',
  /** The mlship version that built the image. */
  mlshipVersion: 'dev.mlship.version',
  modelName: 'dev.mlship.model.name',
  modelVersion: 'dev.mlship.model.version',
  /** sha256 of the model file, hex. */
  modelSha256: 'dev.mlship.model.sha256',
  /** The serving signature as JSON ({inputs, outputs}). */
  signature: 'dev.mlship.signature',
  /** The OpenAPI document of the server, JSON. */
  openapi: 'dev.mlship.openapi',
  /** cpu or cuda. */
  device: 'dev.mlship.device',
  platform: 'dev.mlship.platform',
  /** sha256 over the Dockerfile and the whole build context: an image with the same digest needs no rebuild. */
  inputDigest: 'dev.mlship.input-digest',
  /** Marks containers that `mlship serve` started (value "true"). */
  managed: 'dev.mlship.managed',
} as const

export interface ImageLabelsInput {
  config: ModelConfig
  signature: Signature
  modelSha256: string
  mlshipVersion: string
  platform: Platform
  gpu: boolean
  baseImage: string
  git: GitInfo
  /** The OpenAPI document of the server; omitted when absent. */
  openapi?: unknown
}

/** The labels written into the Dockerfile (the build time and input digest are added when the image is built). */
export async function imageLabels(input: ImageLabelsInput): Promise<Record<string, string>> {
  const {config} = input
  const labels: Record<string, string> = {
    [LABELS.title]: config.name,
    [LABELS.version]: config.version,
  }
  if (config.description) labels[LABELS.description] = config.description.replace(/\s+/g, ' ').trim()
  if (input.git.revision) labels[LABELS.revision] = input.git.revision
  if (input.git.source) labels[LABELS.source] = input.git.source
  labels[LABELS.baseName] = input.baseImage
  labels[LABELS.mlshipVersion] = input.mlshipVersion
  labels[LABELS.modelName] = config.name
  labels[LABELS.modelVersion] = config.version
  labels[LABELS.modelSha256] = input.modelSha256
  labels[LABELS.device] = input.gpu ? 'cuda' : 'cpu'
  labels[LABELS.platform] = input.platform
  labels[LABELS.signature] = JSON.stringify(input.signature)
  if (input.openapi !== undefined) labels[LABELS.openapi] = JSON.stringify(input.openapi)
  return labels
}
