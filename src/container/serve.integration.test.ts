/**
 * `mlship serve` in container mode on a real engine: detached serving of a built image, a container that never
 * becomes ready (exit 5, removed), and the zero-downtime replacement the registry's rollback uses.
 */
import {runCommand} from '@oclif/test'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildImage} from '../image/build-image.js'
import type {DockerEngine} from '../docker/engine.js'
import {baseImageForTests, EngineCleanup, engineForTests, uniqueName} from '../docker/test-support/engine.js'
import {examplesDir} from '../util/paths.js'
import {findServedContainers} from './container.js'
import {replaceContainer} from './replace.js'
import {serveInContainer} from './serve-container.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the serve integration tests: ${skipReason}`)

describe.skipIf(!engine)('mlship serve (container mode) on a real engine', () => {
  const docker = engine as DockerEngine
  let cleanup: EngineCleanup
  let baseImage: string
  let image: string
  const name = uniqueName('mlship-it-serve')

  beforeAll(async () => {
    cleanup = new EngineCleanup(docker)
    baseImage = await baseImageForTests(docker)
    const built = await buildImage({
      baseImage,
      dir: path.join(examplesDir(), 'iris'),
      engine: docker,
      tags: [cleanup.image(`${name}:1.0.0`)],
    })
    image = built.tags[0]!
  })

  afterAll(async () => {
    await cleanup?.run()
    process.exitCode = undefined
  })

  it('--detach runs the image, waits until it is ready and prints its URL; the container is labelled as mlship served', async () => {
    const {stdout} = await runCommand(['serve', '--image', image, '--detach', '--port', '0', '--json'], {
      root: repoRoot,
    })
    // JSON lines: "ready" once it answers, then "detached".
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ServeLine)
    expect(lines).toHaveLength(2)
    const [ready, result] = lines as [ServeLine, ServeLine]
    expect(ready).toMatchObject({event: 'ready', image})
    expect(result).toMatchObject({event: 'detached'})
    cleanup.container(result.container.id)
    expect(result).toMatchObject({detached: true, image, mode: 'container'})
    expect(result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const health = await fetch(`${result.url}/health`)
    expect(await health.json()).toEqual({status: 'healthy', version: '1.0.0'})
    const served = await findServedContainers(docker, 'iris-classifier')
    expect(served.map((c) => c.id)).toContain(result.container.id)

    // The registry's rollback: start the replacement, wait until it is ready, then stop the old one.
    const replaced = await replaceContainer({container: result.container.id, engine: docker, image})
    cleanup.container(replaced.current.id)
    expect((await fetch(`${replaced.current.url}/ready`)).status).toBe(200)
    expect(await docker.containers.inspect(result.container.id)).toBeUndefined()
  })

  it('in the foreground follows the logs, and ends cleanly on Ctrl-C and on a docker stop from elsewhere', async () => {
    const logs = {stderr: new PassThrough(), stdout: new PassThrough()}
    let output = ''
    logs.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    logs.stderr.resume()

    // Ctrl-C: mlship stops the container gracefully and removes it.
    let id = ''
    const interrupted = serveInContainer({
      dir: '.',
      engine: docker,
      image,
      logs,
      onReady: (s) => (id = cleanup.container(s.container.id)),
      port: 0,
    })
    await waitFor(() => id !== '' && output.includes('"ready"'))
    process.emit('SIGINT', 'SIGINT')
    const result = await interrupted
    expect(result.stoppedBy).toBe('SIGINT')
    expect(result.stopMs).toBeLessThan(5000)
    expect(output).toContain('shutting down')
    expect(await docker.containers.inspect(id)).toBeUndefined()

    // docker stop from elsewhere: the server exits 0, serve returns normally and removes the container.
    id = ''
    const external = serveInContainer({
      dir: '.',
      engine: docker,
      image,
      logs,
      onReady: (s) => (id = cleanup.container(s.container.id)),
      port: 0,
    })
    await waitFor(() => id !== '')
    await docker.containers.stop(id, 10)
    expect((await external).stoppedBy).toBe('external')
  })

  it('exits 5 when the container never becomes ready, removes it, and does not point at log lines it lacks', async () => {
    const {stdout} = await runCommand(['serve', '--image', baseImage, '--port', '0', '--timeout', '20', '--json'], {
      root: repoRoot,
    })
    const {error} = JSON.parse(stdout)
    expect(error).toMatchObject({code: 'CONTAINER_UNHEALTHY', exitCode: 5})
    expect(error.message).toMatch(/did not become ready: the container exited with code \d+ before it was ready\.$/)
    // The base image's own command exits without a word: no "log lines above" to read.
    expect(error.details.logs).toBe('')
    expect(error.suggestions.join(' ')).not.toContain('log lines above')
    expect(error.suggestions[0]).toContain(`The container wrote no log line at all: is ${baseImage} an mlship image?`)
    expect(process.exitCode).toBe(5)
    expect(await docker.containers.inspect(error.details.container)).toBeUndefined()
  })

  it('serves the image `mlship build --base-image` made, without a --base-image of its own', async () => {
    // Given an image of a model built on a base image that model.yaml does not name
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-serve-base-'))
    await cp(path.join(examplesDir(), 'iris'), dir, {recursive: true})
    const yaml = path.join(dir, 'model.yaml')
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/^name: .*$/m, `name: ${name}-base`))
    const built = await buildImage({baseImage, dir, engine: docker, tags: [cleanup.image(`${name}-base:1.0.0`)]})
    cleanup.image(`${name}-base:latest`)
    try {
      // When it is served without --base-image
      const served = await serveInContainer({detach: true, dir, engine: docker, port: 0})
      cleanup.container(served.container.id)

      // Then that image is served, not one rebuilt from build.base_image
      expect(served.build).toMatchObject({imageId: built.imageId, upToDate: true})
      expect((await fetch(`${served.url}/health`)).status).toBe(200)
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  })

  it('exits 2 naming the image when --image does not exist', async () => {
    const {error} = await runCommand(['serve', '--image', `${name}:missing`], {root: repoRoot})
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toContain(`No image ${name}:missing`)
  })
})

interface ServeLine {
  event: string
  url: string
  image: string
  container: {id: string}
}

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
