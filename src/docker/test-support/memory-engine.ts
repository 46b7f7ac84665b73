/**
 * The interfaces of src/docker kept in memory, for fast tests of the logic above them (build, container, registry,
 * bench) without an engine. It keeps the engine's contract (docker-contract.ts runs the same checks against it and
 * against the real engine): unknown images and containers are `undefined` or EngineError 'not-found', a taken
 * container name is 'conflict', stopping a stopped container and removing a removed one are not errors. What the
 * engine would do on its own (build output, a container's health, its exit, its log lines) the test says through
 * the methods under "the test's side".
 */
import type {
  ContainerDetails,
  ContainerHealth,
  ContainerLogs,
  ContainerRunner,
  ContainerSpec,
  ContainerSummary,
} from '../containers.js'
import {type DockerEngine, type EngineInfo, EngineError} from '../engine.js'
import type {
  BuildRequest,
  EngineAuthConfig,
  ImageBuilder,
  ImageDetails,
  ImageStore,
  ImageSummary,
  ImageTransfer,
} from '../images.js'
import type {EngineStreamEvent} from '../stream.js'

const notFound = (what: string) => new EngineError('not-found', `No such ${what}`)

function matchesLabels(labels: Record<string, string>, filters: string[]): boolean {
  return filters.every((filter) => {
    const equals = filter.indexOf('=')
    return equals === -1 ? filter in labels : labels[filter.slice(0, equals)] === filter.slice(equals + 1)
  })
}

function withTag(reference: string): string {
  return reference.lastIndexOf(':') > reference.lastIndexOf('/') || reference.startsWith('sha256:')
    ? reference
    : `${reference}:latest`
}

interface StoredImage extends ImageDetails {
  created: number
  parentId: string
}

export class MemoryImageStore implements ImageStore {
  private readonly images = new Map<string, StoredImage>()
  private readonly references = new Map<string, string>()
  private nextCreated = 1

  // --- the test's side ---------------------------------------------------------------------------------------------

  /** Puts an image on the "engine" under the references given; its id is made up unless given. */
  add(image: Partial<ImageDetails> & {references?: string[]; parentId?: string}): ImageDetails {
    const id = image.id ?? `sha256:${(this.images.size + 1).toString(16).padStart(64, '0')}`
    const stored: StoredImage = {
      architecture: image.architecture ?? 'amd64',
      created: this.nextCreated++,
      env: image.env ?? [],
      exposedPorts: image.exposedPorts ?? [],
      id,
      labels: image.labels ?? {},
      layers: image.layers ?? [],
      os: image.os ?? 'linux',
      parentId: image.parentId ?? '',
      sizeBytes: image.sizeBytes ?? 0,
    }
    this.images.set(id, stored)
    for (const reference of image.references ?? []) this.references.set(withTag(reference), id)
    return stored
  }

  /** The id of the image a reference (or id) names, as the engine resolves it. */
  idOf(reference: string): string | undefined {
    return this.find(reference)?.id
  }

  /** Every reference the store holds, sorted. */
  referenceList(): string[] {
    return [...this.references.keys()].sort()
  }

  // --- ImageStore --------------------------------------------------------------------------------------------------

  private find(reference: string): StoredImage | undefined {
    return this.images.get(reference) ?? this.images.get(this.references.get(withTag(reference)) ?? '')
  }

  async inspect(reference: string): Promise<ImageDetails | undefined> {
    const image = this.find(reference)
    if (!image) return undefined
    const {created: _created, parentId: _parentId, ...details} = image
    return details
  }

  async listByLabels(labels: string[], options: {intermediate?: boolean} = {}): Promise<ImageSummary[]> {
    // As the engine: an untagged image another one is built FROM is an intermediate one.
    const tagged = new Set(this.references.values())
    const parents = new Set([...this.images.values()].map((image) => image.parentId))
    return [...this.images.values()]
      .filter((image) => options.intermediate || tagged.has(image.id) || !parents.has(image.id))
      .filter((image) => matchesLabels(image.labels, labels))
      .map((image) => ({created: image.created, id: image.id, labels: image.labels, parentId: image.parentId}))
  }

  async tag(image: string, repository: string, tag: string): Promise<void> {
    const found = this.find(image)
    if (!found) throw notFound(`image: ${image}`)
    this.references.set(`${repository}:${tag}`, found.id)
  }

  async remove(reference: string): Promise<void> {
    const key = withTag(reference)
    const id = this.references.get(key)
    if (id !== undefined) {
      this.references.delete(key)
      if (![...this.references.values()].includes(id)) this.images.delete(id)
    } else this.images.delete(reference)
  }
}

