/**
 * What the interfaces of src/docker promise, as tests that run against any implementation: the real engine
 * (dockerode-engine.integration.test.ts) and the memory engine the fast tests use (memory-engine.test.ts). The memory
 * engine is only worth its tests' trust while it passes the same checks as the engine.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {type DockerEngine, EngineError} from '../engine.js'
import type {EngineStreamEvent} from '../stream.js'

export interface ContractSubject {
  engine: DockerEngine
  /** An image on the engine that the checks may start containers of (its command may exit at once). */
  baseImage: string
  /** A name no other test or run uses. */
  unique: (prefix: string) => string
  /** Remembers what a check creates, removed after the checks even when one fails. */
  track: {container: (id: string) => string; image: (reference: string) => string}
  /**
   * What a started container's command does on its own: the real engine runs it, the memory engine is told (its
   * test-side methods), so that the checks after it hold both to the same outcome.
   */
  runs?: (id: string, outcome: {output: string; exitCode: number}) => void
  /**
   * What the engine's builder makes of a Dockerfile `FROM base` and one LABEL step per entry of `steps`: the memory
   * engine is told; the real engine builds it.
   */
  builds?: (plan: {baseImage: string; steps: Array<[string, string]>}) => void
}

/** A command that runs until stopped, in the base image (node's). */
const IDLE = ['node', '-e', 'setInterval(() => {}, 1000)']

/** A command that writes three lines, the last a little later, and exits with 3. */
const WRITES_AND_EXITS = {
  command: [
    'node',
    '-e',
    "process.stdout.write('one\\ntwo\\n'); setTimeout(() => { process.stdout.write('three\\n'); process.exit(3) }, 300)",
  ],
  exitCode: 3,
  output: 'one\ntwo\nthree\n',
}

async function engineError(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(EngineError)
  return error as EngineError
}

/** A build context holding one Dockerfile, as a tar stream. */
async function dockerfileContext(
  dockerfile: string,
): Promise<{context: NodeJS.ReadableStream; dispose: () => Promise<void>}> {
  const {default: tar} = await import('tar-fs')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-contract-'))
  await writeFile(path.join(dir, 'Dockerfile'), dockerfile)
  return {
    context: tar.pack(dir) as unknown as NodeJS.ReadableStream,
    dispose: () => rm(dir, {force: true, recursive: true}),
  }
}

/**
 * The checks, on the subject given (read when each check starts, after the caller's beforeAll). `skipReason` skips them
 * where no engine exists outside CI, as engineForTests() decides.
 */
