import {execa} from 'execa'
import {cp, mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadConfig} from '../config/load.js'
import {baseImageForTests, engineForTests} from '../docker/test-support/engine.js'
import {
  deleteRepository,
  loggedInDockerConfig,
  mlship,
  REPO_ROOT,
  registryTestEnv,
  removeLocalReferences,
  uniqueRepository,
} from '../registry/test-support/env.js'
import {optimizeModel} from './optimize.js'
import {largerMlp, torchPython} from './test-support/torch.js'

const digits = path.join(REPO_ROOT, 'examples/digits-mlp')
const heldOut = path.join(digits, 'test.csv')
const python = await torchPython()

/** Argmax per held-out row of digits' test.csv, from onnxruntime: the check that does not trust the gate's code. */
async function heldOutArgmaxes(modelPath: string): Promise<number[]> {
  const lines = (await readFile(heldOut, 'utf8')).trim().split('\n').slice(1)
  const pixels = Float32Array.from(lines.flatMap((line) => line.split(',').slice(0, 64).map(Number)))
  const session = await ort.InferenceSession.create(modelPath)
  try {
    const output = await session.run({pixels: new ort.Tensor('float32', pixels, [lines.length, 64])})
    const p = output.probabilities!.data as Float32Array
    return lines.map((_, r) => {
      let best = 0
      for (let i = 1; i < 10; i++) if (p[r * 10 + i]! > p[r * 10 + best]!) best = i
      return best
    })
  } finally {
    await session.release()
  }
}

describe.skipIf(!python.python)(
  `mlship optimize on a larger MLP made with torch${python.skipReason ? ` (${python.skipReason})` : ''}`,
  () => {
    let work: string
    let dir: string
    beforeAll(async () => {
      work = await mkdtemp(path.join(os.tmpdir(), 'mlship-optimize-torch-'))
      dir = path.join(work, 'larger-mlp')
      await largerMlp(python.python!, dir)
    })
    afterAll(async () => {
      await rm(work, {force: true, recursive: true})
    })

    it('int8: at most 35% of the float32 file, the same argmax on at least 99% of the held-out rows', async () => {
      const result = await optimizeModel({
        data: heldOut,
        dir,
        ignoreColumns: ['label'],
        method: 'int8',
        speed: {minCalls: 2, roundMs: 20, rounds: 1},
      })
      expect(result.source.sizeBytes).toBeGreaterThan(30_000_000)
      expect(result.output.sizeBytes / result.source.sizeBytes).toBeLessThanOrEqual(0.35)
      expect(result.int8?.quantized).toHaveLength(4)
      expect(result.accuracy.agreement).toBeGreaterThanOrEqual(0.99)

      const [before, after] = [
        await heldOutArgmaxes(path.join(dir, 'model.onnx')),
        await heldOutArgmaxes(result.output.modelPath),
      ]
      expect(before.filter((label, row) => label === after[row]).length / before.length).toBeGreaterThanOrEqual(0.99)
    })

    it('fp16: half the file, the same argmax on at least 99% of the held-out rows', async () => {
      const result = await optimizeModel({data: heldOut, dir, ignoreColumns: ['label'], method: 'fp16', speed: false})
      expect(result.output.sizeBytes / result.source.sizeBytes).toBeLessThan(0.55)
      expect(result.accuracy.agreement).toBeGreaterThanOrEqual(0.99)
    })
  },
)

const registry = registryTestEnv()
const {engine, skipReason} = await engineForTests()

describe.skipIf(!registry || !engine)(
  `an optimised model directory builds and pushes like any other${skipReason ? ` (${skipReason})` : ''}`,
  () => {
    const repository = uniqueRepository('optimize')
    let work: string
    let dockerConfig: {dir: string; cleanup: () => Promise<void>}
    beforeAll(async () => {
      work = await mkdtemp(path.join(os.tmpdir(), 'mlship-optimize-push-'))
      dockerConfig = await loggedInDockerConfig(registry!)
    })
    afterAll(async () => {
      await deleteRepository(registry!, repository)
      await removeLocalReferences(`${registry!.host}/${repository}`)
      await dockerConfig?.cleanup()
      await rm(work, {force: true, recursive: true})
    })

    it('mlship optimize, then mlship push of the int8 directory: built, pushed, its labels name the int8 model', async () => {
      const source = path.join(work, 'digits')
      await mkdir(source)
      for (const file of ['model.onnx', 'model.yaml']) await cp(path.join(digits, file), path.join(source, file))
      const optimized = await mlship(['optimize', source, '--method', 'int8', '--json'])
      expect(optimized.exitCode, optimized.stderr).toBe(0)
      const out = JSON.parse(optimized.stdout).output.dir as string
      expect((await loadConfig(out)).config.name).toBe('digits-mlp-int8')

      const target = `${registry!.host}/${repository}`
      const pushed = await mlship(
        ['push', out, '--registry', target, '--base-image', await baseImageForTests(engine!), '--json'],
        {env: {...process.env, DOCKER_CONFIG: dockerConfig.dir}},
      )
      expect(pushed.exitCode, pushed.stderr).toBe(0)
      const result = JSON.parse(pushed.stdout)
      expect(result).toMatchObject({built: true, image: target, version: '1.0.0'})
      const {stdout} = await execa('docker', [
        'image',
        'inspect',
        `${target}:1.0.0`,
        '--format',
        '{{json .Config.Labels}}',
      ])
      const labels = JSON.parse(stdout) as Record<string, string>
      expect(labels['dev.mlship.model.sha256']).toBe(JSON.parse(optimized.stdout).output.sha256)
    })
  },
)
