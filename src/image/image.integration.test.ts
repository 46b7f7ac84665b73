/**
 * The iris image on a real Docker engine: build, run, predict, inspect, stop with requests in flight, rebuilds that
 * re-use layers, and builds that fail. Needs an engine and a Node.js base image: `source scripts/test-env.sh`.
 */
import {execa} from 'execa'
import {appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import http from 'node:http'
import ort from 'onnxruntime-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {stopContainer, runContainer, waitReady} from '../container/container.js'
import type {DockerEngine} from '../docker/engine.js'
import {
  baseImageForTests,
  dockerodeForTests,
  EngineCleanup,
  engineForTests,
  uniqueName,
} from '../docker/test-support/engine.js'
import {MlshipError} from '../errors.js'
import {sha256File} from '../util/hash.js'
import {examplesDir, packageRoot} from '../util/paths.js'
import {type BuildImageResult, buildImage} from './build-image.js'
import {dockerfileTemplatePath} from './dockerfile.js'
import {LABELS} from './labels.js'
import {writeExternalDataModel} from './test-support/onnx-model.js'

const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the image integration tests: ${skipReason}`)

describe.skipIf(!engine)('the iris image on a real engine', () => {
  const docker = engine as DockerEngine
  let cleanup: EngineCleanup
  let baseImage: string
  let work: string
  let modelDir: string
  let built: BuildImageResult
  let buildOutput = ''
  // The build step that writes the code cache, unless the engine had it cached (an earlier run of the same sources).
  let codeCacheStep: number | undefined
  let codeCacheStepCached = false
  const name = uniqueName('mlship-it-iris')

  beforeAll(async () => {
    cleanup = new EngineCleanup(docker)
    baseImage = await baseImageForTests(docker)
    work = await mkdtemp(path.join(os.tmpdir(), 'mlship-image-it-'))
    modelDir = path.join(work, 'iris')
    await cp(path.join(examplesDir(), 'iris'), modelDir, {recursive: true})
    // This run's own inputs: on an engine shared with other runs of this file (other checkouts, at once or earlier),
    // an image they built from the same files would count as up to date and skip the build the tests look at.
    await appendFile(path.join(modelDir, 'model.yaml'), `# ${name}\n`)
    // What a working directory holds beside a model: none of it may reach the image.
    for (const [file, content] of Object.entries(SECRETS)) {
      await mkdir(path.dirname(path.join(modelDir, file)), {recursive: true})
      await writeFile(path.join(modelDir, file), content)
    }
    await writeFile(path.join(modelDir, '.dockerignore'), '!*\n')
    built = await buildImage({
      baseImage,
      dir: modelDir,
      engine: docker,
      onProgress: (event) => {
        if (event.type === 'output') buildOutput += event.text
        if (event.type === 'step' && event.instruction.includes('write-code-cache.js')) codeCacheStep = event.index
        if (event.type === 'cached' && event.index === codeCacheStep) codeCacheStepCached = true
      },
      tags: [cleanup.image(`${name}:1.0.0`), cleanup.image(`${name}:latest`)],
    })
  })

  afterAll(async () => {
    await cleanup?.run()
    if (work) await rm(work, {force: true, recursive: true})
  })

  it('builds an image that adds little to its base image', () => {
    expect(built.imageId).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(built.tags).toEqual([`${name}:1.0.0`, `${name}:latest`])
    // onnxruntime for one platform (about 46 MB), the bundled server and the model.
    expect(built.sizeAboveBaseBytes).toBeLessThan(60 * 1024 * 1024)
    expect(built.upToDate).toBe(false)
  })

  it('re-uses every layer for a fresh copy of the model folder, whose files have other times (a checkout, a CI runner)', async () => {
    const layers = async (id: string) => (await docker.images.inspect(id))?.layers ?? []
    const copy = path.join(work, 'iris-copy')
    await cp(modelDir, copy, {recursive: true})
    const later = new Date(Date.now() + 3_600_000)
    for (const file of await readdir(copy, {recursive: true})) await utimes(path.join(copy, file), later, later)
    // Found by the digest of its inputs, file contents and modes: times are none of them.
    const again = await buildImage({baseImage, dir: copy, engine: docker, tags: [cleanup.image(`${name}:copy`)]})
    expect(again.upToDate).toBe(true)
    expect(again.imageId).toBe(built.imageId)

    // A Dockerfile built in one go (COPY in its JSON form), so that the engine's own cache decides: after a model.yaml
    // change, the copy's model layer is the original's, though every file of it has another time.
    const template = path.join(work, 'Dockerfile.one-go.hbs')
    const original = await readFile(dockerfileTemplatePath(), 'utf8')
    await writeFile(template, original.replace('COPY config/ /app/model/', 'COPY ["config/", "/app/model/"]'))
    const first = await buildImage({
      baseImage,
      dir: modelDir,
      engine: docker,
      tags: [cleanup.image(`${name}:go1`)],
      template,
    })
    const configFile = path.join(copy, 'model.yaml')
    await writeFile(
      configFile,
      (await readFile(configFile, 'utf8')).replace(/^description: .*$/m, 'description: copied'),
    )
    const second = await buildImage({
      baseImage,
      dir: copy,
      engine: docker,
      tags: [cleanup.image(`${name}:go2`)],
      template,
    })
    const [before, after] = [await layers(first.imageId), await layers(second.imageId)]
    expect(after.slice(0, -1)).toEqual(before.slice(0, -1))
    expect(after.at(-1)).not.toBe(before.at(-1))
  })

  it('holds the model and model.yaml of the model directory, and none of the secrets beside them', async () => {
    const listing = await runToCompletion(docker, built.imageId, [
      'node',
      '-e',
      "const fs = require('fs'); console.log(JSON.stringify(fs.readdirSync('/app/model', {recursive: true}).sort()))",
    ])
    // Beside them only the copy of model.yaml this build checked (config/checked-config.ts).
    expect(JSON.parse(listing)).toEqual(['.model.yaml.checked.json', 'model.onnx', 'model.yaml'])
    const history = JSON.stringify(await dockerodeForTests().getImage(built.imageId).history())
    for (const content of Object.values(SECRETS)) expect(history).not.toContain(content)
  })

  it('serves a model whose weights are external data, carried under the name the model gives them', async () => {
    const dir = path.join(work, 'external')
    await mkdir(dir)
    await writeExternalDataModel({dir, location: 'weights.bin', weights: [10, 20]})
    await writeFile(
      path.join(dir, 'model.yaml'),
      `name: external\nversion: 1.0.0\nmodel:\n  file: model.onnx\n# ${name}\n`,
    )
    const image = await buildImage({baseImage, dir, engine: docker, tags: [cleanup.image(`${name}-external:1.0.0`)]})
    expect(image.upToDate).toBe(false)
    const container = await runContainer({containerPort: 8080, engine: docker, hostPort: 0, image: image.imageId})
    cleanup.container(container.id)
    await waitReady({container, engine: docker, timeoutMs: 30_000})
    const response = await fetch(`${container.url}/predict`, {
      body: JSON.stringify({features: [[1, 2]]}),
      headers: {'content-type': 'application/json'},
      method: 'POST',
    })
    expect(await response.json()).toMatchObject({predictions: [[11, 22]]})
  })

  it('mlship build --json: one document on stdout, the build progress on stderr', async () => {
    const tag = cleanup.image(`${name}:cli`)
    const result = await execa(
      path.join(packageRoot(), 'bin/dev.js'),
      ['build', modelDir, '--base-image', baseImage, '--tag', tag, '--json'],
      {reject: false},
    )
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({imageId: built.imageId, mode: 'build', tags: [tag]})
    expect(result.stderr).toMatch(/^Build context: \d+ files/m)
    expect(result.stderr).toContain('Up to date: an image with the same inputs exists')
  })

  it('runs as a non-root user with a HEALTHCHECK, a JSON CMD and the OCI and mlship labels', async () => {
    // User, HEALTHCHECK and CMD are not what mlship reads of an image: the test asks the engine itself.
    const info = await dockerodeForTests().getImage(built.imageId).inspect()
    expect(info.Config.User).toBe('1000:1000')
    expect((info.Config as unknown as {Healthcheck: {Test: string[]}}).Healthcheck.Test).toEqual([
      'CMD',
      'node',
      '/app/server/healthcheck.cjs',
    ])
    expect(info.Config.Cmd).toEqual(['node', '/app/server/server.cjs'])
    expect(info.Config.Env).toContain('ORT_DISABLE_TELEMETRY=1')
    const labels = info.Config.Labels ?? {}
    expect(labels[LABELS.title]).toBe('iris-classifier')
    expect(labels[LABELS.version]).toBe('1.0.0')
    expect(new Date(labels[LABELS.created]!).getTime()).toBeGreaterThan(Date.now() - 10 * 60_000)
    expect(labels[LABELS.modelSha256]).toBe(await sha256File(path.join(modelDir, 'model.onnx')))
    const signature = JSON.parse(labels[LABELS.signature]!)
    expect(signature.inputs[0]).toMatchObject({dtype: 'float32', name: 'features', shape: ['batch', 4]})
    expect(signature.outputs[0].labels).toEqual(['setosa', 'versicolor', 'virginica'])
    expect(labels[LABELS.inputDigest]).toBe(built.inputDigest)
  })

  it("carries V8's code cache of the HTTP processes, made by the image's own node from a rehearsal, which it takes", async () => {
    // What the step said, where it ran in this build (an earlier build of the same sources may have made that layer).
    if (codeCacheStep !== undefined && !codeCacheStepCached) {
      expect(buildOutput).toMatch(/V8 code cache for the server processes \(rehearsed\)/)
    }
    const check = ['node', '/app/server/write-code-cache.js', '--check']
    const {stdout} = await execa('docker', ['run', '--rm', '--network', 'none', built.imageId, ...check])
    expect(stdout).toBe('accepted')
  })

  it('serves the model: ready, /predict gives onnxruntime own probabilities, the engine reports it healthy, docker stop is clean', async () => {
    const container = await runContainer({containerPort: 8080, engine: docker, hostPort: 0, image: built.imageId})
    cleanup.container(container.id)
    const {readyMs} = await waitReady({container, engine: docker, timeoutMs: 30_000})
    expect(readyMs).toBeLessThan(10_000)

    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ]
    const response = await fetch(`${container.url}/predict`, {
      body: JSON.stringify({features: rows}),
      headers: {'content-type': 'application/json'},
      method: 'POST',
    })
    expect(response.status).toBe(200)
    const body = (await response.json()) as {predictions: number[][]; model_version: string}
    const session = await ort.InferenceSession.create(path.join(modelDir, 'model.onnx'))
    const expected = await session.run({features: new ort.Tensor('float32', Float32Array.from(rows.flat()), [2, 4])})
    const probabilities = Array.from(expected.probabilities!.data as Float32Array)
    expect(body.predictions.flat()).toEqual(probabilities)
    expect(body.model_version).toBe('1.0.0')

    // The OpenAPI label is the document the server itself answers, readable without pulling the image.
    const served = await (await fetch(`${container.url}/openapi.json`)).json()
    const labels = (await docker.images.inspect(built.imageId))?.labels ?? {}
    expect(JSON.parse(labels[LABELS.openapi]!)).toEqual(served)

    // The engine's own HEALTHCHECK (node, no curl) turns healthy.
    let health = ''
    for (let i = 0; i < 60 && health !== 'healthy'; i++) {
      health = (await docker.containers.inspect(container.id))?.health ?? ''
      if (health !== 'healthy') await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(health).toBe('healthy')

    // docker stop with requests in flight: each request has sent its headers and half its body when the stop
    // begins, and the rest while the server drains. Every one must still be answered 200 with predictions, and the
    // server must exit 0 well within docker's 10 s.
    const inFlight = Array.from({length: 6}, () => slowPredict(container.url, {features: rows}))
    await new Promise((resolve) => setTimeout(resolve, 300))
    const stopping = stopContainer(docker, container.id, {remove: false, timeoutSeconds: 10})
    const answers = await Promise.all(inFlight.map((request) => request.finish(300)))
    const {stopMs} = await stopping
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200))
    for (const answer of answers) expect(JSON.parse(answer.body).predictions.flat()).toEqual(probabilities)
    expect(stopMs).toBeLessThan(5000)
    const state = await docker.containers.inspect(container.id)
    expect(state).toMatchObject({exitCode: 0, oomKilled: false, running: false})
  })

  it('does not rebuild an unchanged model; a model.yaml change re-uses every layer but the last, a model change the runtime layers', async () => {
    const tags = [`${name}:1.0.0`]
    const again = await buildImage({baseImage, dir: modelDir, engine: docker, tags})
    expect(again.upToDate).toBe(true)
    expect(again.imageId).toBe(built.imageId)

    const layers = async (id: string) => (await docker.images.inspect(id))?.layers ?? []
    const before = await layers(built.imageId)

    const configFile = path.join(modelDir, 'model.yaml')
    await writeFile(
      configFile,
      (await readFile(configFile, 'utf8')).replace(/^description: .*$/m, 'description: the same model, new words'),
    )
    const configOnly = await buildImage({
      baseImage,
      dir: modelDir,
      engine: docker,
      tags: [cleanup.image(`${name}:config`)],
    })
    const afterConfig = await layers(configOnly.imageId)
    expect(afterConfig.slice(0, -1)).toEqual(before.slice(0, -1))
    expect(afterConfig.at(-1)).not.toBe(before.at(-1))
    // Only the config stage is built (FROM the model stage, COPY config/, LABEL): the others are found by label.
    expect(configOnly.steps.total - configOnly.steps.cached).toBe(3)
    expect(configOnly.buildSeconds).toBeLessThan(15)

    // Another model file: an ONNX model is a protobuf, and an unknown field appended to it (field 99, varint 1)
    // changes its bytes but not the model.
    const otherModel = path.join(modelDir, 'model.onnx')
    const original = await readFile(otherModel)
    // An ONNX model is a protobuf: an unknown field appended at the end is ignored by parsers (field 99, varint 1).
    await writeFile(otherModel, Buffer.concat([original, Buffer.from([0x98, 0x06, 0x01])]))
    const modelOnly = await buildImage({
      baseImage,
      dir: modelDir,
      engine: docker,
      tags: [cleanup.image(`${name}:model`)],
    })
    const afterModel = await layers(modelOnly.imageId)
    expect(afterModel.slice(0, -2)).toEqual(afterConfig.slice(0, -2))
    expect(afterModel.at(-2)).not.toBe(afterConfig.at(-2))
    // The runtime stage is found by label; the model and config stages are built.
    expect(modelOnly.steps.total - modelOnly.steps.cached).toBeLessThanOrEqual(6)
  })

  it('reports the failing step and the engine message of a broken Dockerfile step (exit 4)', async () => {
    const template = path.join(work, 'Dockerfile.broken.hbs')
    const original = await readFile(dockerfileTemplatePath(), 'utf8')
    await writeFile(
      template,
      original.replace('WORKDIR /app\n', 'WORKDIR /app\nRUN echo "checking the runtime" && exit 7\n'),
    )
    const error = await buildImage({
      baseImage,
      dir: modelDir,
      engine: docker,
      noCache: true,
      tags: [cleanup.image(`${name}:broken`)],
      template,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MlshipError)
    const failure = error as MlshipError
    expect(failure.exitCode).toBe(4)
    expect(failure.code).toBe('BUILD_FAILED')
    expect(failure.message).toMatch(/failed at step \d+\/\d+ \(RUN echo "checking the runtime" && exit 7\)/)
    expect(failure.message).toContain('returned a non-zero code: 7')
    expect(failure.details.output).toContain('checking the runtime')
  })

  it('names the FROM step when the base image is neither here nor reachable (exit 4)', async () => {
    const error = await buildImage({
      baseImage: 'mlship-test/no-such-base:1',
      dir: modelDir,
      engine: docker,
      tags: [cleanup.image(`${name}:nobase`)],
    }).catch((e: unknown) => e)
    expect((error as MlshipError).exitCode).toBe(4)
    expect((error as MlshipError).message).toMatch(/step 1\/\d+ \(FROM mlship-test\/no-such-base:1\)/)
    expect((error as MlshipError).suggestions.join(' ')).toContain('--base-image')
  })
})

