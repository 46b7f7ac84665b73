import {describe, expect, it} from 'vitest'

import {dockerRunFlags} from './docker-equivalent.js'
import {kubernetesName} from './names.js'
import type {KubernetesObject} from './objects.js'
import {probeTimings} from './probes.js'
import {renderKserve} from './render-kserve.js'
import {renderKubernetes} from './render-kubernetes.js'
import {validateObject} from './test-support/validate.js'
import type {Rollout, Workload} from './workload.js'

const digest = (c: string) => `sha256:${c.repeat(64)}`
const stable = {image: `ghcr.io/acme/iris@${digest('a')}`, version: '1.0.0'}
const next = {image: `ghcr.io/acme/iris@${digest('b')}`, version: '1.1.0'}

function workload(overrides: Partial<Workload> = {}): Workload {
  return {
    annotations: {},
    autoscaling: {targetCpuUtilization: 70},
    env: [],
    gpus: 0,
    labels: {team: 'ml'},
    metrics: true,
    modelName: 'iris-classifier',
    name: 'iris-classifier',
    namespace: 'models',
    networkPolicy: true,
    port: 8080,
    preStopSeconds: 5,
    probes: probeTimings(0.2, {cpus: 2, gpu: false, workers: 1}),
    replicas: {max: 10, min: 2},
    resources: {limits: {cpu: '2', memory: '320Mi'}, requests: {cpu: '1', memory: '320Mi'}},
    terminationGracePeriodSeconds: 19,
    user: {gid: 1000, uid: 1000},
    workers: 1,
    writableDirs: [{name: 'tmp', path: '/tmp', sizeLimit: '64Mi'}],
    ...overrides,
  }
}

function find(objects: KubernetesObject[], kind: string, name: string): KubernetesObject & {spec: any} {
  const object = objects.find((o) => o.kind === kind && o.metadata?.name === name)
  if (!object)
    throw new Error(`no ${kind} ${name} in ${objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ')}`)
  return object as KubernetesObject & {spec: any}
}

function expectValid(objects: KubernetesObject[]): void {
  for (const object of objects) expect(() => validateObject(object), object.kind).not.toThrow()
}

describe('the schema validation the tests rely on', () => {
  it('fails on a wrong type and on an unknown InferenceService field', () => {
    const [deployment] = renderKubernetes(workload(), {stable})
    const broken = structuredClone(deployment!) as any
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty'
    expect(() => validateObject(broken)).toThrow(/containerPort/)

    const [service] = renderKserve(workload(), {stable})
    const typo = structuredClone(service!) as any
    typo.spec.predictor.minReplica = 2
    expect(() => validateObject(typo)).toThrow(/additional/)
  })
})

