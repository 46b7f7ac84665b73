import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {MlshipError} from '../errors.js'
import {examplesDir} from '../util/paths.js'
import {packContext, writeBuildContext} from './context.js'

let work: string
let modelDir: string
let entry: string

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-context-test-'))
  modelDir = path.join(work, 'iris')
  await cp(path.join(examplesDir(), 'iris'), modelDir, {recursive: true})
  entry = path.join(work, 'server.ts')
  await writeFile(
    entry,
    "import ort from 'onnxruntime-node'\nconst port: number = 8080\nconsole.log(ort.env.versions, port)\n",
  )
})

afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort()
}

describe('writeBuildContext', () => {
  it('carries onnxruntime for the target platform only, the bundle, the model and the filtered model directory', async () => {
    await writeFile(path.join(modelDir, '.dockerignore'), 'secrets.txt\ndata/\n')
    await writeFile(path.join(modelDir, 'secrets.txt'), 'token')
    await mkdir(path.join(modelDir, 'data'))
    await writeFile(path.join(modelDir, 'data', 'train.csv'), 'a,b')
    await writeFile(path.join(modelDir, 'labels.txt'), 'setosa')
    const output = path.join(work, 'context')

    const context = await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, outputDir: output})
    const files = await listTree(output)

    expect(files).toContain('Dockerfile')
    expect(files).toContain('runtime/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node')
    expect(files).toContain('runtime/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1')
    expect(files.filter((f) => /napi-v6\/(darwin|win32|linux\/arm64)/.test(f))).toEqual([])
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.d.ts'))).toEqual([])
    expect(files).toContain('runtime/node_modules/onnxruntime-common/dist/cjs/package.json')
    expect(files).toEqual(
      expect.arrayContaining([
        'runtime/server/main.js',
        'runtime/server/package.json',
        'runtime/server/healthcheck.cjs',
      ]),
    )
    expect(files.filter((f) => f.startsWith('model/'))).toEqual(['model/model.onnx'])
    // The .dockerignore of the model directory applies; the model file is in its own layer, not twice.
    const config = files.filter((f) => f.startsWith('config/'))
    expect(config).toEqual(
      expect.arrayContaining([
        'config/.dockerignore',
        'config/labels.txt',
        'config/model.pkl',
        'config/model.yaml',
        'config/train.py',
      ]),
    )
    expect(config.filter((f) => /secrets|data\/|model\.onnx/.test(f))).toEqual([])
    expect(await readFile(path.join(output, 'runtime/server/main.js'), 'utf8')).toMatch(
      /from"onnxruntime-node"|from "onnxruntime-node"/,
    )
    expect(context.temporary).toBe(false)
    expect(context.sizeBytes).toBeLessThan(60 * 1024 * 1024)
    expect(context.inputDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  it('without a .dockerignore applies mlship default one (no pickles, no data files)', async () => {
    const output = path.join(work, 'context')
    await writeFile(path.join(modelDir, 'rows.csv'), '1,2')
    await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, outputDir: output})
    const config = (await listTree(output)).filter((f) => f.startsWith('config/'))
    expect(config).toContain('config/model.yaml')
    expect(config).not.toContain('config/model.pkl')
    expect(config).not.toContain('config/rows.csv')
  })

  it('gives the same input digest for the same inputs, another one when only model.yaml changes', async () => {
    const one = await writeBuildContext({dir: modelDir, entryPoints: {main: entry}})
    const two = await writeBuildContext({dir: modelDir, entryPoints: {main: entry}})
    await writeFile(
      path.join(modelDir, 'model.yaml'),
      (await readFile(path.join(modelDir, 'model.yaml'), 'utf8')).replace('port: 8080', 'port: 8081'),
    )
    const three = await writeBuildContext({dir: modelDir, entryPoints: {main: entry}})
    try {
      expect(two.inputDigest).toBe(one.inputDigest)
      expect(three.inputDigest).not.toBe(one.inputDigest)
      expect(three.dockerfile).toContain('EXPOSE 8081')
    } finally {
      for (const c of [one, two, three]) await c.dispose()
    }
    expect(await readdir(one.contextDir).catch(() => 'gone')).toBe('gone')
  })

  it('refuses a non-empty --output folder', async () => {
    const output = path.join(work, 'busy')
    await mkdir(output)
    await writeFile(path.join(output, 'x'), 'x')
    const error = await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, outputDir: output}).catch(
      (e: unknown) => e,
    )
    expect((error as MlshipError).exitCode).toBe(2)
    expect((error as MlshipError).message).toContain('must not exist or be empty')
  })

  it('for --gpu without the CUDA provider files says exactly how to get them (exit 2)', async () => {
    const empty = path.join(work, 'no-cuda')
    await mkdir(empty)
    const error = await writeBuildContext({
      cudaProviderDir: empty,
      dir: modelDir,
      entryPoints: {main: entry},
      gpu: true,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MlshipError)
    expect((error as MlshipError).exitCode).toBe(2)
    expect((error as MlshipError).message).toContain('libonnxruntime_providers_cuda.so')
    expect((error as MlshipError).suggestions.join('\n')).toContain(
      'npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12',
    )
  })

  it('for --gpu with the provider files carries them and renders the CUDA image', async () => {
    const cuda = path.join(work, 'cuda')
    await mkdir(cuda)
    for (const f of ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'])
      await writeFile(path.join(cuda, f), 'stub')
    const output = path.join(work, 'context')
    const context = await writeBuildContext({
      cudaProviderDir: cuda,
      dir: modelDir,
      entryPoints: {main: entry},
      gpu: true,
      outputDir: output,
    })
    const files = await listTree(output)
    expect(files).toContain(
      'runtime/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so',
    )
    expect(context.dockerfile).toMatch(/^FROM nvidia\/cuda:12\.6\.3-cudnn-runtime-ubuntu24\.04$/m)
    expect(context.dockerfile).toContain('MLSHIP_DEVICE=cuda')
    const arm = await writeBuildContext({
      cudaProviderDir: cuda,
      dir: modelDir,
      entryPoints: {main: entry},
      gpu: true,
      platform: 'linux/arm64',
    }).catch((e: unknown) => e)
    expect((arm as MlshipError).message).toContain('only possible for linux/amd64')
  })

  it('packs for linux/arm64 with the arm64 binaries only', async () => {
    const output = path.join(work, 'context')
    await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, outputDir: output, platform: 'linux/arm64'})
    const native = (await listTree(output)).filter((f) => f.includes('napi-v6'))
    expect(native.length).toBeGreaterThan(0)
    expect(native.every((f) => f.includes('linux/arm64/'))).toBe(true)
  })
})

describe('packContext', () => {
  it('streams a tar that honours the context .dockerignore but always keeps the Dockerfile', async () => {
    const dir = path.join(work, 'ctx')
    await mkdir(path.join(dir, 'sub'), {recursive: true})
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM x\n')
    await writeFile(path.join(dir, '.dockerignore'), 'Dockerfile\nsub/*.log\n')
    await writeFile(path.join(dir, 'sub', 'a.log'), 'log')
    await writeFile(path.join(dir, 'sub', 'keep.txt'), 'keep')
    const chunks: Buffer[] = []
    for await (const chunk of packContext(dir)) chunks.push(chunk as Buffer)
    const tar = Buffer.concat(chunks).toString('latin1')
    expect(tar).toContain('Dockerfile')
    expect(tar).toContain('sub/keep.txt')
    expect(tar).not.toContain('a.log')
  })
})