export interface ScriptedBuild {
  /** The build's progress events, as the engine would stream them (error events included). */
  events: EngineStreamEvent[]
  /** What the built image looks like, when the events report an image id (aux.ID), and the image it is built FROM. */
  image?: Partial<ImageDetails> & {parentId?: string}
}

export class MemoryImageBuilder implements ImageBuilder {
  readonly requests: BuildRequest[] = []

  constructor(
    private readonly images: MemoryImageStore,
    /** What the engine does with a build request. */
    public script: (request: BuildRequest) => ScriptedBuild = () => ({events: []}),
  ) {}

  async build(context: NodeJS.ReadableStream, request: BuildRequest): Promise<AsyncIterable<EngineStreamEvent>> {
    // The engine reads the whole context before it starts.
    for await (const _chunk of context) {
      // drained
    }
    this.requests.push(request)
    const {events, image} = this.script(request)
    const id = events.map((event) => event.aux?.ID).find((value): value is string => typeof value === 'string')
    const failed = events.some((event) => event.error || event.errorDetail)
    if (id && !failed) this.images.add({...image, id, references: request.tags})
    return (async function* () {
      yield* events
    })()
  }
}

export interface TransferRecord {
  kind: 'push' | 'pull'
  reference: string
  auth?: EngineAuthConfig
}

export class MemoryImageTransfer implements ImageTransfer {
  readonly transfers: TransferRecord[] = []

  constructor(
    private readonly images: MemoryImageStore,
    /** What the engine streams for a push or pull (and, for a pull that succeeds, the image it then holds). */
    public script: (transfer: TransferRecord) => ScriptedBuild = () => ({events: []}),
  ) {}

  async push(repository: string, tag: string, auth?: EngineAuthConfig): Promise<AsyncIterable<EngineStreamEvent>> {
    const reference = `${repository}:${tag}`
    if (!(await this.images.inspect(reference))) throw notFound(`image: ${reference}`)
    return this.run({auth, kind: 'push', reference})
  }

  async pull(reference: string, auth?: EngineAuthConfig): Promise<AsyncIterable<EngineStreamEvent>> {
    return this.run({auth, kind: 'pull', reference})
  }

  private run(transfer: TransferRecord): AsyncIterable<EngineStreamEvent> {
    this.transfers.push(transfer)
    const {events, image} = this.script(transfer)
    const failed = events.some((event) => event.error || event.errorDetail)
    if (transfer.kind === 'pull' && image && !failed) this.images.add({...image, references: [transfer.reference]})
    return (async function* () {
      yield* events
    })()
  }
}

interface StoredContainer {
  spec: ContainerSpec
  details: ContainerDetails
  logs: string
  /** Where followers of its logs want them. */
  followers: Set<NodeJS.WritableStream>
  /** Settles when it stops: what wait() and the followers of its logs wait for. */
  stopped: Promise<void>
  markStopped: () => void
}

export class MemoryContainers implements ContainerRunner, ContainerLogs {
  private readonly containers = new Map<string, StoredContainer>()
  private nextId = 1
  // Host ports nothing on a test machine listens on (below 1024, not ssh's or a web server's): a /ready probe of a
  // memory container is refused at once, so readiness comes from its health, as the test sets it.
  private nextPort = 1
  /** Why the next start fails (the engine's message), once. */
  private failNextStart?: string
  /** What health a container reports once started, unless the test changes it. */
  healthOnStart: ContainerHealth | undefined = 'healthy'
  runtimeNames: string[] = ['runc']
  /** Every operation, in order, as "verb id": what a test of an ordering (stop-first, start-first) reads. */
  readonly journal: string[] = []

  constructor(private readonly images: MemoryImageStore) {}

  // --- the test's side ---------------------------------------------------------------------------------------------

  failStart(message: string): void {
    this.failNextStart = message
  }

  /** The container writes to its log. */
  write(id: string, text: string): void {
    const container = this.get(id)
    container.logs += text
    for (const follower of container.followers) follower.write(text)
  }

  setHealth(id: string, health: ContainerHealth | undefined): void {
    this.get(id).details.health = health
  }

  /** The container's process ends on its own. */
  exit(id: string, exitCode: number, options: {oomKilled?: boolean} = {}): void {
    const container = this.get(id)
    container.details.running = false
    container.details.exitCode = exitCode
    container.details.oomKilled = Boolean(options.oomKilled)
    container.markStopped()
  }

  ids(): string[] {
    return [...this.containers.keys()]
  }

  running(): string[] {
    return [...this.containers.values()].filter((c) => c.details.running).map((c) => c.details.id)
  }