describe('renderKubernetes', () => {
  it('renders valid objects: Deployment, Service, HPA, PDB, NetworkPolicy', () => {
    const objects = renderKubernetes(workload(), {stable})
    expect(objects.map((o) => o.kind)).toEqual([
      'Deployment',
      'Service',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'NetworkPolicy',
    ])
    expectValid(objects)
  })

  it('runs the image by digest under the restricted security context, with probes, drain and spread', () => {
    const deployment = find(renderKubernetes(workload(), {stable}), 'Deployment', 'iris-classifier')
    const pod = deployment.spec.template.spec
    const [container] = pod.containers
    expect(container.image).toBe(stable.image)
    expect(deployment.spec.replicas).toBeUndefined() // the HPA owns it
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: {type: 'RuntimeDefault'},
    })
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: {drop: ['ALL']},
      readOnlyRootFilesystem: true,
    })
    expect(container.volumeMounts).toEqual([{mountPath: '/tmp', name: 'tmp'}])
    expect(pod.volumes).toEqual([{emptyDir: {sizeLimit: '64Mi'}, name: 'tmp'}])
    expect(container.startupProbe.httpGet).toEqual({path: '/ready', port: 'http'})
    expect(container.startupProbe.failureThreshold * container.startupProbe.periodSeconds).toBeGreaterThanOrEqual(30)
    expect(container.readinessProbe.httpGet.path).toBe('/ready')
    expect(container.livenessProbe.httpGet.path).toBe('/health')
    expect(container.ports).toEqual([{containerPort: 8080, name: 'http', protocol: 'TCP'}])
    expect(container.lifecycle.preStop.exec.command[0]).toBe('node')
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5 + 9)
    expect(pod.topologySpreadConstraints.map((c: {topologyKey: string}) => c.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ])
    expect(deployment.spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/path': '/metrics',
      'prometheus.io/port': '8080',
      'prometheus.io/scrape': 'true',
    })
    expect(container.resources.limits).toEqual({cpu: '2', memory: '320Mi'})
    expect(deployment.metadata?.labels).toMatchObject({team: 'ml', 'app.kubernetes.io/version': '1.0.0'})
  })

  it('mounts the Secret of API keys as a read-only directory (its updates reach the pod), in both formats', () => {
    const apiKeys = {mountPath: '/var/run/secrets/mlship/api-keys', secretKey: 'api-keys', secretName: 'iris-keys'}
    const keyed = workload({
      apiKeys,
      env: [{name: 'MLSHIP_API_KEYS_FILE', value: '/var/run/secrets/mlship/api-keys/api-keys'}],
    })
    const deployment = find(renderKubernetes(keyed, {stable}), 'Deployment', 'iris-classifier')
    const inference = find(renderKserve(keyed, {stable}), 'InferenceService', 'iris-classifier')
    for (const pod of [deployment.spec.template.spec, inference.spec.predictor]) {
      expect(pod.volumes).toContainEqual({
        name: 'api-keys',
        secret: {items: [{key: 'api-keys', path: 'api-keys'}], secretName: 'iris-keys'},
      })
      const container = pod.containers[0]
      expect(container.volumeMounts).toContainEqual({
        mountPath: '/var/run/secrets/mlship/api-keys',
        name: 'api-keys',
        readOnly: true,
      })
      // A subPath mount would never see the Secret change: rotation needs the directory.
      expect(container.volumeMounts.some((m: {subPath?: string}) => m.subPath)).toBe(false)
      expect(container.env).toContainEqual({
        name: 'MLSHIP_API_KEYS_FILE',
        value: '/var/run/secrets/mlship/api-keys/api-keys',
      })
    }
    expectValid(renderKubernetes(keyed, {stable}))
    expectValid(renderKserve(keyed, {stable}))
  })

  it('gives a GPU image nvidia.com/gpu, a toleration and a writable CUDA cache', () => {
    const objects = renderKubernetes(workload({gpus: 2}), {stable})
    expectValid(objects)
    const pod = find(objects, 'Deployment', 'iris-classifier').spec.template.spec
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('2')
    expect(pod.tolerations).toEqual([{effect: 'NoSchedule', key: 'nvidia.com/gpu', operator: 'Exists'}])
    expect(pod.containers[0].env).toContainEqual({name: 'CUDA_CACHE_PATH', value: '/tmp/cuda-cache'})
  })

  it('adds the custom metric target from the Prometheus Adapter to the HPA', () => {
    const objects = renderKubernetes(
      workload({autoscaling: {metric: {name: 'requests_in_flight', target: 0.5}, targetCpuUtilization: 60}}),
      {stable},
    )
    expectValid(objects)
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'iris-classifier')
    expect(hpa.spec.metrics).toEqual([
      {resource: {name: 'cpu', target: {averageUtilization: 60, type: 'Utilization'}}, type: 'Resource'},
      {
        pods: {metric: {name: 'mlship_http_requests_in_flight'}, target: {averageValue: '500m', type: 'AverageValue'}},
        type: 'Pods',
      },
    ])
  })

  it('fixes the replica count and leaves out HPA and PDB for one fixed pod', () => {
    const objects = renderKubernetes(workload({replicas: {max: 1, min: 1}}), {stable})
    expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'Service', 'NetworkPolicy'])
    expect(find(objects, 'Deployment', 'iris-classifier').spec.replicas).toBe(1)
  })

  it('renders an Ingress and an HTTPRoute when asked', () => {
    const objects = renderKubernetes(
      workload({
        gateway: {hostnames: ['iris.example.com'], name: 'public', namespace: 'gateways'},
        ingress: {className: 'nginx', host: 'iris.example.com', tlsSecret: 'iris-tls'},
      }),
      {stable},
    )
    expectValid(objects)
    expect(find(objects, 'Ingress', 'iris-classifier').spec.tls).toEqual([
      {hosts: ['iris.example.com'], secretName: 'iris-tls'},
    ])
    expect(find(objects, 'HTTPRoute', 'iris-classifier').spec.rules[0].backendRefs).toEqual([
      {name: 'iris-classifier', port: 80, weight: 100},
    ])
  })

  it('a canary: a second Deployment, Service and HPA, and the HTTPRoute splits the traffic by weight', () => {
    const rollout: Rollout = {canary: {percent: 10, release: next}, stable}
    const objects = renderKubernetes(workload({gateway: {name: 'public'}}), rollout)
    expectValid(objects)
    const canary = find(objects, 'Deployment', 'iris-classifier-canary')
    expect(canary.spec.template.spec.containers[0].image).toBe(next.image)
    expect(canary.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'iris-classifier',
      'mlship.dev/track': 'canary',
    })
    expect(find(objects, 'Service', 'iris-classifier-canary').spec.selector['mlship.dev/track']).toBe('canary')
    // 10% of 2-10 pods: one canary pod, no autoscaler; at 50%, an autoscaler of its own from 1 to 5.
    expect(canary.spec.replicas).toBe(1)
    expect(
      objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata?.name === 'iris-classifier-canary'),
    ).toBe(false)
    const half = renderKubernetes(workload({gateway: {name: 'public'}}), {canary: {percent: 50, release: next}, stable})
    expect(find(half, 'HorizontalPodAutoscaler', 'iris-classifier-canary').spec).toMatchObject({
      maxReplicas: 5,
      minReplicas: 1,
    })
    expect(find(objects, 'Deployment', 'iris-classifier').spec.template.spec.containers[0].image).toBe(stable.image)
    expect(find(objects, 'HTTPRoute', 'iris-classifier').spec.rules[0].backendRefs).toEqual([
      {name: 'iris-classifier', port: 80, weight: 90},
      {name: 'iris-classifier-canary', port: 80, weight: 10},
    ])
  })
})

