/**
 * What mlship needs of the engine's images, as small interfaces (in the spirit of testcontainers-node's ImageClient):
 * services depend on these, `dockerode-engine.ts` implements them over the Engine API, and fast tests use
 * `test-support/memory-engine.ts`. Every method reports an engine failure as an EngineError (engine.ts).
 */
import type {EngineStreamEvent} from './stream.js'

export interface ImageDetails {
  /** sha256:... (the config digest). */
  id: string
  /** All layers, the base image's included. */
  sizeBytes: number
  labels: Record<string, string>
  /** "8080/tcp", as the image's EXPOSE lines. */
  exposedPorts: string[]
  /** "KEY=value", as the image's ENV lines. */
  env: string[]
  /** The layers' diff ids, base first. */
  layers: string[]
  /** Docker's names: linux, amd64, arm64. */
  os: string
  architecture: string
}

export interface ImageSummary {
  id: string
  /** The image it was built FROM, step by step ('' for none or a pulled image). */
  parentId: string
  /** Seconds since the epoch. */
  created: number
  labels: Record<string, string>
}

/** The images the engine holds. */
export interface ImageStore {
  /** undefined when the engine has no such image. */
  inspect(reference: string): Promise<ImageDetails | undefined>
  /**
   * Images carrying every label given, as "key=value" or "key" (any value). The intermediate images a build leaves
   * (one per step, each the parent of the next) only when `intermediate` is set, as `docker images --all`.
   */
  listByLabels(labels: string[], options?: {intermediate?: boolean}): Promise<ImageSummary[]>
  /** Gives an image (id or reference) one more reference, repository:tag. */
  tag(image: string, repository: string, tag: string): Promise<void>
  /**
   * Removes one reference (the image goes with its last one); an image that is not there is not an error. `force`
   * also removes an image that containers use; `prune` (default true) removes the untagged parents too.
   */
  remove(reference: string, options?: {force?: boolean; prune?: boolean}): Promise<void>
}

export interface BuildRequest {
  tags: string[]
  noCache: boolean
  /** Only when it differs from the engine's own platform: the classic builder then resolves FROM for it. */
  platform?: string
}

/** Builds images from a build context. */
export interface ImageBuilder {
  /**
   * Streams a build context (a tar archive) to the engine and gives the build's progress events, error events
   * included: a failed step is an `{error, errorDetail}` event in the stream, not a rejection.
   */
  build(context: NodeJS.ReadableStream, request: BuildRequest): Promise<AsyncIterable<EngineStreamEvent>>
}

/** What the engine's X-Registry-Auth header carries; dockerode base64-encodes it. Never logged. */
export interface EngineAuthConfig {
  username?: string
  password?: string
  identitytoken?: string
  serveraddress: string
}

/** Moves images between the engine and a registry (the engine uploads only the layers the registry lacks). */
export interface ImageTransfer {
  /** Pushes a local "repository:tag"; the events report each layer and, at the end, the manifest digest (aux). */
  push(repository: string, tag: string, auth?: EngineAuthConfig): Promise<AsyncIterable<EngineStreamEvent>>
  pull(reference: string, auth?: EngineAuthConfig): Promise<AsyncIterable<EngineStreamEvent>>
}
