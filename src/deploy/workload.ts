import type {IContainer} from 'kubernetes-models/v1/Container'
import type {IProbe} from 'kubernetes-models/v1/Probe'
import type {ISecurityContext} from 'kubernetes-models/v1/SecurityContext'
import type {IVolume} from 'kubernetes-models/v1/Volume'

import type {HttpProbeTiming, ProbeTimings} from './probes.js'

/**
 * Everything the manifests of one model say, resolved from model.yaml, the image and the measured load time. Both
 * renderers (plain Kubernetes and KServe) read it; nothing in it depends on a flag or a file.
 */
export interface Workload {
  /** The base name of every object (a DNS-1035 label). */
  name: string
  namespace: string
  modelName: string
  /** Extra labels and annotations from deploy.labels / deploy.annotations. */
  labels: Record<string, string>
  annotations: Record<string, string>
  /** The port the server listens on in the container. */
  port: number
  user: {uid: number; gid: number}
  resources: {requests: {cpu: string; memory: string}; limits: {cpu: string; memory: string}}
  gpus: number
  /** Inference workers per pod (serving.workers resolved against the CPU limit). */
  workers: number
  probes: ProbeTimings
  /** Prometheus scrape annotations for /metrics. */
  metrics: boolean
  /** Environment variables of the server container. */
  env: Array<{name: string; value: string}>
  /** Directories the server writes to, each an emptyDir (the root file system is read-only). */
  writableDirs: WritableDir[]
  /** serving.auth on: the Secret of API keys, mounted as a directory (not subPath: its updates reach the pod). */
  apiKeys?: ApiKeysMount
  replicas: {min: number; max: number}
  autoscaling: {targetCpuUtilization: number; metric?: {name: string; target: number}}
  ingress?: {host: string; className?: string; tlsSecret?: string}
  gateway?: {name: string; namespace?: string; sectionName?: string; hostnames?: string[]}
  networkPolicy: boolean
  /** Seconds the pod keeps serving after it is marked for deletion, so endpoints drain before SIGTERM. */
  preStopSeconds: number
  terminationGracePeriodSeconds: number
}

export interface ApiKeysMount {
  secretName: string
  /** The entry of the Secret that holds the keys, one per line: a file of that name in `mountPath`. */
  secretKey: string
  mountPath: string
}

/** Where a pod finds its API keys, and the volume that puts them there. */
export const API_KEYS_VOLUME = 'api-keys'
export const API_KEYS_SECRET_KEY = 'api-keys'
export const API_KEYS_MOUNT_PATH = '/var/run/secrets/mlship/api-keys'

export interface WritableDir {
  /** The volume name (a DNS-1123 label). */
  name: string
  path: string
  sizeLimit: string
}

/** One version of the model: its semver and its image, by digest. */
export interface Release {
  version: string
  image: string
}

/** What runs: the stable release, and a canary taking `percent` of the traffic. */
export interface Rollout {
  stable: Release
  canary?: {release: Release; percent: number}
}

export type Track = 'stable' | 'canary'

export const TRACK_LABEL = 'mlship.dev/track'
export const MANAGED_BY = {key: 'app.kubernetes.io/managed-by', value: 'mlship'} as const
/** Annotations that carry the stable release on an InferenceService during a KServe canary. */
export const STABLE_IMAGE_ANNOTATION = 'mlship.dev/stable-image'
export const STABLE_VERSION_ANNOTATION = 'mlship.dev/stable-version'
export const VERSION_LABEL = 'app.kubernetes.io/version'
export const NAME_LABEL = 'app.kubernetes.io/name'

/** Label keys mlship sets itself: deploy.labels may not name them (selectors depend on them). */
export const RESERVED_LABEL_KEYS = [
  NAME_LABEL,
  'app.kubernetes.io/instance',
  'app.kubernetes.io/component',
  VERSION_LABEL,
  MANAGED_BY.key,
  TRACK_LABEL,
]

export function objectLabels(workload: Workload): Record<string, string> {
  return {
    ...workload.labels,
    'app.kubernetes.io/component': 'model-server',
    'app.kubernetes.io/instance': workload.name,
    [MANAGED_BY.key]: MANAGED_BY.value,
    [NAME_LABEL]: workload.name,
  }
}

/** The labels a Service and the Deployment of a track select on: never the version, which changes on rollout. */
export function trackSelector(workload: Workload, track: Track): Record<string, string> {
  return {[NAME_LABEL]: workload.name, [TRACK_LABEL]: track}
}

export function prometheusAnnotations(workload: Workload): Record<string, string> {
  if (!workload.metrics) return {}
  return {'prometheus.io/path': '/metrics', 'prometheus.io/port': String(workload.port), 'prometheus.io/scrape': 'true'}
}