describe('renderKserve', () => {
  it('renders a valid InferenceService: custom container, protocol v2, probes, replicas, scale target', () => {
    const [service] = renderKserve(workload(), {stable}) as Array<KubernetesObject & {spec: any}>
    expectValid([service!])
    const {predictor} = service!.spec
    expect(predictor).toMatchObject({maxReplicas: 10, minReplicas: 2, scaleMetric: 'cpu', scaleTarget: 70})
    expect(predictor.canaryTrafficPercent).toBeUndefined()
    const [container] = predictor.containers
    expect(container).toMatchObject({
      env: [{name: 'PROTOCOL', value: 'v2'}],
      image: stable.image,
      name: 'kserve-container',
      ports: [{containerPort: 8080, name: 'http1', protocol: 'TCP'}],
    })
    expect(container.readinessProbe.httpGet).toEqual({path: '/ready', port: 8080})
    expect(container.livenessProbe.initialDelaySeconds).toBe(30)
    expect(container.lifecycle).toBeUndefined()
  })

  it('a canary: the new image with canaryTrafficPercent, the stable release in annotations', () => {
    const [service] = renderKserve(
      workload({autoscaling: {metric: {name: 'requests_in_flight', target: 8}, targetCpuUtilization: 70}, gpus: 1}),
      {canary: {percent: 25, release: next}, stable},
    ) as Array<KubernetesObject & {spec: any}>
    expectValid([service!])
    expect(service!.spec.predictor).toMatchObject({
      canaryTrafficPercent: 25,
      scaleMetric: 'concurrency',
      scaleTarget: 8,
    })
    expect(service!.spec.predictor.containers[0].image).toBe(next.image)
    expect(service!.spec.predictor.containers[0].resources.limits['nvidia.com/gpu']).toBe('1')
    expect(service!.metadata?.annotations).toMatchObject({
      'mlship.dev/stable-image': stable.image,
      'mlship.dev/stable-version': '1.0.0',
    })
  })
})

