import {describe, expect, it} from 'vitest'

import {stripCredentials} from '../image/git.js'
import {LABELS} from '../image/labels.js'
import {memoryEngine, type MemoryEngine} from '../docker/test-support/memory-engine.js'
import type {MlshipError} from '../errors.js'
import {findServedContainers, runContainer, serverUrl, stopContainer, waitReady} from './container.js'

describe('stripCredentials', () => {
  it('never lets a token from a remote URL into a label', () => {
    expect(stripCredentials('https://user:ghp_secret@github.com/org/repo.git')).toBe('https://github.com/org/repo.git')
    expect(stripCredentials('git@github.com:org/repo.git')).toBe('github.com:org/repo.git')
  })
})

/** The iris image as the memory engine holds it: mlship's labels, port 8080. */
function irisEngine(): MemoryEngine {
  const engine = memoryEngine()
  engine.images.add({
    exposedPorts: ['8080/tcp'],
    labels: {[LABELS.modelName]: 'iris-classifier', [LABELS.modelVersion]: '1.0.0'},
    references: ['iris-classifier:1.0.0'],
  })
  return engine
}

describe('runContainer on the memory engine', () => {
  it("publishes on 127.0.0.1 by default, labels the container as mlship's with the image's model, gives its URL", async () => {
    const engine = irisEngine()
    const running = await runContainer({
      containerPort: 8080,
      engine,
      env: {MLSHIP_DEVICE: 'cpu'},
      hostPort: 0,
      image: 'iris-classifier:1.0.0',
    })
    const spec = engine.containers.specOf(running.id)
    expect(spec.publish).toEqual({containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0})
    expect(spec.env).toEqual({MLSHIP_DEVICE: 'cpu'})
    expect(spec.labels).toEqual({
      [LABELS.managed]: 'true',
      [LABELS.modelName]: 'iris-classifier',
      [LABELS.modelVersion]: '1.0.0',
    })
    // The port the engine chose, not the 0 asked for.
    expect(running.hostPort).toBeGreaterThan(0)
    expect(running.url).toBe(`http://127.0.0.1:${running.hostPort}`)
    expect(engine.containers.running()).toEqual([running.id])
    const served = await findServedContainers(engine, 'iris-classifier')
    expect(served.map((c) => c.id)).toEqual([running.id])
    expect(await findServedContainers(engine, 'another-model')).toEqual([])
  })

  it('reaches a server published on every address (0.0.0.0) or on IPv6 through a URL that works', () => {
    expect(serverUrl('0.0.0.0', 9000)).toBe('http://127.0.0.1:9000')
    expect(serverUrl('::1', 9000)).toBe('http://[::1]:9000')
  })

  it('no such image: exit 2, build it first', async () => {
    await expect(
      runContainer({containerPort: 8080, engine: irisEngine(), hostPort: 0, image: 'iris-classifier:9.9.9'}),
    ).rejects.toMatchObject({code: 'IMAGE_NOT_FOUND', exitCode: 2, message: expect.stringContaining('memory://')})
  })

  it('a container name in use: exit 2, naming the container and the way out', async () => {
    const engine = irisEngine()
    const options = {containerPort: 8080, engine, hostPort: 0, image: 'iris-classifier:1.0.0', name: 'iris'}
    await runContainer(options)
    const error = (await runContainer(options).catch((e: unknown) => e)) as MlshipError
    expect(error).toMatchObject({code: 'CONTAINER_CONFLICT', exitCode: 2})
    expect(error.message).toContain('A container named iris already exists')
    expect(error.suggestions[0]).toContain('docker rm -f iris')
  })

  it('a port in use: exit 2, and the container that could not start is removed', async () => {
    const engine = irisEngine()
    engine.containers.failStart(
      'driver failed programming external connectivity: Bind for 127.0.0.1:8080 failed: port is already allocated',
    )
    const error = (await runContainer({
      containerPort: 8080,
      engine,
      hostPort: 8080,
      image: 'iris-classifier:1.0.0',
    }).catch((e: unknown) => e)) as MlshipError
    expect(error).toMatchObject({code: 'PORT_IN_USE', exitCode: 2})
    expect(error.suggestions[0]).toContain('Port 8080 is taken')
    expect(engine.containers.ids()).toEqual([])
  })

  it('GPUs the engine cannot give: exit 5, run without --gpus', async () => {
    const engine = irisEngine()
    engine.containers.failStart('could not select device driver "" with capabilities: [[gpu]]')
    const error = (await runContainer({
      containerPort: 8080,
      engine,
      gpus: 'all',
      hostPort: 0,
      image: 'iris-classifier:1.0.0',
    }).catch((e: unknown) => e)) as MlshipError
    expect(error).toMatchObject({code: 'GPU_UNAVAILABLE', exitCode: 5})
    expect(error.suggestions[0]).toContain('NVIDIA Container Toolkit')
  })
})