const SECRETS: Record<string, string> = {
  '.aws/credentials': '[default]\naws_secret_access_key=it-aws-secret',
  '.npmrc': '//registry.npmjs.org/:_authToken=it-npm-token',
  '.ssh/id_rsa': 'it-private-key',
  'credentials.json': '{"token": "it-credentials"}',
  'service-account-prod.json': '{"private_key": "it-gcp-key"}',
}

/** Runs a command in a container of the image and gives its output once it exits. */
async function runToCompletion(engine: DockerEngine, image: string, cmd: string[]): Promise<string> {
  const id = await engine.containers.create({command: cmd, image})
  try {
    await engine.containers.start(id)
    await engine.containers.wait(id)
    return await engine.logs.tail(id, 10_000)
  } finally {
    await engine.containers.remove(id)
  }
}

/** A POST /predict that sends its headers and half its body now, and the rest when finish() is called. */
function slowPredict(
  baseUrl: string,
  payload: unknown,
): {finish(afterMs: number): Promise<{status: number; body: string}>} {
  const body = Buffer.from(JSON.stringify(payload))
  const half = Math.floor(body.length / 2)
  const url = new URL('/predict', baseUrl)
  const request = http.request({
    agent: false,
    headers: {'content-length': body.length, 'content-type': 'application/json'},
    host: url.hostname,
    method: 'POST',
    path: url.pathname,
    port: url.port,
  })
  const answer = new Promise<{status: number; body: string}>((resolve, reject) => {
    request.on('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({body: text, status: response.statusCode ?? 0}))
    })
    request.on('error', reject)
  })
  request.flushHeaders()
  request.write(body.subarray(0, half))
  return {
    async finish(afterMs) {
      await new Promise((resolve) => setTimeout(resolve, afterMs))
      request.end(body.subarray(half))
      return answer
    },
  }
}
