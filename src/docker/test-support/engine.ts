/**
 * Shared by the *.integration.test.ts files that need a Docker engine. It decides skip-versus-fail in one place:
 * a developer machine without Docker skips them; CI (CI set) without an engine fails loudly, never skips.
 */
import Docker from 'dockerode'

import {connectEngine, type DockerEngine} from '../engine.js'

/**
 * A dockerode client of the test's own, for what only a test asks of the engine (an image's history, an exec into a
 * running container): mlship reaches the engine through the interfaces of src/docker only.
 */
export function dockerodeForTests(): Docker {
  return new Docker()
}

export interface EngineForTests {
  engine?: DockerEngine
  /** Why the tests skip (only ever set outside CI). */
  skipReason?: string
}

export function inCi(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

/** Connects to the engine; outside CI a missing engine means "skip", in CI it throws. */
export async function engineForTests(): Promise<EngineForTests> {
  try {
    return {engine: await connectEngine({timeoutMs: 5000})}
  } catch (error) {
    if (inCi()) {
      throw new Error(
        `CI is set and no Docker engine answers (${(error as Error).message}). Run scripts/test-env.sh first (.ci/run does).`,
        {cause: error},
      )
    }
    return {skipReason: `no Docker engine (${(error as Error).message}); these tests run in CI`}
  }
}

/**
 * The base image the tests build on: MLSHIP_TEST_BASE_IMAGE (scripts/test-env.sh exports it), else the official
 * node:20-bookworm-slim or the stand-in test-env.sh builds, whichever the engine has.
 */
export async function baseImageForTests(engine: DockerEngine): Promise<string> {
  const candidates = [
    process.env.MLSHIP_TEST_BASE_IMAGE,
    'node:20-bookworm-slim',
    'mlship-test/node:20-bookworm-slim',
  ].filter((c): c is string => Boolean(c))
  for (const image of candidates) {
    if (await engine.images.inspect(image)) return image
  }
  throw new Error(
    `None of ${candidates.join(', ')} is on the engine: source scripts/test-env.sh to build the stand-in base image.`,
  )
}

/** Remembers the containers and images a test creates and removes them, also when the test failed. */
export class EngineCleanup {
  private readonly containers = new Set<string>()
  private readonly images = new Set<string>()

  constructor(private readonly engine: Pick<DockerEngine, 'containers' | 'images'>) {}

  container(id: string): string {
    this.containers.add(id)
    return id
  }

  image(reference: string): string {
    this.images.add(reference)
    return reference
  }

  async run(): Promise<void> {
    for (const id of this.containers) await this.engine.containers.remove(id).catch(() => undefined)
    for (const image of this.images) await this.engine.images.remove(image, {force: true}).catch(() => undefined)
    this.containers.clear()
    this.images.clear()
  }
}

/** A unique lowercase suffix for image and container names, so parallel runs do not collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`
}
