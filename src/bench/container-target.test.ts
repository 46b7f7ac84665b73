import {existsSync} from 'node:fs'
import {describe, expect, it} from 'vitest'

import {LABELS} from '../image/labels.js'
import {memoryEngine} from '../docker/test-support/memory-engine.js'
import {containerTarget} from './container-target.js'

function engineWithImages() {
  const engine = memoryEngine()
  for (const reference of ['iris:cpu', 'iris:gpu'])
    engine.images.add({labels: {[LABELS.modelName]: 'iris-classifier'}, references: [reference], sizeBytes: 42e6})
  return engine
}

describe('the container target on the memory engine, with images given', () => {
  it('runs the image on a free port with MLSHIP_DEVICE, reports its size, and removes it when closed', async () => {
    const engine = engineWithImages()
    const starter = containerTarget({dir: 'examples/iris', engine, image: 'iris:cpu', imageGpu: 'iris:gpu'})

    const target = await starter.start('cpu')

    const [id] = engine.containers.running()
    expect(engine.containers.specOf(id!)).toMatchObject({
      env: {MLSHIP_DEVICE: 'cpu'},
      gpus: undefined,
      image: 'iris:cpu',
      publish: {containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0},
    })
    expect(target).toMatchObject({device: 'cpu', imageSizeBytes: 42e6, kind: 'container'})
    expect(target.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/predict$/)
    await target.close()
    expect(engine.containers.ids()).toEqual([])
  })

  it('the GPU run uses the GPU image and passes every GPU through', async () => {
    const engine = engineWithImages()
    const target = await containerTarget({dir: 'examples/iris', engine, imageGpu: 'iris:gpu'}).start('gpu')
    const [id] = engine.containers.running()
    expect(engine.containers.specOf(id!)).toMatchObject({env: {MLSHIP_DEVICE: 'cuda'}, gpus: 'all', image: 'iris:gpu'})
    await target.close()
  })

  it('a container that never becomes ready is removed, and the error says why', async () => {
    const engine = engineWithImages()
    engine.containers.healthOnStart = 'unhealthy'
    await expect(containerTarget({dir: 'examples/iris', engine, image: 'iris:cpu'}).start('cpu')).rejects.toMatchObject(
      {code: 'CONTAINER_UNHEALTHY'},
    )
    expect(engine.containers.ids()).toEqual([])
  })

  it('GPUs are usable with the NVIDIA runtime; without it and without a device, the reason names what is there', async () => {
    const engine = engineWithImages()
    engine.containers.runtimeNames = ['io.containerd.runc.v2', 'nvidia', 'runc']
    expect(await containerTarget({dir: 'examples/iris', engine}).gpuUnavailableReason()).toBeNull()
    engine.containers.runtimeNames = ['runc']
    const reason = await containerTarget({dir: 'examples/iris', engine}).gpuUnavailableReason()
    if (existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version')) expect(reason).toBeNull()
    else
      expect(reason).toBe(
        'the Docker engine has no NVIDIA runtime (runtimes: runc) and this host has no NVIDIA device (/dev/nvidiactl)',
      )
  })
})