describe('kubernetesName', () => {
  it('turns mlship names into DNS-1035 labels, deterministically, hashing long ones apart', () => {
    expect(kubernetesName('iris-classifier')).toBe('iris-classifier')
    expect(kubernetesName('Fraud_Model.v2')).toBe('fraud-model-v2')
    expect(kubernetesName('3d-unet')).toBe('m-3d-unet')
    const long = 'a'.repeat(60)
    const other = `${'a'.repeat(59)}b`
    expect(kubernetesName(long)).toHaveLength(47)
    expect(kubernetesName(long)).toBe(kubernetesName(long))
    expect(kubernetesName(long)).not.toBe(kubernetesName(other))
    expect(kubernetesName(long)).toMatch(/^[a-z](?:[-a-z0-9]*[a-z0-9])?$/)
  })

  it('keeps every object of a long name valid, the canary included', () => {
    const name = kubernetesName(`very.long_model_name_${'x'.repeat(80)}`)
    const objects = renderKubernetes(workload({gateway: {name: 'public'}, name}), {
      canary: {percent: 50, release: next},
      stable,
    })
    expectValid(objects)
    for (const object of objects) expect(object.metadata!.name!.length).toBeLessThanOrEqual(63)
  })
})

describe('probeTimings', () => {
  it('grows the startup budget with the load time, the workers per CPU and CUDA', () => {
    expect(probeTimings(0.1, {cpus: 2, gpu: false, workers: 1}).startupBudgetSeconds).toBe(30)
    expect(probeTimings(10, {cpus: 2, gpu: false, workers: 1}).startupBudgetSeconds).toBe(45)
    expect(probeTimings(10, {cpus: 1, gpu: false, workers: 2}).startupBudgetSeconds).toBe(85)
    expect(probeTimings(10, {cpus: 2, gpu: true, workers: 1}).startupBudgetSeconds).toBe(105)
    const timing = probeTimings(10, {cpus: 2, gpu: false, workers: 1})
    expect(timing.startup.failureThreshold * timing.startup.periodSeconds).toBeGreaterThanOrEqual(45)
  })
})

describe('dockerRunFlags', () => {
  it('mounts a Secret volume read-only from the folder given for it, and refuses without one', () => {
    const deployment = renderKubernetes(
      workload({apiKeys: {mountPath: '/var/run/secrets/mlship/api-keys', secretKey: 'api-keys', secretName: 'k'}}),
      {stable},
    )[0]!
    const flags = dockerRunFlags(deployment, {secrets: {k: '/tmp/keys'}})
    expect(flags.join(' ')).toContain('--volume /tmp/keys:/var/run/secrets/mlship/api-keys:ro')
    expect(() => dockerRunFlags(deployment)).toThrow(/Secret k/)
  })

  it('mirrors the pod restrictions with docker run flags', () => {
    const deployment = renderKubernetes(
      workload({
        env: [{name: 'MLSHIP_DATA_DIR', value: '/var/lib/mlship'}],
        resources: {limits: {cpu: '1', memory: '320Mi'}, requests: {cpu: '500m', memory: '320Mi'}},
      }),
      {stable},
    )[0]!
    expect(dockerRunFlags(deployment)).toEqual([
      '--read-only',
      '--tmpfs',
      `/tmp:rw,mode=1777,size=${64 * 2 ** 20}`,
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--user',
      '1000:1000',
      '--cpus',
      '1',
      '--memory',
      String(320 * 2 ** 20),
      '--env',
      'MLSHIP_DATA_DIR=/var/lib/mlship',
      '--publish',
      '127.0.0.1::8080',
    ])
  })
})
