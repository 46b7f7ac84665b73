import {cp, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ConfigError} from '../errors.js'
import {startServer} from '../serving/server.js'
import {deploy, type DeployOptions, estimateMemoryBytes} from './deploy.js'
import {fixedImageResolver} from './image.js'
import {loadConfig} from '../config/load.js'
import {parseQuantity} from '../config/quantity.js'
import {readManifests} from './manifest-files.js'
import {kubernetesName} from './names.js'
import type {KubernetesObject} from './objects.js'
import {validateObject} from './test-support/validate.js'
import {CLOSE_AT_ONCE} from '../serving/test-support/servers.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const digest = (c: string) => `sha256:${c.repeat(64)}`
const imageOf = (c: string) => `registry.example.com/team/iris@${digest(c)}`

let dir: string
let model: string
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlship-deploy-'))
  model = path.join(dir, 'iris')
  await cp(path.join(repoRoot, 'examples/iris'), model, {recursive: true})
})
afterEach(async () => {
  await rm(dir, {force: true, recursive: true})
})

async function setModelYaml(edit: (text: string) => string): Promise<void> {
  const file = path.join(model, 'model.yaml')
  await writeFile(file, edit(await readFile(file, 'utf8')))
}

const withGateway = (text: string) => `${text}deploy:\n  namespace: models\n  gateway: {name: public}\n`
const bumpVersion = (version: string) => (text: string) => text.replace(/^version: .*$/m, `version: ${version}`)

function options(overrides: Partial<DeployOptions> = {}): DeployOptions {
  return {
    action: {type: 'deploy'},
    dir: model,
    format: 'kubernetes',
    images: fixedImageResolver(imageOf('a')),
    measureLoad: () => Promise.resolve(0.25),
    write: true,
    ...overrides,
  }
}

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a refusal')
}

const deploymentImage = (objects: KubernetesObject[], name: string): string | undefined =>
  (
    objects.find((o) => o.kind === 'Deployment' && o.metadata?.name === name)?.spec as
      {template: {spec: {containers: Array<{image: string}>}}} | undefined
  )?.template.spec.containers[0]?.image

