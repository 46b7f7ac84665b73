import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {existsSync} from 'node:fs'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {isMlshipError, type MlshipError} from '../errors.js'
import {type ApplyProgress, type Clock, rolloutStatus} from './cluster.js'
import {deploy, type DeployOptions} from './deploy.js'
import {fixedImageResolver} from './image.js'
import {kubeconfigCluster} from './kube-cluster.js'
import {type FakeApiServer, startFakeApiServer, TOKEN} from './test-support/fake-api-server.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const imageOf = (c: string) => `registry.example.com/team/iris@sha256:${c.repeat(64)}`

/** Time passes only when the code under test sleeps. */
function fakeClock(): Clock & {slept: number} {
  let now = 0
  return {
    now: () => now,
    sleep(ms) {
      now += ms
      this.slept += ms
      return Promise.resolve()
    },
    slept: 0,
  }
}

let api: FakeApiServer
let dir: string
let model: string
beforeEach(async () => {
  api = await startFakeApiServer()
  dir = await mkdtemp(path.join(tmpdir(), 'mlship-apply-'))
  model = path.join(dir, 'iris')
  await cp(path.join(repoRoot, 'examples/iris'), model, {recursive: true})
  const file = path.join(model, 'model.yaml')
  await writeFile(file, `${await readFile(file, 'utf8')}deploy:\n  namespace: models\n  gateway: {name: public}\n`)
})
afterEach(async () => {
  await api.close()
  await rm(dir, {force: true, recursive: true})
})

async function setVersion(version: string): Promise<void> {
  const file = path.join(model, 'model.yaml')
  await writeFile(file, (await readFile(file, 'utf8')).replace(/^version: .*$/m, `version: ${version}`))
}

type StoredDeployment = {spec: {template: {spec: {containers: Array<{image: string}>}}}}
type StoredRoute = {spec: {rules: Array<{backendRefs: unknown[]}>}}

const storedImage = (name: string) =>
  (api.objects.get(`deployments/models/${name}`) as StoredDeployment | undefined)?.spec.template.spec.containers[0]
    ?.image

function options(overrides: Partial<DeployOptions> & {progress?: ApplyProgress[]} = {}): DeployOptions {
  const {progress, ...rest} = overrides
  return {
    action: {type: 'deploy'},
    apply: {
      clock: fakeClock(),
      cluster: kubeconfigCluster({kubeconfig: api.kubeconfig}),
      onProgress: (event) => progress?.push(event),
      timeoutMs: 60_000,
    },
    dir: model,
    format: 'kubernetes',
    images: fixedImageResolver(imageOf('a')),
    measureLoad: () => Promise.resolve(0.25),
    write: false,
    ...rest,
  }
}

async function failure(promise: Promise<unknown>): Promise<MlshipError> {
  try {
    await promise
  } catch (error) {
    if (isMlshipError(error)) return error
    throw error
  }
  throw new Error('expected a failure')
}

