/**
 * The prediction log in the real image, as the image runs it: user 1000, a root-owned model folder, a read-only root
 * file system. It writes to /var/lib/mlship (MLSHIP_DATA_DIR, a volume of the server's own); pointed at a folder it may
 * not write, the server refuses to start and says what to do, instead of failing on the first prediction.
 */
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildImage} from '../image/build-image.js'
import type {DockerEngine} from '../docker/engine.js'
import {demuxBuffer} from '../docker/dockerode-engine.js'
import {
  baseImageForTests,
  dockerodeForTests,
  EngineCleanup,
  engineForTests,
  uniqueName,
} from '../docker/test-support/engine.js'
import {examplesDir} from '../util/paths.js'
import {containerLogTail, type RunningContainer, serverUrl, waitReady} from './container.js'

const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the prediction log image tests: ${skipReason}`)

describe.skipIf(!engine)('the prediction log in the image', () => {
  const docker = engine as DockerEngine
  let cleanup: EngineCleanup
  let image: string
  let modelDir: string
  const name = uniqueName('mlship-it-predlog')

  beforeAll(async () => {
    cleanup = new EngineCleanup(docker)
    modelDir = await mkdtemp(path.join(tmpdir(), 'mlship-predlog-'))
    await cp(path.join(examplesDir(), 'iris'), modelDir, {recursive: true})
    const yaml = await readFile(path.join(modelDir, 'model.yaml'), 'utf8')
    await writeFile(
      path.join(modelDir, 'model.yaml'),
      `${yaml.replace(/^monitoring:.*\n(?:[ ].*\n)*/m, '')}\nmonitoring:\n  prediction_log: {enabled: true, path: logs/predictions.jsonl}\n`,
    )
    const built = await buildImage({
      baseImage: await baseImageForTests(docker),
      dir: modelDir,
      engine: docker,
      tags: [cleanup.image(`${name}:1.0.0`)],
    })
    image = built.tags[0]!
  })

  afterAll(async () => {
    await cleanup?.run()
    if (modelDir) await rm(modelDir, {force: true, recursive: true})
  })

  /** Starts the image with a read-only root file system (docker run --read-only), the port published on 127.0.0.1. */
  async function start(env: Record<string, string> = {}): Promise<RunningContainer> {
    const id = await docker.containers.create({
      env,
      image,
      publish: {containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0},
      readOnlyRootFilesystem: true,
    })
    cleanup.container(id)
    await docker.containers.start(id)
    const info = await docker.containers.inspect(id)
    const hostPort = info!.published[0]!.hostPort
    return {hostIp: '127.0.0.1', hostPort, id, image, name: info!.name, url: serverUrl('127.0.0.1', hostPort)}
  }

  async function exec(id: string, command: string[]): Promise<string> {
    // An exec into a running container is a test's need, not mlship's: the test asks the engine itself.
    const run = await dockerodeForTests().getContainer(id).exec({AttachStderr: true, AttachStdout: true, Cmd: command})
    const stream = await run.start({hijack: true, stdin: false})
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    await new Promise((resolve) => stream.on('end', resolve))
    return demuxBuffer(Buffer.concat(chunks))
  }

  it('writes the log to /var/lib/mlship as user 1000, under a read-only root file system', async () => {
    const container = await start()
    await waitReady({container, engine: docker, timeoutMs: 30_000})
    const response = await fetch(`${container.url}/predict`, {
      body: JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]}),
      headers: {'content-type': 'application/json'},
      method: 'POST',
    })
    expect(response.status).toBe(200)
    const file = '/var/lib/mlship/logs/predictions.jsonl'
    let text = ''
    // The log is written asynchronously (it never holds up an answer): wait for its line.
    for (let i = 0; i < 100 && !text.includes('\n'); i++) {
      text = await exec(container.id, ['sh', '-c', `cat ${file} 2>/dev/null || true`])
      if (!text.includes('\n')) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const record = JSON.parse(text.trim().split('\n')[0]!) as Record<string, unknown>
    expect(record).toMatchObject({
      inputs: {features: {shape: [1, 4]}},
      model: 'iris-classifier',
      model_version: '1.0.0',
    })
    expect((await exec(container.id, ['stat', '-c', '%u', file])).trim()).toBe('1000')
  })

  it('refuses to start, exit 2, with what to do, when MLSHIP_DATA_DIR is a folder it may not write', async () => {
    const container = await start({MLSHIP_DATA_DIR: '/app/model'})
    expect(await docker.containers.wait(container.id)).toBe(2)
    const logs = await containerLogTail(docker, container.id, 20)
    const line = JSON.parse(logs.trim().split('\n').at(-1)!) as Record<string, unknown>
    expect(line).toMatchObject({code: 'PREDICTION_LOG_NOT_WRITABLE', level: 60})
    expect(line.msg).toMatch(
      /the prediction log \/app\/model\/logs\/predictions\.jsonl cannot be written: \/app\/model is (on a read-only file system \(EROFS\)|not writable for this process \(user 1000\))/,
    )
    expect(JSON.stringify(line.suggestions)).toMatch(/mount one there/)
  })
})
