/**
 * What the interfaces of src/docker promise, as tests that run against any implementation: the real engine
 * (dockerode-engine.integration.test.ts) and the memory engine the fast tests use (memory-engine.test.ts). The memory
 * engine is only worth its tests' trust while it passes the same checks as the engine.
 */
import {describe, expect, it} from 'vitest'

import {type DockerEngine, EngineError} from '../engine.js'

export interface ContractSubject {
  engine: DockerEngine
  /** An image on the engine that the checks may start containers of (its command may exit at once). */
  baseImage: string
  /** A name no other test or run uses. */
  unique: (prefix: string) => string
  /** Remembers what a check creates, removed after the checks even when one fails. */
  track: {container: (id: string) => string; image: (reference: string) => string}
}

/** A command that runs until stopped, in the base image (node's). */
const IDLE = ['node', '-e', 'setInterval(() => {}, 1000)']

async function engineError(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(EngineError)
  return error as EngineError
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
  })
}