describe('deploy', () => {
  it('with serving.auth on, mounts the API keys from a Secret it names, and writes no key anywhere', async () => {
    const key = 'deploy-test-key-9f8e7d6c5b4a3210'
    const previous = process.env.MLSHIP_API_KEYS
    process.env.MLSHIP_API_KEYS = key
    try {
      await setModelYaml((text) => text.replace('serving:\n', 'serving:\n  auth: {enabled: true}\n'))
      for (const format of ['kubernetes', 'kserve'] as const) {
        const {objects, summary} = await deploy(options({format}))
        for (const object of objects) validateObject(object)
        const text =
          JSON.stringify(objects) +
          (await readManifests(path.join(model, 'deploy'))).map((o) => JSON.stringify(o)).join('')
        expect(text).not.toContain(key)
        expect(summary.apiKeys).toEqual({key: 'api-keys', secret: 'iris-classifier-api-keys'})
        expect(text).toContain('"secretName":"iris-classifier-api-keys"')
        expect(text).toContain('{"name":"MLSHIP_API_KEYS_FILE","value":"/var/run/secrets/mlship/api-keys/api-keys"}')
        expect(summary.warnings.join('\n')).toMatch(
          /serving\.auth\.metrics is protected: Prometheus must send an API key/,
        )
      }
      await setModelYaml((text) => `${text}deploy:\n  api_keys_secret: iris-keys\n`)
      const {summary} = await deploy(options())
      expect(summary.apiKeys?.secret).toBe('iris-keys')
    } finally {
      if (previous === undefined) Reflect.deleteProperty(process.env, 'MLSHIP_API_KEYS')
      else process.env.MLSHIP_API_KEYS = previous
    }
  })

  it('writes one valid file per object of the iris example, and the same bytes when run again', async () => {
    const {summary} = await deploy(options({measureLoad: undefined}))
    const outputDir = path.join(model, 'deploy')
    expect(summary.files?.dir).toBe(outputDir)
    expect((await readdir(outputDir)).sort()).toEqual([
      'iris-classifier.deployment.yaml',
      'iris-classifier.horizontalpodautoscaler.yaml',
      'iris-classifier.networkpolicy.yaml',
      'iris-classifier.poddisruptionbudget.yaml',
      'iris-classifier.service.yaml',
    ])
    const objects = await readManifests(outputDir)
    for (const object of objects) validateObject(object)
    // The load time was measured (a worker thread opened the model and ran the warm-up inference).
    expect(summary.probes.measuredLoadSeconds).toBeGreaterThan(0)
    expect(summary).toMatchObject({cpuLimit: '2', namespace: 'default', workers: 1})
    expect(summary.stable).toEqual({image: imageOf('a'), version: '1.0.0'})

    const before = await readFile(path.join(outputDir, 'iris-classifier.deployment.yaml'), 'utf8')
    await deploy(options({measureLoad: () => Promise.resolve(summary.probes.measuredLoadSeconds)}))
    expect(await readFile(path.join(outputDir, 'iris-classifier.deployment.yaml'), 'utf8')).toBe(before)
  })

  it('renders valid objects for the digits-mlp example in both formats', async () => {
    const digits = path.join(dir, 'digits')
    await cp(path.join(repoRoot, 'examples/digits-mlp'), digits, {recursive: true})
    for (const format of ['kubernetes', 'kserve'] as const) {
      const {objects, summary} = await deploy(options({dir: digits, format, write: false}))
      for (const object of objects) validateObject(object)
      expect(summary.name).toBe(kubernetesName((await loadConfig(digits)).config.name))
    }
  })

  it('walks a canary through --canary, --promote and --abort, reading the state back from the files', async () => {
    await setModelYaml(withGateway)
    await deploy(options())
    const outputDir = path.join(model, 'deploy')

    // Given 1.1.0 in model.yaml, 10% of the traffic goes to it
    await setModelYaml(bumpVersion('1.1.0'))
    const canary = await deploy(
      options({action: {percent: 10, type: 'canary'}, images: fixedImageResolver(imageOf('b'))}),
    )
    expect(canary.summary.canary).toEqual({image: imageOf('b'), percent: 10, version: '1.1.0'})
    let objects = await readManifests(outputDir)
    for (const object of objects) validateObject(object)
    expect(deploymentImage(objects, 'iris-classifier')).toBe(imageOf('a'))
    expect(deploymentImage(objects, 'iris-classifier-canary')).toBe(imageOf('b'))

    // Re-running the same canary at 30% only moves the weights
    await deploy(options({action: {percent: 30, type: 'canary'}, images: fixedImageResolver(imageOf('b'))}))
    const route = (await readManifests(outputDir)).find((o) => o.kind === 'HTTPRoute')!.spec as any
    expect(route.rules[0].backendRefs.map((r: {weight: number}) => r.weight)).toEqual([70, 30])

    // A plain deploy while the canary runs is refused
    expect((await rejection(deploy(options()))).code).toBe('CANARY_IN_PLACE')

    // --promote: 1.1.0 is the stable one, the canary's files are gone
    const promoted = await deploy(options({action: {type: 'promote'}}))
    expect(promoted.summary.stable).toEqual({image: imageOf('b'), version: '1.1.0'})
    expect(promoted.summary.files?.removed).toEqual([
      'iris-classifier-canary.deployment.yaml',
      'iris-classifier-canary.horizontalpodautoscaler.yaml', // 30% of 2-10 pods: an autoscaler from 1 to 3
      'iris-classifier-canary.service.yaml',
    ])
    expect(promoted.summary.removed.map((r) => r.kind).sort()).toEqual([
      'Deployment',
      'HorizontalPodAutoscaler',
      'Service',
    ])
    objects = await readManifests(outputDir)
    expect(deploymentImage(objects, 'iris-classifier')).toBe(imageOf('b'))
    expect(objects.some((o) => o.metadata?.name === 'iris-classifier-canary')).toBe(false)

    // --promote again: nothing to promote
    expect((await rejection(deploy(options({action: {type: 'promote'}})))).code).toBe('NO_CANARY')

    // 1.2.0 as a canary, then --abort: back to 1.1.0
    await setModelYaml(bumpVersion('1.2.0'))
    await deploy(options({action: {percent: 50, type: 'canary'}, images: fixedImageResolver(imageOf('c'))}))
    const aborted = await deploy(options({action: {type: 'abort'}}))
    expect(aborted.summary.stable).toEqual({image: imageOf('b'), version: '1.1.0'})
    expect(aborted.summary.canary).toBeUndefined()
    expect(deploymentImage(await readManifests(outputDir), 'iris-classifier')).toBe(imageOf('b'))
  })

  it('walks a KServe canary with canaryTrafficPercent and puts the stable image back on --abort', async () => {
    await deploy(options({format: 'kserve'}))
    await setModelYaml(bumpVersion('2.0.0'))
    const canary = await deploy(
      options({action: {percent: 20, type: 'canary'}, format: 'kserve', images: fixedImageResolver(imageOf('d'))}),
    )
    const [service] = canary.objects as Array<KubernetesObject & {spec: any}>
    validateObject(service!)
    expect(service!.spec.predictor.canaryTrafficPercent).toBe(20)
    const aborted = await deploy(options({action: {type: 'abort'}, format: 'kserve'}))
    const [back] = aborted.objects as Array<KubernetesObject & {spec: any}>
    expect(back!.spec.predictor.containers[0].image).toBe(imageOf('a'))
    expect(back!.spec.predictor.canaryTrafficPercent).toBeUndefined()
  })

  it('refuses, exit 2, what cannot be deployed, and writes nothing', async () => {
    const refused = async (promise: Promise<unknown>) => {
      const error = await rejection(promise)
      expect(error.exitCode).toBe(2)
      await expect(readdir(path.join(model, 'deploy'))).rejects.toThrow(/ENOENT/)
      return error
    }
    expect((await refused(deploy(options({action: {type: 'promote'}})))).code).toBe('NO_CANARY')
    expect((await refused(deploy(options({action: {type: 'abort'}})))).code).toBe('NO_CANARY')
    expect((await refused(deploy(options({action: {percent: 10, type: 'canary'}})))).code).toBe('CANARY_WITHOUT_STABLE')
    expect((await refused(deploy(options({namespace: 'Team_A'})))).message).toContain('"Team_A"')

    await setModelYaml((text) => `${text}deploy:\n  labels: {app.kubernetes.io/name: other}\n`)
    expect((await refused(deploy(options()))).code).toBe('LABEL_RESERVED')
  })

  it('needs deploy.gateway for a plain Kubernetes canary', async () => {
    await deploy(options())
    await setModelYaml(bumpVersion('1.1.0'))
    const error = await rejection(
      deploy(options({action: {percent: 10, type: 'canary'}, images: fixedImageResolver(imageOf('b'))})),
    )
    expect(error.code).toBe('CANARY_NEEDS_GATEWAY')
    expect(error.suggestions.join('\n')).toContain('gateway:')
  })

  it('gives a GPU image a GPU, and the prediction log a writable data folder', async () => {
    await setModelYaml(
      (text) =>
        `${text}build: {gpu: true}\nmonitoring:\n  prediction_log: {enabled: true, path: logs/predictions.jsonl}\n`,
    )
    const {objects, summary} = await deploy(options({write: false}))
    expect(summary.files).toBeUndefined()
    const pod = (objects.find((o) => o.kind === 'Deployment')!.spec as any).template.spec
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('1')
    expect(pod.volumes.map((v: {name: string}) => v.name)).toEqual(['tmp', 'data'])
    expect(pod.containers[0].volumeMounts).toContainEqual({mountPath: '/var/lib/mlship', name: 'data'})
    expect(pod.containers[0].env).toContainEqual({name: 'MLSHIP_DATA_DIR', value: '/var/lib/mlship'})
    for (const object of objects) validateObject(object)
  })

  it('sizes workers and memory from the CPU limit and the model', async () => {
    await setModelYaml((text) => `${text}deploy:\n  resources: {limits: {cpu: 4, memory: 1Gi}}\n`)
    const {objects, summary} = await deploy(options({write: false}))
    expect(summary.workers).toBe(3)
    const resources = (objects.find((o) => o.kind === 'Deployment')!.spec as any).template.spec.containers[0].resources
    expect(resources).toEqual({limits: {cpu: '4', memory: '1Gi'}, requests: {cpu: '1', memory: '1Gi'}})
  })

  it('counts one full process per CPU where the server may take the cluster layout', async () => {
    // iris is cheap, and the default CPU limit is 2: the pod may run 2 HTTP processes.
    const {objects} = await deploy(options({write: false}))
    const resources = (objects.find((o) => o.kind === 'Deployment')!.spec as any).template.spec.containers[0].resources
    expect(parseQuantity(resources.requests.memory)).toBeGreaterThanOrEqual(2 * 256 * 2 ** 20)
    const {config} = await loadConfig(model)
    const mi = (bytes: number) => bytes / 2 ** 20
    const small = {config, gpus: 0, modelBytes: 2 ** 20, workers: 4}
    expect(mi(estimateMemoryBytes({...small, cpus: 4}))).toBe(4 * (256 + 2))
    // One process: one CPU, a GPU, explicit workers, an experiment, a prediction log, or a model too large to be cheap.
    expect(mi(estimateMemoryBytes({...small, cpus: 1, workers: 1}))).toBe(256 + 2)
    expect(mi(estimateMemoryBytes({...small, cpus: 4, gpus: 1}))).toBe(256 + 4 * 2)
    const pinned = {...config, serving: {...config.serving, workers: 4}}
    expect(mi(estimateMemoryBytes({...small, config: pinned, cpus: 4}))).toBe(256 + 4 * 2)
    const logged = {
      ...config,
      monitoring: {...config.monitoring, prediction_log: {...config.monitoring.prediction_log, enabled: true}},
    }
    expect(mi(estimateMemoryBytes({...small, config: logged, cpus: 4}))).toBe(256 + 4 * 2)
    expect(mi(estimateMemoryBytes({...small, cpus: 4, modelBytes: 64 * 2 ** 20}))).toBe(256 + 4 * 128)
  })

  it('points the probes at routes the server really answers', async () => {
    const {objects} = await deploy(options({write: false}))
    const kserve = await deploy(options({format: 'kserve', write: false}))
    const container = (objects.find((o) => o.kind === 'Deployment')!.spec as any).template.spec.containers[0]
    const kserveContainer = (kserve.objects[0]!.spec as any).predictor.containers[0]
    const paths = new Set<string>(
      [container, kserveContainer].flatMap((c: Record<string, {httpGet: {path: string}} | undefined>) =>
        ['startupProbe', 'readinessProbe', 'livenessProbe'].flatMap((probe) => {
          const found = c[probe]
          return found ? [found.httpGet.path] : []
        }),
      ),
    )
    expect([...paths].sort()).toEqual(['/health', '/ready'])
    const server = await startServer({dir: model, host: '127.0.0.1', logger: false, port: 0, pipeline: false})
    try {
      for (const probePath of paths) expect((await fetch(`${server.url}${probePath}`)).status, probePath).toBe(200)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })
})
