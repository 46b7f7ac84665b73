import {cp, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, symlink, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {readCheckedConfig} from '../config/checked-config.js'
import {loadConfig} from '../config/load.js'
import {MlshipError} from '../errors.js'
import {examplesDir} from '../util/paths.js'
import {resolveExperiment} from '../experiment/resolve.js'
import {writeExperimentTree} from '../experiment/test-support/experiment-dirs.js'
import {loadModelProject} from '../model/load-model.js'
import {packContext, planBuild, writeBuildContext} from './context.js'
import {splitStages} from './stages.js'
import {writeExternalDataModel} from './test-support/onnx-model.js'

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
  it('carries onnxruntime for the target platform only, the bundle, the model and model.yaml', async () => {
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
    expect(files.filter((f) => !f.startsWith('runtime/'))).toEqual([
      'Dockerfile',
      'config/.model.yaml.checked.json',
      'config/model.yaml',
      'model/model.onnx',
    ])
    // model.yaml as this build checked it, beside it: the server reads it as loadConfig would read model.yaml.
    const copy = path.join(work, 'as-in-the-image')
    await cp(path.join(output, 'config'), copy, {recursive: true})
    await cp(path.join(output, 'model'), copy, {recursive: true})
    expect(await readCheckedConfig(copy)).toEqual(await loadConfig(copy))
    expect(context.files.map((f) => [f.role, f.path])).toEqual([
      ['model', '/app/model/model.onnx'],
      ['config', '/app/model/model.yaml'],
    ])
    expect(await readFile(path.join(output, 'runtime/server/main.js'), 'utf8')).toMatch(
      /from"onnxruntime-node"|from "onnxruntime-node"/,
    )
    expect(context.temporary).toBe(false)
    expect(context.sizeBytes).toBeLessThan(60 * 1024 * 1024)
    expect(context.inputDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  it('leaves every other file of the model directory out, secrets above all, whatever .dockerignore says', async () => {
    // Given a model directory that holds what a working directory holds, and a .dockerignore that un-ignores it all
    const secrets = [
      'credentials.json',
      'id_rsa',
      '.npmrc',
      '.netrc',
      '.aws/credentials',
      '.ssh/id_ed25519',
      'tls.pem',
      'kubeconfig',
      'terraform.tfstate',
      'service-account-prod.json',
      '.env',
      'notes/train.csv',
    ]
    for (const file of secrets) {
      await mkdir(path.dirname(path.join(modelDir, file)), {recursive: true})
      await writeFile(path.join(modelDir, file), 'secret')
    }
    await writeFile(path.join(modelDir, '.dockerignore'), '!*\n!**/*\n!.aws\n!.ssh\n')
    const output = path.join(work, 'context')

    // When the build context is written
    await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, outputDir: output})

    // Then only the model and model.yaml are in it
    const files = (await listTree(output)).filter((f) => !f.startsWith('runtime/'))
    expect(files).toEqual(['Dockerfile', 'config/.model.yaml.checked.json', 'config/model.yaml', 'model/model.onnx'])
  })

  it('carries the external data files the model names, under the names it gives them', async () => {
    const dir = path.join(work, 'external')
    await mkdir(path.join(dir, 'weights'), {recursive: true})
    await writeExternalDataModel({dir: path.join(dir, 'weights'), file: 'net.onnx', location: 'net.weights'})
    await writeFile(path.join(dir, 'weights', 'net.onnx.data'), 'not referenced by the model')
    await writeFile(path.join(dir, 'model.yaml'), 'name: external\nversion: 1.0.0\nmodel:\n  file: weights/net.onnx\n')
    const output = path.join(work, 'context')

    const context = await writeBuildContext({dir, entryPoints: {main: entry}, outputDir: output})

    expect((await listTree(output)).filter((f) => !f.startsWith('runtime/'))).toEqual([
      'Dockerfile',
      'config/.model.yaml.checked.json',
      'config/model.yaml',
      'model/weights/net.onnx',
      'model/weights/net.weights',
    ])
    expect(context.files.map((f) => [f.role, f.path, f.sizeBytes])).toContainEqual([
      'external-data',
      '/app/model/weights/net.weights',
      8,
    ])
  })

  it('refuses a model file that is a symbolic link out of the model directory, and leaves stray links out', async () => {
    // Given a sidecar beside the model that links to a file elsewhere on this machine (the model does not name it)
    const outside = path.join(work, 'shadow')
    await writeFile(outside, 'root:$6$secret')
    await symlink(outside, path.join(modelDir, 'model.onnx.data'))
    await symlink(outside, path.join(modelDir, 'model.onnx_data'))
    const output = path.join(work, 'context')

    // When the context is written, Then the link is not followed into it
    await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, outputDir: output})
    expect((await listTree(output)).filter((f) => f.startsWith('model/'))).toEqual(['model/model.onnx'])

    // And a model file that leads out of the directory is refused, with where it leads
    const modelLink = path.join(work, 'model-link')
    await cp(path.join(examplesDir(), 'iris'), modelLink, {recursive: true})
    await rename(path.join(modelLink, 'model.onnx'), path.join(work, 'elsewhere.onnx'))
    await symlink(path.join(work, 'elsewhere.onnx'), path.join(modelLink, 'model.onnx'))
    const error = await planBuild({dir: modelLink}).catch((e: unknown) => e)
    expect(error).toMatchObject({code: 'SYMLINK_OUTSIDE_MODEL_DIR', exitCode: 2})
    expect((error as MlshipError).message).toContain(
      `is a symbolic link to ${await realpath(path.join(work, 'elsewhere.onnx'))}`,
    )
  })

  it('refuses external data the model links out of its directory (onnxruntime refuses it too)', async () => {
    const outside = path.join(work, 'eight-bytes')
    await writeFile(outside, 'secret!!')
    const dir = path.join(work, 'linked')
    await mkdir(dir)
    await writeExternalDataModel({dir, location: 'model.onnx.data', writeData: false})
    await symlink(outside, path.join(dir, 'model.onnx.data'))
    await writeFile(path.join(dir, 'model.yaml'), 'name: linked\nversion: 1.0.0\nmodel:\n  file: model.onnx\n')
    const output = path.join(work, 'context')
    const error = await writeBuildContext({dir, entryPoints: {main: entry}, outputDir: output}).catch((e: unknown) => e)
    expect(error).toMatchObject({exitCode: 2})
    expect(await listTree(output).catch(() => [])).not.toContain('model/model.onnx.data')
  })

  it('follows a symbolic link that stays inside the model directory', async () => {
    await mkdir(path.join(modelDir, 'versions'))
    await rename(path.join(modelDir, 'model.onnx'), path.join(modelDir, 'versions', 'v1.onnx'))
    await symlink(path.join('versions', 'v1.onnx'), path.join(modelDir, 'model.onnx'))
    const plan = await planBuild({dir: modelDir})
    expect(plan.files[0]).toMatchObject({
      path: '/app/model/model.onnx',
      source: await realpath(path.join(modelDir, 'versions', 'v1.onnx')),
    })
  })

  it('refuses external data that the model places outside its directory, or under the name of a secret', async () => {
    const dir = path.join(work, 'escape')
    await mkdir(path.join(dir, 'model', '.ssh'), {recursive: true})
    await writeFile(path.join(dir, 'model.yaml'), 'name: escape\nversion: 1.0.0\nmodel:\n  file: model/model.onnx\n')
    await writeExternalDataModel({dir: path.join(dir, 'model'), location: '../../w.bin'})
    await expect(planBuild({dir})).rejects.toMatchObject({exitCode: 2})

    await writeExternalDataModel({dir: path.join(dir, 'model'), location: '.ssh/id_rsa'})
    const error = await planBuild({dir}).catch((e: unknown) => e)
    expect(error).toMatchObject({code: 'SECRET_IN_IMAGE', exitCode: 2})
    expect((error as MlshipError).message).toContain('matches "**/.ssh"')
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

  it("has the code cache written where the image is for the engine's own platform only, and never for a test's own entries", async () => {
    const runs = (dockerfile: string) => dockerfile.includes('RUN ["node", "/app/server/write-code-cache.js"]')
    expect(runs((await planBuild({dir: modelDir, nativePlatform: 'linux/amd64'})).dockerfile)).toBe(true)
    expect(runs((await planBuild({dir: modelDir, nativePlatform: 'linux/arm64'})).dockerfile)).toBe(false)
    expect(runs((await planBuild({dir: modelDir, nativePlatform: false})).dockerfile)).toBe(false)
    const arm = await planBuild({dir: modelDir, nativePlatform: 'linux/arm64', platform: 'linux/arm64'})
    expect(runs(arm.dockerfile)).toBe(true)
    const context = await writeBuildContext({dir: modelDir, entryPoints: {main: entry}, nativePlatform: 'linux/amd64'})
    try {
      expect(runs(context.dockerfile)).toBe(false)
    } finally {
      await context.dispose()
    }
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
      'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --ignore-scripts=false',
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

describe('an experiment', () => {
  const EXPERIMENT = `  name: iris-v2-test
  variants:
    - {name: control, model: ., weight: 90}
    - {name: candidate, model: ../iris-v2, weight: 10}
    - {name: quantised, model: ../iris-int8, shadow: true}
`

  it('bundles every other variant in a layer of its own, where the server in the image finds it', async () => {
    const tree = await writeExperimentTree(EXPERIMENT, {'iris-int8': '1.0.1', 'iris-v2': '2.0.0'})
    try {
      const output = path.join(work, 'context')
      const context = await writeBuildContext({dir: tree.primary, entryPoints: {main: entry}, outputDir: output})
      const files = await listTree(output)

      expect(files.filter((f) => f.startsWith('variants/'))).toEqual([
        'variants/candidate/model.onnx',
        'variants/candidate/model.yaml',
        'variants/quantised/model.onnx',
        'variants/quantised/model.yaml',
      ])
      expect(context.files.map((f) => f.path)).toContain('/app/variants/candidate/model.onnx')
      // Each variant is a COPY of its own, in the model stage: a new model.yaml rebuilds the config stage alone.
      const model = splitStages(context.dockerfile)!.find((stage) => stage.name === 'model')!
      expect(model.instructions).toEqual([
        'COPY model/ /app/model/',
        'COPY variants/candidate/ /app/variants/candidate/',
        'COPY variants/quantised/ /app/variants/quantised/',
        'ENV MLSHIP_VARIANTS_DIR=/app/variants',
      ])

      // The image's layout: the model and model.yaml in /app/model, the variants under /app/variants.
      const image = path.join(work, 'image')
      await cp(path.join(output, 'model'), path.join(image, 'model'), {recursive: true})
      await cp(path.join(output, 'config'), path.join(image, 'model'), {recursive: true})
      await cp(path.join(output, 'variants'), path.join(image, 'variants'), {recursive: true})
      const resolved = await resolveExperiment(await loadModelProject(path.join(image, 'model')), {
        variantsDir: path.join(image, 'variants'),
      })
      expect(resolved!.variants.map((v) => [v.name, v.project.config.version, v.primary])).toEqual([
        ['control', '1.0.0', true],
        ['candidate', '2.0.0', false],
        ['quantised', '1.0.1', false],
      ])
    } finally {
      await tree.dispose()
    }
  })

  it('stops at the line of a variant that cannot be loaded (exit 2), before anything is written', async () => {
    const tree = await writeExperimentTree(EXPERIMENT, {'iris-v2': '2.0.0'})
    try {
      const error = await planBuild({dir: tree.primary}).catch((e: unknown) => e as MlshipError)
      expect(error).toBeInstanceOf(MlshipError)
      expect(error).toMatchObject({code: 'VARIANT_NOT_FOUND', exitCode: 2})
    } finally {
      await tree.dispose()
    }
  })

  it('renders no variant folder, and no MLSHIP_VARIANTS_DIR, without an experiment', async () => {
    const plan = await planBuild({dir: modelDir})
    expect(plan.dockerfile).not.toContain('variants')
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
    for await (const chunk of await packContext(dir)) chunks.push(chunk as Buffer)
    const tar = Buffer.concat(chunks).toString('latin1')
    expect(tar).toContain('Dockerfile')
    expect(tar).toContain('sub/keep.txt')
    expect(tar).not.toContain('a.log')
  })
})

describe('the build cache', () => {
  it('re-uses the bundled server after a model.yaml-only change, and bundles again after a source change', async () => {
    const cacheDir = path.join(work, 'cache')
    // Sources modified long enough ago to be trusted to the cache (a file changed within 2 s is not).
    const settle = (file: string, minutesAgo: number) =>
      utimes(file, new Date(Date.now() - minutesAgo * 60_000), new Date(Date.now() - minutesAgo * 60_000))
    await settle(entry, 60)
    const build = async () => {
      const context = await writeBuildContext({cacheDir, dir: modelDir, entryPoints: {main: entry}})
      try {
        return await readFile(path.join(context.contextDir, 'runtime/server/main.js'), 'utf8')
      } finally {
        await context.dispose()
      }
    }
    const first = await build()
    const [entryKey] = await readdir(path.join(cacheDir, 'server-bundle'))
    const cachedMain = path.join(cacheDir, 'server-bundle', entryKey!, 'main.js')
    expect(await readFile(cachedMain, 'utf8')).toBe(first)

    // The next build copies the cached bundle rather than running esbuild: a marker planted in it shows up.
    await writeFile(cachedMain, `${first}// planted in the cache\n`)
    const configFile = path.join(modelDir, 'model.yaml')
    await writeFile(configFile, (await readFile(configFile, 'utf8')).replace(/^description: .*$/m, 'description: new'))
    expect(await build()).toContain('// planted in the cache')

    await writeFile(entry, "import ort from 'onnxruntime-node'\nconsole.log('a changed source', ort.env.versions)\n")
    await settle(entry, 30)
    const changed = await build()
    expect(changed).not.toContain('// planted in the cache')
    expect(changed).toContain('a changed source')

    // An entry whose files went away (a concurrent build replacing it) is bundled again, not an error.
    const [key] = await readdir(path.join(cacheDir, 'server-bundle'))
    await rm(path.join(cacheDir, 'server-bundle', key!, 'main.js'))
    expect(await build()).toContain('a changed source')
  })

  it('keeps nothing with cacheDir false', async () => {
    const context = await writeBuildContext({cacheDir: false, dir: modelDir, entryPoints: {main: entry}})
    await context.dispose()
    expect(await readdir(work)).not.toContain('cache')
  })
})