export function describeEngineContract(
  name: string,
  subject: () => ContractSubject | undefined,
  skipReason?: string,
): void {
  describe.skipIf(Boolean(skipReason))(`${name}: the contract of src/docker's interfaces`, () => {
    const given = () => {
      const value = subject()
      if (!value) throw new Error('no engine to check')
      return value
    }

    it('an image that is not there: inspect gives undefined, remove does nothing, tag is not-found', async () => {
      const {engine, unique} = given()
      const missing = `${unique('mlship-contract-missing')}:1`
      expect(await engine.images.inspect(missing)).toBeUndefined()
      await engine.images.remove(missing)
      expect((await engineError(engine.images.tag(missing, unique('mlship-contract-x'), '1'))).status).toBe('not-found')
    })

    it('a second reference names the same image, and goes without taking the image with it', async () => {
      const {baseImage, engine, track, unique} = given()
      const repository = unique('mlship-contract-tag')
      const base = await engine.images.inspect(baseImage)
      expect(base?.id).toMatch(/^sha256:[0-9a-f]{64}$/)
      await engine.images.tag(baseImage, repository, '1.0.0')
      track.image(`${repository}:1.0.0`)
      expect((await engine.images.inspect(`${repository}:1.0.0`))?.id).toBe(base!.id)
      await engine.images.remove(`${repository}:1.0.0`, {prune: false})
      expect(await engine.images.inspect(`${repository}:1.0.0`)).toBeUndefined()
      expect((await engine.images.inspect(baseImage))?.id).toBe(base!.id)
    })

    it('a container of an image that is not there is not-found; a name taken is a conflict', async () => {
      const {baseImage, engine, track, unique} = given()
      const missing = `${unique('mlship-contract-missing')}:1`
      expect((await engineError(engine.containers.create({image: missing}))).status).toBe('not-found')
      const name = unique('mlship-contract-name')
      track.container(await engine.containers.create({command: IDLE, image: baseImage, name}))
      const conflict = await engineError(engine.containers.create({command: IDLE, image: baseImage, name}))
      expect(conflict.status).toBe('conflict')
      expect(conflict.message).toContain(name)
    })

    it("a container's life: created, started with its port published, listed, stopped (twice), removed (twice)", async () => {
      const {baseImage, engine, track, unique} = given()
      const label = unique('dev.mlship.contract')
      const id = track.container(
        await engine.containers.create({
          command: IDLE,
          image: baseImage,
          labels: {[label]: 'yes'},
          publish: {containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0},
        }),
      )
      const created = await engine.containers.inspect(id)
      expect(created).toMatchObject({id, labels: {[label]: 'yes'}, running: false})
      expect(created?.imageId).toBe((await engine.images.inspect(baseImage))?.id)
      expect(await engine.containers.listByLabels([`${label}=yes`])).toEqual([])
      expect((await engine.containers.listByLabels([`${label}=yes`], {all: true})).map((c) => c.id)).toEqual([id])

      await engine.containers.start(id)
      const running = await engine.containers.inspect(id)
      expect(running?.running).toBe(true)
      expect(running?.published).toEqual([{containerPort: 8080, hostIp: '127.0.0.1', hostPort: expect.any(Number)}])
      expect(running?.published[0]?.hostPort).toBeGreaterThan(0)
      expect(running?.gpus).toBe(false)
      const [listed] = await engine.containers.listByLabels([`${label}=yes`])
      expect(listed).toMatchObject({id, imageId: created?.imageId, name: running?.name})
      expect(listed?.name).not.toMatch(/^\//)
      expect(await engine.logs.tail(id, 10)).toBe('')

      const exit = engine.containers.wait(id)
      await engine.containers.stop(id, 1)
      expect(typeof (await exit)).toBe('number')
      expect((await engine.containers.inspect(id))?.running).toBe(false)
      await engine.containers.stop(id, 1)
      await engine.containers.remove(id)
      expect(await engine.containers.inspect(id)).toBeUndefined()
      await engine.containers.remove(id)
      await engine.containers.stop(id, 1)
      expect(await engine.containers.listByLabels([`${label}=yes`], {all: true})).toEqual([])
    })
    it('a container that writes and exits on its own: follow gives its lines until it stops, wait its exit code', async () => {
      const {baseImage, engine, runs, track} = given()
      const id = track.container(await engine.containers.create({command: WRITES_AND_EXITS.command, image: baseImage}))
      await engine.containers.start(id)
      runs?.(id, WRITES_AND_EXITS)
      const followed = new PassThrough()
      const chunks: Buffer[] = []
      followed.on('data', (chunk: Buffer) => chunks.push(chunk))
      const [, exitCode] = await Promise.all([
        engine.logs.follow(id, {stderr: followed, stdout: followed}),
        engine.containers.wait(id),
      ])
      expect(exitCode).toBe(WRITES_AND_EXITS.exitCode)
      expect(Buffer.concat(chunks).toString('utf8')).toBe(WRITES_AND_EXITS.output)
      expect(await engine.containers.inspect(id)).toMatchObject({exitCode: 3, oomKilled: false, running: false})
      expect(await engine.logs.tail(id, 2)).toBe('two\nthree\n')
      expect(await engine.containers.wait(id)).toBe(3)
    })
    it("a build: its steps, the id of the image every tag names, and its steps' images listed only as intermediate", async () => {
      const {baseImage, builds, engine, track, unique} = given()
      const label = unique('dev.mlship.contract-build')
      const steps: Array<[string, string]> = [
        [`${label}.a`, 'first'],
        [`${label}.b`, 'second'],
      ]
      builds?.({baseImage, steps})
      const tags = [`${unique('mlship-contract-build')}:1`, `${unique('mlship-contract-build')}:2`]
      for (const tag of tags) track.image(tag)
      const dockerfile = [`FROM ${baseImage}`, ...steps.map(([key, value]) => `LABEL ${key}="${value}"`)].join('\n')
      const {context, dispose} = await dockerfileContext(`${dockerfile}\n`)
      const events: EngineStreamEvent[] = []
      try {
        for await (const event of await engine.builder.build(context, {noCache: false, tags})) events.push(event)
      } finally {
        await dispose()
      }
      expect(events.filter((event) => event.error || event.errorDetail)).toEqual([])
      expect(events.some((event) => event.stream?.startsWith('Step 1/3 : FROM'))).toBe(true)
      const built = events.map((event) => event.aux?.ID).find((id) => typeof id === 'string')
      expect(built).toMatch(/^sha256:[0-9a-f]{64}$/)
      for (const tag of tags) expect((await engine.images.inspect(tag))?.id).toBe(built)
      expect((await engine.images.inspect(tags[0]!))?.labels).toMatchObject({[`${label}.a`]: 'first'})

      const listed = await engine.images.listByLabels([`${label}.a=first`])
      expect(listed.map((image) => image.id)).toEqual([built])
      const all = await engine.images.listByLabels([`${label}.a`], {intermediate: true})
      expect(all).toHaveLength(2)
      const step = all.find((image) => image.id !== built)!
      expect(all.find((image) => image.id === built)?.parentId).toBe(step.id)
      expect(step.labels).not.toHaveProperty(`${label}.b`)
      expect(step.parentId).toBe((await engine.images.inspect(baseImage))?.id)
    })
  })
}
