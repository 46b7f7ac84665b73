/**
 * What mlship needs of the engine's containers, as small interfaces (in the spirit of testcontainers-node's
 * ContainerClient): services depend on these, `dockerode-engine.ts` implements them over the Engine API, and fast
 * tests use `test-support/memory-engine.ts`. Every method reports an engine failure as an EngineError (engine.ts).
 */

export interface PortPublication {
  /** The port the server listens on inside the container. */
  containerPort: number
  /** Host address: 127.0.0.1 unless the server should be reachable from elsewhere. */
  hostIp: string
  /** Host port; 0 lets the engine pick a free one. */
  hostPort: number
}

export interface ContainerSpec {
  image: string
  name?: string
  env?: Record<string, string>
  labels?: Record<string, string>
  /** Runs this instead of the image's command. */
  command?: string[]
  publish?: PortPublication
  /** Pass GPUs through: "all" or a count (as `docker run --gpus`). */
  gpus?: 'all' | number
  /** docker run --read-only */
  readOnlyRootFilesystem?: boolean
}

export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy'

export interface ContainerDetails {
  id: string
  /** Without Docker's leading slash. */
  name: string
  imageId: string
  running: boolean
  exitCode: number
  oomKilled: boolean
  /** undefined when the image has no HEALTHCHECK. */
  health?: ContainerHealth
  labels: Record<string, string>
  /**
   * The published ports: the host address as asked for ('' when none was), the host port the engine chose while
   * the container runs (else the one asked for; 0 for "any").
   */
  published: PortPublication[]
  /** GPUs were asked for. */
  gpus: boolean
  /**
   * The container's first process as the engine's host numbers it (0 when it is not running): its /proc entry is
   * readable where the engine runs on this machine (the start-up benchmark reads its CPU time).
   */
  pid?: number
}

export interface ContainerSummary {
  id: string
  name: string
  imageId: string
  labels: Record<string, string>
}

/** Creates, starts, looks at, stops and removes containers. */
export interface ContainerRunner {
  /** Creates a container (not started); an EngineError 'conflict' when its name is taken. */
  create(spec: ContainerSpec): Promise<string>
  start(id: string): Promise<void>
  /** undefined when there is no such container. */
  inspect(id: string): Promise<ContainerDetails | undefined>
  /**
   * Stops gracefully (SIGTERM, then SIGKILL after timeoutSeconds). A container already stopped or gone is not an
   * error.
   */
  stop(id: string, timeoutSeconds: number): Promise<void>
  /** Waits until the container stops and gives its exit code. */
  wait(id: string): Promise<number>
  /** Removes a container, running or not, with its anonymous volumes; one already gone is not an error. */
  remove(id: string): Promise<void>
  /** Containers carrying every label given ("key=value"); running ones unless `all`. */
  listByLabels(labels: string[], options?: {all?: boolean}): Promise<ContainerSummary[]>
  /** The OCI runtimes the engine can run containers with (runc, nvidia...). */
  runtimes(): Promise<string[]>
}

/** What containers write to stdout and stderr. */
export interface ContainerLogs {
  /** The last lines (stdout and stderr interleaved, as written). */
  tail(id: string, lines: number): Promise<string>
  /** Follows the logs until the container stops or signal aborts. */
  follow(
    id: string,
    out: {stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream},
    signal?: AbortSignal,
  ): Promise<void>
}
