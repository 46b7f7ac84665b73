import {describe, expect, it} from 'vitest'

import {memoryEngine} from '../docker/test-support/memory-engine.js'
import type {MlshipError} from '../errors.js'
import {engineAuthConfig, type LayerProgressEvent, pullWithEngine, pushWithEngine} from './engine-transfer.js'

const HOST = '127.0.0.1:5000'
const DIGEST = `sha256:${'d'.repeat(64)}`

function engineWithImage() {
  const engine = memoryEngine()
  engine.images.add({references: [`${HOST}/team/iris:push-1`]})
  return engine
}

describe('engineAuthConfig', () => {
  it('sends a password, or an identity token alone, for the registry host; nothing without credentials', () => {
    expect(engineAuthConfig(HOST, {password: 'pw', username: 'ci'})).toEqual({
      password: 'pw',
      serveraddress: HOST,
      username: 'ci',
    })
    expect(engineAuthConfig(HOST, {identityToken: 'tok', username: '<token>'})).toEqual({
      identitytoken: 'tok',
      serveraddress: HOST,
    })
    expect(engineAuthConfig(HOST, undefined)).toBeUndefined()
  })
})

describe('pushWithEngine on the memory engine', () => {
  const push = (engine: ReturnType<typeof memoryEngine>, onProgress?: (event: LayerProgressEvent) => void) =>
    pushWithEngine({
      credentials: {password: 'pw', username: 'ci'},
      engine,
      host: HOST,
      onProgress,
      repository: `${HOST}/team/iris`,
      tag: 'push-1',
    })

  it('counts the layers it uploaded and those the registry had, and gives the digest the engine reported', async () => {
    const engine = engineWithImage()
    engine.transfer.script = () => ({
      events: [
        {status: 'The push refers to repository [127.0.0.1:5000/team/iris]'},
        {id: 'aaa', status: 'Preparing'},
        {id: 'bbb', status: 'Preparing'},
        {id: 'ccc', status: 'Preparing'},
        {id: 'aaa', progressDetail: {current: 512, total: 2048}, status: 'Pushing'},
        {id: 'aaa', progressDetail: {}, status: 'Pushed'},
        {id: 'bbb', status: 'Layer already exists'},
        {id: 'ccc', status: 'Mounted from team/other'},
        {status: `push-1: digest: ${DIGEST} size: 1234`},
        {aux: {Digest: DIGEST, Size: 1234, Tag: 'push-1'}},
      ],
    })
    const progress: LayerProgressEvent[] = []

    const result = await push(engine, (event) => progress.push(event))

    expect(result).toEqual({digest: DIGEST, pushedBytes: 2048, pushedLayers: 1, reusedLayers: 2})
    expect(progress.map((e) => `${e.id} ${e.state}`)).toEqual([
      'aaa preparing',
      'bbb preparing',
      'ccc preparing',
      'aaa pushing',
      'aaa pushed',
      'bbb exists',
      'ccc mounted',
    ])
    expect(engine.transfer.transfers).toEqual([
      {
        auth: {password: 'pw', serveraddress: HOST, username: 'ci'},
        kind: 'push',
        reference: `${HOST}/team/iris:push-1`,
      },
    ])
  })

  it('credentials the registry refuses: exit 6, naming the user and how to log in', async () => {
    const engine = engineWithImage()
    engine.transfer.script = () => ({
      events: [{id: 'aaa', status: 'Preparing'}, {errorDetail: {message: 'unauthorized: authentication required'}}],
    })
    const error = (await push(engine).catch((e: unknown) => e)) as MlshipError
    expect(error).toMatchObject({code: 'REGISTRY_AUTH', exitCode: 6})
    expect(error.message).toBe(`${HOST} rejected the credentials of "ci" (unauthorized: authentication required)`)
  })

  it('a registry the engine cannot reach, or that speaks plain HTTP: exit 6 with what to change', async () => {
    const engine = engineWithImage()
    engine.transfer.script = () => ({
      events: [{error: 'Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client'}],
    })
    const error = (await push(engine).catch((e: unknown) => e)) as MlshipError
    expect(error).toMatchObject({code: 'REGISTRY_UNREACHABLE', exitCode: 6})
    expect(error.suggestions[0]).toContain(`add "${HOST}" to insecure-registries`)
  })

  it('a push that ends without a digest is a failure', async () => {
    const engine = engineWithImage()
    engine.transfer.script = () => ({events: [{id: 'aaa', status: 'Pushed'}]})
    await expect(push(engine)).rejects.toMatchObject({code: 'PUSH_FAILED', exitCode: 6})
  })

  it('a tag that is not on the engine: the engine says so, exit 6', async () => {
    const engine = memoryEngine()
    await expect(push(engine)).rejects.toMatchObject({
      code: 'PUSH_FAILED',
      message: expect.stringContaining('No such image'),
    })
  })
})

describe('pullWithEngine on the memory engine', () => {
  it('pulls, and an auth failure or any other error is exit 6 with the reference', async () => {
    const engine = memoryEngine()
    engine.transfer.script = () => ({events: [{status: 'Downloaded newer image'}], image: {}})
    await pullWithEngine({engine, host: HOST, reference: `${HOST}/team/iris:1.0.0`})
    expect((await engine.images.inspect(`${HOST}/team/iris:1.0.0`))?.id).toMatch(/^sha256:/)

    engine.transfer.script = () => ({events: [{error: 'pull access denied for team/iris'}]})
    await expect(pullWithEngine({engine, host: HOST, reference: `${HOST}/team/iris:2.0.0`})).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      exitCode: 6,
    })
    engine.transfer.script = () => ({events: [{error: 'manifest for team/iris:3.0.0 not found: manifest unknown'}]})
    await expect(pullWithEngine({engine, host: HOST, reference: `${HOST}/team/iris:3.0.0`})).rejects.toMatchObject({
      code: 'PULL_FAILED',
      exitCode: 6,
      message: `Pulling ${HOST}/team/iris:3.0.0 failed: manifest for team/iris:3.0.0 not found: manifest unknown`,
    })
  })
})