describe('waitReady on the memory engine', () => {
  async function started(engine: MemoryEngine) {
    return runContainer({containerPort: 8080, engine, hostPort: 0, image: 'iris-classifier:1.0.0'})
  }

  it('is ready once the engine reports the container healthy', async () => {
    const engine = irisEngine()
    const container = await started(engine)
    const {readyMs} = await waitReady({container, engine, timeoutMs: 60_000})
    expect(readyMs).toBeGreaterThanOrEqual(0)
  })

  it('a container that exits first: exit 5 with its last log lines, and the container is left to the caller', async () => {
    const engine = irisEngine()
    engine.containers.healthOnStart = 'starting'
    const container = await started(engine)
    engine.containers.write(container.id, 'loading model\nError: model.onnx: protobuf parsing failed\n')
    engine.containers.exit(container.id, 1)

    const error = (await waitReady({container, engine, timeoutMs: 60_000}).catch((e: unknown) => e)) as MlshipError

    expect(error).toMatchObject({code: 'CONTAINER_UNHEALTHY', exitCode: 5})
    expect(error.message).toBe(
      'The container of iris-classifier:1.0.0 did not become ready: the container exited with code 1 before it was ' +
        'ready.\nLast log lines:\n  | loading model\n  | Error: model.onnx: protobuf parsing failed',
    )
    expect(error.suggestions[0]).toMatch(/^Read the log lines above/)
    expect(engine.containers.ids()).toEqual([container.id])
  })

  it('a container that wrote nothing is not told to read log lines above', async () => {
    const engine = irisEngine()
    engine.containers.healthOnStart = 'unhealthy'
    const container = await started(engine)
    const error = (await waitReady({container, engine, timeoutMs: 60_000}).catch((e: unknown) => e)) as MlshipError
    expect(error.message).toBe(
      'The container of iris-classifier:1.0.0 did not become ready: the container became unhealthy.',
    )
    expect(error.details.logs).toBe('')
    expect(error.suggestions[0]).toContain('The container wrote no log line at all')
  })

  it('gives up after its time: exit 5', async () => {
    const engine = irisEngine()
    engine.containers.healthOnStart = 'starting'
    const container = await started(engine)
    await expect(waitReady({container, engine, timeoutMs: 0})).rejects.toMatchObject({
      code: 'CONTAINER_UNHEALTHY',
      message: expect.stringContaining('it was not ready within 0 s'),
    })
  })

  it('a container removed while it starts is said to be gone', async () => {
    const engine = irisEngine()
    engine.containers.healthOnStart = 'starting'
    const container = await started(engine)
    await engine.containers.remove(container.id)
    await expect(waitReady({container, engine, timeoutMs: 60_000})).rejects.toMatchObject({code: 'CONTAINER_GONE'})
  })
})

describe('stopContainer', () => {
  it('stops and removes; a second stop of the same container is not an error', async () => {
    const engine = irisEngine()
    const container = await runContainer({containerPort: 8080, engine, hostPort: 0, image: 'iris-classifier:1.0.0'})
    await stopContainer(engine, container.id, {remove: false})
    expect(engine.containers.running()).toEqual([])
    expect(engine.containers.ids()).toEqual([container.id])
    await stopContainer(engine, container.id)
    expect(engine.containers.ids()).toEqual([])
    await stopContainer(engine, container.id)
  })
})