function httpProbe(timing: HttpProbeTiming, port: number | string): IProbe {
  return {
    failureThreshold: timing.failureThreshold,
    httpGet: {path: timing.path, port},
    periodSeconds: timing.periodSeconds,
    successThreshold: 1,
    timeoutSeconds: timing.timeoutSeconds,
    ...(timing.initialDelaySeconds === undefined ? {} : {initialDelaySeconds: timing.initialDelaySeconds}),
  }
}

/** The restricted Pod Security Standard, container level: what `docker run` mirrors with its flags. */
export function containerSecurityContext(workload: Workload): ISecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: {drop: ['ALL']},
    readOnlyRootFilesystem: true,
    runAsGroup: workload.user.gid,
    runAsNonRoot: true,
    runAsUser: workload.user.uid,
    seccompProfile: {type: 'RuntimeDefault'},
  }
}

/** The pod's volumes: an emptyDir for each writable directory, and the Secret of API keys (serving.auth). */
export function podVolumes(workload: Workload): IVolume[] {
  const volumes: IVolume[] = workload.writableDirs.map((dir) => ({
    emptyDir: {sizeLimit: dir.sizeLimit},
    name: dir.name,
  }))
  if (workload.apiKeys) {
    volumes.push({
      name: API_KEYS_VOLUME,
      secret: {
        items: [{key: workload.apiKeys.secretKey, path: workload.apiKeys.secretKey}],
        secretName: workload.apiKeys.secretName,
      },
    })
  }
  return volumes
}

export interface ContainerOptions {
  name: string
  image: string
  portName: string
  /** Plain Kubernetes: a startup probe holds the others back; Knative (KServe) takes liveness and readiness only. */
  startupProbe: boolean
  /** A preStop pause (plain Kubernetes; Knative drains through its queue proxy and refuses lifecycle hooks). */
  preStop: boolean
  env?: Array<{name: string; value: string}>
}

/** The model server container, the same for both renderers but for the options. */
export function serverContainer(workload: Workload, options: ContainerOptions): IContainer {
  const limits: Record<string, string> = {...workload.resources.limits}
  const requests: Record<string, string> = {...workload.resources.requests}
  if (workload.gpus > 0) {
    limits['nvidia.com/gpu'] = String(workload.gpus)
    requests['nvidia.com/gpu'] = String(workload.gpus)
  }
  const env = [...(options.env ?? []), ...workload.env]
  // CUDA caches compiled kernels under $HOME, which is read-only here: the cache goes to the writable /tmp.
  if (workload.gpus > 0) env.push({name: 'CUDA_CACHE_PATH', value: '/tmp/cuda-cache'})
  const probePort = options.startupProbe ? options.portName : workload.port
  const {probes} = workload
  return {
    ...(env.length > 0 ? {env} : {}),
    image: options.image,
    imagePullPolicy: 'IfNotPresent',
    ...(options.preStop
      ? {
          lifecycle: {
            // node is in every mlship image (sleep may not be: distroless bases have no shell tools).
            preStop: {exec: {command: ['node', '-e', `setTimeout(() => {}, ${workload.preStopSeconds * 1000})`]}},
          },
        }
      : {}),
    livenessProbe: httpProbe(
      options.startupProbe ? probes.liveness : {...probes.liveness, initialDelaySeconds: probes.startupBudgetSeconds},
      probePort,
    ),
    name: options.name,
    ports: [{containerPort: workload.port, name: options.portName, protocol: 'TCP'}],
    readinessProbe: httpProbe(probes.readiness, probePort),
    resources: {limits, requests},
    securityContext: containerSecurityContext(workload),
    ...(options.startupProbe ? {startupProbe: httpProbe(probes.startup, probePort)} : {}),
    volumeMounts: [
      ...workload.writableDirs.map((dir) => ({mountPath: dir.path, name: dir.name})),
      ...(workload.apiKeys ? [{mountPath: workload.apiKeys.mountPath, name: API_KEYS_VOLUME, readOnly: true}] : []),
    ],
  }
}

/** Replicas of a canary taking `percent` of the traffic: its share of the stable bounds, at least one pod. */
export function canaryReplicas(replicas: {min: number; max: number}, percent: number): {min: number; max: number} {
  const min = Math.max(1, Math.ceil((replicas.min * percent) / 100))
  return {max: Math.max(min, Math.ceil((replicas.max * percent) / 100)), min}
}

/** A number as a Kubernetes quantity: 8 -> "8", 0.5 -> "500m". */
export function numberQuantity(value: number): string {
  return Number.isInteger(value) ? String(value) : `${Math.round(value * 1000)}m`
}

/** The Prometheus metric each deploy.autoscaling.metric name stands for. */
export const AUTOSCALING_METRIC_NAMES: Record<string, string> = {
  queue_depth: 'mlship_inference_queue_depth',
  requests_in_flight: 'mlship_http_requests_in_flight',
}