  specOf(id: string): ContainerSpec {
    return this.get(id).spec
  }

  private get(id: string): StoredContainer {
    const container = this.containers.get(id) ?? [...this.containers.values()].find((c) => c.details.name === id)
    if (!container) throw notFound(`container: ${id}`)
    return container
  }

  // --- ContainerRunner ---------------------------------------------------------------------------------------------

  async create(spec: ContainerSpec): Promise<string> {
    const image = await this.images.inspect(spec.image)
    if (!image) throw notFound(`image: ${spec.image}`)
    if (spec.name && [...this.containers.values()].some((c) => c.details.name === spec.name)) {
      throw new EngineError('conflict', `Conflict. The container name "/${spec.name}" is already in use`)
    }
    const id = (this.nextId++).toString(16).padStart(64, 'c')
    let markStopped = () => {}
    const stopped = new Promise<void>((resolve) => (markStopped = resolve))
    this.containers.set(id, {
      details: {
        exitCode: 0,
        gpus: spec.gpus !== undefined,
        id,
        imageId: image.id,
        labels: {...image.labels, ...spec.labels},
        name: spec.name ?? `memory-${id.slice(-6)}`,
        oomKilled: false,
        published: spec.publish ? [{...spec.publish}] : [],
        running: false,
      },
      followers: new Set(),
      logs: '',
      markStopped,
      spec,
      stopped,
    })
    this.journal.push(`create ${id}`)
    return id
  }

  async start(id: string): Promise<void> {
    const container = this.get(id)
    this.journal.push(`start ${id}`)
    if (this.failNextStart) {
      const message = this.failNextStart
      this.failNextStart = undefined
      throw new EngineError('error', message)
    }
    container.details.running = true
    container.details.health = this.healthOnStart
    container.details.published = container.details.published.map((port) => ({
      ...port,
      hostPort: port.hostPort === 0 ? this.nextPort++ : port.hostPort,
    }))
  }

  async inspect(id: string): Promise<ContainerDetails | undefined> {
    const container = this.containers.get(id) ?? [...this.containers.values()].find((c) => c.details.name === id)
    return container && structuredClone(container.details)
  }

  async stop(id: string): Promise<void> {
    const container = this.containers.get(id)
    if (!container?.details.running) return
    this.journal.push(`stop ${id}`)
    container.details.running = false
    container.markStopped()
  }

  async wait(id: string): Promise<number> {
    const container = this.get(id)
    if (container.details.running) await container.stopped
    return container.details.exitCode
  }

  async remove(id: string): Promise<void> {
    const container = this.containers.get(id)
    if (!container) return
    this.journal.push(`remove ${id}`)
    container.details.running = false
    container.markStopped()
    this.containers.delete(id)
  }

  async listByLabels(labels: string[], options: {all?: boolean} = {}): Promise<ContainerSummary[]> {
    return [...this.containers.values()]
      .filter((c) => (options.all || c.details.running) && matchesLabels(c.details.labels, labels))
      .map(({details}) => ({id: details.id, imageId: details.imageId, labels: details.labels, name: details.name}))
  }

  async runtimes(): Promise<string[]> {
    return [...this.runtimeNames]
  }

  // --- ContainerLogs -----------------------------------------------------------------------------------------------

  async tail(id: string, lines: number): Promise<string> {
    const all = this.get(id).logs.split(/(?<=\n)/)
    return all.slice(-lines).join('')
  }

  async follow(
    id: string,
    out: {stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream},
    signal?: AbortSignal,
  ): Promise<void> {
    const container = this.get(id)
    out.stdout.write(container.logs)
    if (!container.details.running) return
    container.followers.add(out.stdout)
    await new Promise<void>((resolve) => {
      void container.stopped.then(resolve)
      signal?.addEventListener('abort', () => resolve())
    })
    container.followers.delete(out.stdout)
  }
}

export interface MemoryEngine extends DockerEngine {
  readonly images: MemoryImageStore
  readonly builder: MemoryImageBuilder
  readonly transfer: MemoryImageTransfer
  readonly containers: MemoryContainers
  readonly logs: MemoryContainers
}

export function memoryEngine(info: Partial<EngineInfo> = {}): MemoryEngine {
  const images = new MemoryImageStore()
  const containers = new MemoryContainers(images)
  return {
    builder: new MemoryImageBuilder(images),
    containers,
    endpoint: 'memory://engine',
    images,
    info: {apiVersion: '1.47', arch: 'amd64', os: 'linux', version: '27.0.0-memory', ...info},
    logs: containers,
    transfer: new MemoryImageTransfer(images),
  }
}