describe('deploy --apply through @kubernetes/client-node, against an API server on 127.0.0.1', () => {
  it('applies every object server-side, exactly as rendered, and moves traffic only once the pods are ready', async () => {
    const progress: ApplyProgress[] = []
    const {objects, summary} = await deploy(options({progress}))
    const patches = api.requests.filter((r) => r.method === 'PATCH')
    expect(patches.map((r) => r.path)).toEqual([
      '/apis/apps/v1/namespaces/models/deployments/iris-classifier',
      '/api/v1/namespaces/models/services/iris-classifier',
      '/apis/autoscaling/v2/namespaces/models/horizontalpodautoscalers/iris-classifier',
      '/apis/policy/v1/namespaces/models/poddisruptionbudgets/iris-classifier',
      '/apis/networking.k8s.io/v1/namespaces/models/networkpolicies/iris-classifier',
      '/apis/gateway.networking.k8s.io/v1/namespaces/models/httproutes/iris-classifier',
    ])
    for (const patch of patches) {
      expect(patch.contentType).toBe('application/apply-patch+yaml')
      expect(patch.query).toEqual({fieldManager: 'mlship', force: 'true'})
      expect(patch.authorization).toBe(`Bearer ${TOKEN}`)
    }
    // Nothing is lost on the way (no field the client's own models do not know is dropped).
    expect(patches.map((p) => p.body)).toEqual([...objects.slice(0, 5), objects[5]])
    // The route was applied after the Deployment was read back ready.
    const routeIndex = api.requests.findIndex((r) => r.method === 'PATCH' && r.path.includes('/httproutes/'))
    const lastRead = api.requests.findLastIndex(
      (r) => r.method === 'GET' && r.path.endsWith('/deployments/iris-classifier'),
    )
    expect(lastRead).toBeLessThan(routeIndex)
    expect(progress.map((p) => p.type)).toContain('waiting')
    expect(progress.filter((p) => p.type === 'ready').map((p) => p.ref.name)).toEqual(['iris-classifier'])
    expect(summary.applied?.context).toBe('fake-context')
  })

  it('is idempotent: the same objects again change nothing and are ready at once', async () => {
    await deploy(options())
    const before = structuredClone([...api.objects.entries()])
    api.requests.length = 0
    const clock = fakeClock()
    await deploy(options({apply: {...options().apply!, clock}}))
    expect([...api.objects.entries()]).toEqual(before)
    expect(clock.slept).toBe(0)
  })

  it('walks a canary on the cluster: state read back, canary ready before the route, deleted on --promote', async () => {
    await deploy(options())
    await setVersion('1.1.0')
    await deploy(options({action: {percent: 10, type: 'canary'}, images: fixedImageResolver(imageOf('b'))}))
    expect(storedImage('iris-classifier-canary')).toBe(imageOf('b'))
    expect((api.objects.get('httproutes/models/iris-classifier') as StoredRoute).spec.rules[0]?.backendRefs).toEqual([
      {name: 'iris-classifier', port: 80, weight: 90},
      {name: 'iris-classifier-canary', port: 80, weight: 10},
    ])

    const {summary} = await deploy(options({action: {type: 'promote'}}))
    expect(summary.stable).toEqual({image: imageOf('b'), version: '1.1.0'})
    expect(api.objects.has('deployments/models/iris-classifier-canary')).toBe(false)
    expect(api.objects.has('services/models/iris-classifier-canary')).toBe(false)
    expect(storedImage('iris-classifier')).toBe(imageOf('b'))
    expect(summary.applied?.deleted.map((r) => r.kind).sort()).toEqual(['Deployment', 'Service'])
    const deletes = api.requests.filter((r) => r.method === 'DELETE').map((r) => r.path)
    const routeUpdate = api.requests.findLastIndex((r) => r.method === 'PATCH' && r.path.includes('/httproutes/'))
    expect(api.requests.findIndex((r) => r.method === 'DELETE')).toBeGreaterThan(routeUpdate)
    expect(deletes).toContain('/apis/apps/v1/namespaces/models/deployments/iris-classifier-canary')
  })

  it('exits 5 when the rollout is not ready within --timeout', async () => {
    api.readsUntilReady = Number.POSITIVE_INFINITY
    const error = await failure(deploy(options({apply: {...options().apply!, timeoutMs: 30_000}})))
    expect(error).toMatchObject({code: 'ROLLOUT_TIMEOUT', exitCode: 5})
    expect(error.message).toContain('deployment/iris-classifier: 1 of 2 new replicas updated')
    // No traffic moved to pods that never became ready.
    expect(api.objects.has('httproutes/models/iris-classifier')).toBe(false)
  })

  it('exits 8 with the API server message when it refuses, or when the cluster lacks a kind', async () => {
    api.failWith = {message: 'deployments.apps is forbidden: User "tester" cannot patch', status: 403}
    const forbidden = await failure(deploy(options()))
    expect(forbidden).toMatchObject({code: 'KUBE_API_ERROR', exitCode: 8})
    expect(forbidden.message).toContain('cannot patch')

    api.failWith = undefined
    api.served.delete('serving.kserve.io/v1beta1')
    const missing = await failure(deploy(options({format: 'kserve'})))
    expect(missing).toMatchObject({code: 'KUBE_KIND_MISSING', exitCode: 8})
    expect(missing.suggestions.join(' ')).toContain('KServe')
  })

  it('refuses a context the kubeconfig does not have (exit 2), and an unreachable server (exit 8)', async () => {
    expect(() => kubeconfigCluster({context: 'nope', kubeconfig: api.kubeconfig})).toThrow(/no context "nope"/)
    const beforeClose = options()
    await api.close()
    const unreachable = await failure(deploy(beforeClose))
    expect(unreachable).toMatchObject({code: 'KUBE_UNREACHABLE', exitCode: 8})
    api = await startFakeApiServer() // for afterEach
  })

  // @kubernetes/client-node falls back to http://localhost:8080 when it finds no configuration at all.
  it.skipIf(existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'))(
    'says there is no kubeconfig (exit 8) when KUBECONFIG, ~/.kube/config and a service account are all missing',
    async () => {
      vi.stubEnv('KUBECONFIG', '')
      vi.stubEnv('HOME', dir)
      try {
        let error: unknown
        try {
          kubeconfigCluster()
        } catch (caught) {
          error = caught
        }
        expect(error).toMatchObject({code: 'KUBE_NO_CONFIG', exitCode: 8})
        expect((error as MlshipError).message).toMatch(/no kubeconfig/)
        expect((error as MlshipError).message).not.toMatch(/localhost/)
      } finally {
        vi.unstubAllEnvs()
      }
    },
  )
})

describe('rolloutStatus', () => {
  const deployment = (status: object, generation = 2) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {generation, name: 'x'},
    spec: {replicas: 3},
    status,
  })

  it('follows the rules of kubectl rollout status', () => {
    expect(rolloutStatus(deployment({observedGeneration: 1}))).toMatchObject({done: false})
    expect(rolloutStatus(deployment({observedGeneration: 2, replicas: 3, updatedReplicas: 2})).message).toBe(
      '2 of 3 new replicas updated',
    )
    expect(
      rolloutStatus(deployment({availableReplicas: 3, observedGeneration: 2, replicas: 4, updatedReplicas: 3})).message,
    ).toBe('1 old replicas pending termination')
    expect(
      rolloutStatus(deployment({availableReplicas: 2, observedGeneration: 2, replicas: 3, updatedReplicas: 3})).message,
    ).toBe('2 of 3 updated replicas available')
    expect(
      rolloutStatus(deployment({availableReplicas: 3, observedGeneration: 2, replicas: 3, updatedReplicas: 3})).done,
    ).toBe(true)
    expect(
      rolloutStatus(
        deployment({
          conditions: [{message: 'took too long', reason: 'ProgressDeadlineExceeded', type: 'Progressing'}],
          observedGeneration: 2,
        }),
      ).failed,
    ).toBe('took too long')
  })
})
