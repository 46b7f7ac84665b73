import {execa} from 'execa'
import {access, constants, mkdtemp, open, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {writeExperimentTree} from '../experiment/test-support/experiment-dirs.js'
import {examplesDir} from '../util/paths.js'
import {buildNodeFolder} from './node-folder.js'

const IRIS = path.join(examplesDir(), 'iris')

/** e_machine of an ELF file: 0x3e x86-64, 0xb7 AArch64. */
async function elfMachine(file: string): Promise<number> {
  const handle = await open(file, 'r')
  try {
    const {buffer} = await handle.read(Buffer.alloc(20), 0, 20, 0)
    expect(buffer.subarray(0, 4).toString('latin1')).toBe('\u007FELF')
    return buffer.readUInt16LE(18)
  } finally {
    await handle.close()
  }
}

describe('buildNodeFolder', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-node-folder-'))
  })
  afterAll(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('for linux/arm64 carries onnxruntime-node for AArch64 only, the bundled server, the model and start.sh', async () => {
    const out = path.join(dir, 'iris-arm64')
    const result = await buildNodeFolder({dir: IRIS, outputDir: out, platform: 'linux/arm64'})
    expect(result).toMatchObject({name: 'iris-classifier', platform: 'linux/arm64', target: 'node'})
    const native = result.files.filter((f) => f.startsWith('node_modules/onnxruntime-node/bin/'))
    expect(native).toEqual([
      'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node',
    ])
    for (const file of native) expect(await elfMachine(path.join(out, file))).toBe(0xb7)
    expect(result.files).toEqual(
      expect.arrayContaining([
        'start.sh',
        'server/main.js',
        'server/inference-worker.js',
        'model/model.onnx',
        'model/model.yaml',
        'node_modules/onnxruntime-common/package.json',
      ]),
    )
    expect(result.files.some((f) => f.endsWith('.ts') || f.includes('Dockerfile'))).toBe(false)
    await access(path.join(out, 'start.sh'), constants.X_OK)
    // Far smaller than the image's x64 runtime: one platform, no CUDA, no other package.
    expect(result.sizeBytes).toBeLessThan(40e6)
  })

  /** Runs start.sh of a node folder on an ephemeral port; resolves once its "ready" line names the port. */
  function start(out: string): {child: ReturnType<typeof execa>; url: Promise<string>} {
    const child = execa(path.join(out, 'start.sh'), {
      cwd: os.tmpdir(),
      env: {HOST: '127.0.0.1', LOG_LEVEL: 'info', PORT: '0'},
      reject: false,
    })
    const url = new Promise<string>((resolve, reject) => {
      let seen = ''
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString()
        const match = /"container_port":(\d+)/.exec(seen)
        if (match) resolve(`http://127.0.0.1:${match[1]!}`)
      })
      void child.then((done) => reject(new Error(`start.sh exited (${done.exitCode}): ${done.stderr}${seen}`)))
    })
    return {child, url}
  }

  it('with an experiment carries the other variants, and the bundled server answers with each', async () => {
    const tree = await writeExperimentTree(
      '  name: node-folder\n  variants:\n    - {name: control, model: ., weight: 50}\n' +
        '    - {name: candidate, model: ../iris-v2, weight: 50}\n',
      {'iris-v2': '2.0.0'},
    )
    const out = path.join(dir, 'iris-experiment')
    try {
      const result = await buildNodeFolder({dir: tree.primary, outputDir: out, platform: 'linux/amd64'})
      expect(result.files).toEqual(
        expect.arrayContaining(['variants/candidate/model.onnx', 'variants/candidate/model.yaml']),
      )
      const {child, url} = start(out)
      try {
        const response = await fetch(`${await url}/predict`, {
          body: JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]}),
          headers: {'content-type': 'application/json', 'x-mlship-variant': 'candidate'},
          method: 'POST',
        })
        expect(await response.json()).toMatchObject({model_version: '2.0.0', variant: 'candidate'})
      } finally {
        child.kill('SIGTERM')
        await child
      }
    } finally {
      await tree.dispose()
    }
  })

  it('for this machine runs with plain node through start.sh and answers like the server', async () => {
    const out = path.join(dir, 'iris-here')
    const result = await buildNodeFolder({dir: IRIS, outputDir: out, platform: 'linux/amd64'})
    expect(result.files.filter((f) => f.includes('/linux/')).every((f) => f.includes('/linux/x64/'))).toBe(true)
    const child = execa(path.join(out, 'start.sh'), {
      cwd: os.tmpdir(),
      env: {HOST: '127.0.0.1', LOG_LEVEL: 'info', PORT: '0'},
      reject: false,
    })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let seen = ''
        child.stdout.on('data', (chunk: Buffer) => {
          seen += chunk.toString()
          // The server's JSON "ready" line gives the port it listens on.
          const match = /"container_port":(\d+)/.exec(seen)
          if (match) resolve(`http://127.0.0.1:${match[1]!}`)
        })
        void child.then((done) => reject(new Error(`start.sh exited (${done.exitCode}): ${done.stderr}${seen}`)))
      })
      const response = await fetch(`${url}/predict`, {
        body: JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]}),
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
      expect(await response.json()).toMatchObject({labels: ['setosa'], model_version: '1.0.0'})
    } finally {
      child.kill('SIGTERM')
      await child
    }
    expect((await child).exitCode).toBe(0)
  })
})
