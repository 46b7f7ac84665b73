import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'

/**
 * A small stand-in for the Kubernetes API server on 127.0.0.1, speaking the HTTP the real client sends: discovery
 * (GET /api/v1, /apis/GROUP/VERSION), server-side apply (PATCH with application/apply-patch+yaml), GET and DELETE of
 * namespaced objects, Status bodies for errors. It keeps the objects it is sent, and a Deployment's status says it is
 * rolled out once it has been read `readsUntilReady` times (a controller in a hurry). Every request is recorded.
 */

export interface RecordedRequest {
  method: string
  path: string
  query: Record<string, string>
  contentType?: string
  authorization?: string
  body?: unknown
}

export interface FakeApiServer {
  url: string
  kubeconfig: string
  requests: RecordedRequest[]
  objects: Map<string, unknown>
  /** Kinds (by group/version) this cluster serves; remove one to play a cluster without a CRD. */
  served: Map<string, Array<{kind: string; name: string}>>
  /** Reads of a Deployment before it reports ready; Infinity never. */
  readsUntilReady: number
  /** Answer every request with this status (e.g. 403) when set. */
  failWith?: {status: number; message: string}
  close(): Promise<void>
}

const SERVED: Record<string, Array<{kind: string; name: string}>> = {
  'apps/v1': [{kind: 'Deployment', name: 'deployments'}],
  'autoscaling/v2': [{kind: 'HorizontalPodAutoscaler', name: 'horizontalpodautoscalers'}],
  'gateway.networking.k8s.io/v1': [{kind: 'HTTPRoute', name: 'httproutes'}],
  'networking.k8s.io/v1': [
    {kind: 'Ingress', name: 'ingresses'},
    {kind: 'NetworkPolicy', name: 'networkpolicies'},
  ],
  'policy/v1': [{kind: 'PodDisruptionBudget', name: 'poddisruptionbudgets'}],
  'serving.kserve.io/v1beta1': [{kind: 'InferenceService', name: 'inferenceservices'}],
  v1: [{kind: 'Service', name: 'services'}],
}

export const TOKEN = 'fake-token-for-tests'

export async function startFakeApiServer(): Promise<FakeApiServer> {
  const requests: RecordedRequest[] = []
  const objects = new Map<string, unknown>()
  const reads = new Map<string, number>()
  const served = new Map(Object.entries(SERVED))
  const state = {readsUntilReady: 2} as {readsUntilReady: number; failWith?: {status: number; message: string}}

  type Answer = {status: number; body: unknown}
  const failure = (code: number, message: string, reason: string): Answer => ({
    body: {apiVersion: 'v1', code, kind: 'Status', message, reason, status: 'Failure'},
    status: code,
  })

  function handle(recorded: RecordedRequest): Answer {
    if (state.failWith) return failure(state.failWith.status, state.failWith.message, 'Forbidden')

    // Discovery: /api/v1 or /apis/GROUP/VERSION
    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(recorded.path)
    if (discovery && recorded.method === 'GET') {
      const groupVersion = discovery[1] ?? discovery[2]!
      const resources = served.get(groupVersion)
      if (!resources) return failure(404, 'the server could not find the requested resource', 'NotFound')
      return {
        body: {
          apiVersion: 'v1',
          groupVersion,
          kind: 'APIResourceList',
          resources: resources.map((r) => ({
            kind: r.kind,
            name: r.name,
            namespaced: true,
            singularName: r.kind.toLowerCase(),
            verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
          })),
        },
        status: 200,
      }
    }

    const match = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(recorded.path)
    if (!match) return failure(404, `no route ${recorded.path}`, 'NotFound')
    const key = `${match[2]}/${match[1]}/${match[3]}`
    const stored = objects.get(key) as StoredObject | undefined
    switch (recorded.method) {
      case 'PATCH': {
        if (recorded.contentType !== 'application/apply-patch+yaml' || !recorded.query.fieldManager) {
          return failure(415, 'only server-side apply with a field manager here', 'UnsupportedMediaType')
        }
        const body = recorded.body as StoredObject
        const changed = !sameSpec(stored, body)
        const generation = (stored?.metadata.generation ?? 0) + (changed ? 1 : 0)
        objects.set(key, {...body, metadata: {...body.metadata, generation}})
        if (changed) reads.set(key, 0)
        return {body: objects.get(key), status: stored ? 200 : 201}
      }
      case 'GET': {
        if (!stored) return failure(404, `${match[2]} "${match[3]}" not found`, 'NotFound')
        const count = (reads.get(key) ?? 0) + 1
        reads.set(key, count)
        // Without spec.replicas (an autoscaler owns it) the HPA has scaled the Deployment to its minimum, 2.
        const shown = stored.kind === 'Deployment' ? {...stored, spec: {replicas: 2, ...stored.spec}} : stored
        return {body: {...shown, status: statusOf(shown, count >= state.readsUntilReady)}, status: 200}
      }
      case 'DELETE': {
        if (!stored) return failure(404, `${match[2]} "${match[3]}" not found`, 'NotFound')
        objects.delete(key)
        return {body: {apiVersion: 'v1', kind: 'Status', status: 'Success'}, status: 200}
      }
      default:
        return failure(405, 'method not allowed', 'MethodNotAllowed')
    }
  }

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://localhost')
      const text = Buffer.concat(chunks).toString('utf8')
      const recorded: RecordedRequest = {
        authorization: request.headers.authorization,
        body: text ? JSON.parse(text) : undefined,
        contentType: request.headers['content-type'],
        method: request.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
      }
      requests.push(recorded)
      const answer = handle(recorded)
      response.writeHead(answer.status, {'content-type': 'application/json'})
      response.end(JSON.stringify(answer.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  const url = `http://127.0.0.1:${port}`
  const dir = await mkdtemp(path.join(tmpdir(), 'mlship-kubeconfig-'))
  const kubeconfig = path.join(dir, 'config')
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {server: "${url}", insecure-skip-tls-verify: true}
users:
  - name: tester
    user: {token: ${TOKEN}}
contexts:
  - name: fake-context
    context: {cluster: fake, user: tester, namespace: default}
current-context: fake-context
`,
  )
  return {
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(dir, {force: true, recursive: true})
    },
    get failWith() {
      return state.failWith
    },
    set failWith(value) {
      state.failWith = value
    },
    kubeconfig,
    objects,
    get readsUntilReady() {
      return state.readsUntilReady
    },
    set readsUntilReady(value) {
      state.readsUntilReady = value
    },
    requests,
    served,
    url,
  }
}

interface StoredObject {
  kind: string
  metadata: {generation?: number; name: string}
  spec: {replicas?: number}
}

function sameSpec(a: StoredObject | undefined, b: StoredObject): boolean {
  return a !== undefined && JSON.stringify(a.spec) === JSON.stringify(b.spec)
}

function statusOf(object: StoredObject, ready: boolean): unknown {
  const generation = object.metadata.generation
  if (object.kind === 'InferenceService') {
    return {
      conditions: [{status: ready ? 'True' : 'False', type: 'Ready', ...(ready ? {} : {reason: 'RevisionMissing'})}],
    }
  }
  if (object.kind !== 'Deployment') return undefined
  const replicas = object.spec.replicas ?? 2
  return ready
    ? {availableReplicas: replicas, observedGeneration: generation, replicas, updatedReplicas: replicas}
    : {availableReplicas: 0, observedGeneration: generation, replicas, updatedReplicas: Math.max(0, replicas - 1)}
}
