import path from 'node:path'

import {mebibytes, parseQuantity} from '../config/quantity.js'
import {type DeployConfig, deploySchema, dnsLabelSchema, type ModelConfig} from '../config/schema.js'
import {ConfigError} from '../errors.js'
import {loadModelProject, type ResolvedModel} from '../model/load-model.js'
import {KEYS_FILE_ENV} from '../serving/auth/key-sources.js'
import {resolveWorkerCount} from '../serving/cpus.js'
import {chooseLayout} from '../serving/layout.js'
import {SHUTDOWN_LIMIT_MS} from '../serving/shutdown.js'
import {applyAndWait, type ApplyProgress, type ApplyResult, type Clock, type KubernetesCluster} from './cluster.js'
import type {ImageResolver, ResolvedImage} from './image.js'
import {readManifests, type WrittenManifests, writeManifests} from './manifest-files.js'
import {measureModelLoad} from './measure-load.js'
import {canaryName, kubernetesName} from './names.js'
import {type KubernetesObject, type ObjectRef, refOf, sameRef} from './objects.js'
import {probeTimings} from './probes.js'
import {renderKserve} from './render-kserve.js'
import {renderKubernetes} from './render-kubernetes.js'
import {currentRollout, type CurrentRollout, type DeployFormat, planRollout, type RolloutAction} from './rollout.js'
import {
  API_KEYS_MOUNT_PATH,
  API_KEYS_SECRET_KEY,
  type ApiKeysMount,
  type Release,
  RESERVED_LABEL_KEYS,
  type Rollout,
  type Workload,
  type WritableDir,
} from './workload.js'

export interface DeployOptions {
  /** The model directory, or the path of its model.yaml. */
  dir: string
  format: DeployFormat
  action: RolloutAction
  /** Overrides deploy.namespace. */
  namespace?: string
  /** Where the image of this model.yaml's version comes from (the registry, or --image). */
  images: ImageResolver
  /** Folder of the manifest files: read for the current rollout (unless applying), written when `write`. */
  outputDir?: string
  write: boolean
  /** Apply to a cluster and wait for the rollout; the current rollout is then read from the cluster. */
  apply?: {
    cluster: KubernetesCluster
    timeoutMs: number
    clock?: Clock
    onProgress?: (event: ApplyProgress) => void
  }
  /** Seconds the model takes to load; measured here (one worker, warm-up included) when absent. */
  measureLoad?: (project: ResolvedModel) => Promise<number>
}

export interface DeploySummary {
  format: DeployFormat
  name: string
  namespace: string
  action: RolloutAction['type']
  stable: Release
  canary?: Release & {percent: number}
  /** The image of this model.yaml's version, as resolved (deploy and canary only). */
  image?: Pick<ResolvedImage, 'reference' | 'digest' | 'source'>
  workers: number
  cpuLimit: string
  probes: {measuredLoadSeconds: number; startupBudgetSeconds: number}
  objects: Array<{kind: string; name: string}>
  /** Objects of the previous rollout that go (the canary's, after --promote or --abort). */
  removed: Array<{kind: string; name: string}>
  files?: WrittenManifests
  applied?: ApplyResult
  /** serving.auth on: the Secret the pods read their API keys from (the user creates it; mlship never writes keys). */
  apiKeys?: {secret: string; key: string}
  warnings: string[]
}

export interface DeployResult {
  objects: KubernetesObject[]
  summary: DeploySummary
}

/** The folder manifests go to unless --output says otherwise: deploy/ beside model.yaml. */
export function defaultOutputDir(configFile: string): string {
  return path.join(path.dirname(configFile), 'deploy')
}

/**
 * Renders the Kubernetes (or KServe) objects of a model and, as asked, writes them to files and applies them. The
 * current rollout (what is stable, what is a canary) is read back from the objects written or applied before, so
 * --canary, --promote and --abort move on from there.
 */
export async function deploy(options: DeployOptions): Promise<DeployResult> {
  const project = await loadModelProject(options.dir)
  const {config} = project
  const deployConfig: DeployConfig = config.deploy ?? deploySchema.parse({})
  const name = deployConfig.name ?? kubernetesName(config.name)
  const namespace = resolveNamespace(options.namespace ?? deployConfig.namespace)
  assertLabels(deployConfig, project.file)
  const outputDir = options.outputDir ?? defaultOutputDir(project.file)
  const warnings: string[] = []

  // What runs now: from the cluster when applying, else from the files written before.
  const previous = options.apply
    ? await readFromCluster(options.apply.cluster, name, namespace, options.format)
    : (await readManifests(outputDir)).filter((o) => o.metadata?.namespace === namespace)
  const current: CurrentRollout = currentRollout(previous, name, options.format)

  let image: ResolvedImage | undefined
  let release: Release | undefined
  if (options.action.type === 'deploy' || options.action.type === 'canary') {
    image = await options.images.resolve(config.version)
    release = {image: image.reference, version: config.version}
    if (!image.digest) {
      warnings.push(
        `${image.reference} names a tag, not a digest: pods started later may run another image if the tag moves`,
      )
    }
  }
  const rollout = planRollout(current, options.action, release)
  if (options.format === 'kubernetes' && rollout.canary && !deployConfig.gateway) {
    throw new ConfigError(
      `${project.file}: --canary splits traffic with a Gateway API HTTPRoute, and deploy.gateway is not set`,
      {
        code: 'CANARY_NEEDS_GATEWAY',
        details: {file: project.file, keyPath: 'deploy.gateway'},
        suggestions: [
          'Name the Gateway the route attaches to in model.yaml:\n  deploy:\n    gateway:\n      name: public-gateway\n      namespace: gateway-system',
          'Or deploy with --format kserve, where KServe splits the traffic (canaryTrafficPercent).',
        ],
      },
    )
  }

  const workload = await buildWorkload({config, deployConfig, image, name, namespace, options, project, warnings})
  const objects = options.format === 'kserve' ? renderKserve(workload, rollout) : renderKubernetes(workload, rollout)
  const remove = removedRefs(previous, objects, name, namespace, options.format)

  const summary: DeploySummary = {
    action: options.action.type,
    ...(rollout.canary ? {canary: {...rollout.canary.release, percent: rollout.canary.percent}} : {}),
    cpuLimit: workload.resources.limits.cpu,
    format: options.format,
    ...(image ? {image: {digest: image.digest, reference: image.reference, source: image.source}} : {}),
    name,
    namespace,
    objects: objects.map((o) => ({kind: o.kind, name: o.metadata?.name ?? ''})),
    probes: {
      measuredLoadSeconds: Math.round(workload.probes.measuredLoadSeconds * 1000) / 1000,
      startupBudgetSeconds: workload.probes.startupBudgetSeconds,
    },
    removed: remove.map((ref) => ({kind: ref.kind, name: ref.name})),
    ...(workload.apiKeys ? {apiKeys: {key: workload.apiKeys.secretKey, secret: workload.apiKeys.secretName}} : {}),
    stable: rollout.stable,
    warnings,
    workers: workload.workers,
  }
  if (options.write) summary.files = await writeManifests(outputDir, objects)
  if (options.apply) {
    summary.applied = await applyAndWait({
      clock: options.apply.clock,
      cluster: options.apply.cluster,
      objects,
      onProgress: options.apply.onProgress,
      remove,
      timeoutMs: options.apply.timeoutMs,
    })
  }
  return {objects, summary}
}

function resolveNamespace(namespace: string): string {
  const parsed = dnsLabelSchema.safeParse(namespace)
  if (parsed.success) return parsed.data
  throw new ConfigError(
    `namespace "${namespace}" is not a valid Kubernetes namespace: ${parsed.error.issues[0]?.message}`,
    {
      code: 'NAMESPACE_INVALID',
      details: {namespace},
      suggestions: [`Try "${kubernetesName(namespace)}".`],
    },
  )
}

function assertLabels(deployConfig: DeployConfig, file: string): void {
  const reserved = Object.keys(deployConfig.labels).filter((key) => RESERVED_LABEL_KEYS.includes(key))
  if (reserved.length === 0) return
  throw new ConfigError(
    `${file} [deploy.labels]: ${reserved.map((k) => `"${k}"`).join(', ')} ${reserved.length === 1 ? 'is' : 'are'} set by mlship (selectors and rollouts depend on ${reserved.length === 1 ? 'it' : 'them'})`,
    {
      code: 'LABEL_RESERVED',
      details: {file, keys: reserved},
      suggestions: [`Use another key; mlship sets ${RESERVED_LABEL_KEYS.join(', ')}.`],
    },
  )
}

interface WorkloadInput {
  config: ModelConfig
  deployConfig: DeployConfig
  image: ResolvedImage | undefined
  name: string
  namespace: string
  options: DeployOptions
  project: ResolvedModel
  warnings: string[]
}

/** The image's own user, the image's mlship user otherwise (USER 1000:1000 in templates/image/Dockerfile.hbs). */
const MLSHIP_IMAGE_USER = {gid: 1000, uid: 1000}
/** Long enough for endpoint controllers, kube-proxy and ingress controllers to stop sending new requests. */
const PRE_STOP_SECONDS = 5
/** Past the server's own shutdown limit, before the kubelet sends SIGKILL. */
const GRACE_MARGIN_SECONDS = 5
/** Node.js and the server before the first session: what the memory estimate adds to the sessions. */
const BASE_MEMORY_BYTES = 256 * 2 ** 20
/**
 * Above this model file the cluster layout is not expected: a single-row inference reads every weight at least once,
 * and 16 MiB do not come from memory in CHEAP_ROW_MS (0.1 ms, layout.ts) even at 100 GB/s.
 */
const CLUSTER_MODEL_BYTES = 16 * 2 ** 20

/**
 * The memory a pod's server needs, when model.yaml gives none. A single process: Node.js and the server, plus each
 * inference worker's session (twice the model file: weights and onnxruntime's arenas). Where the server may choose the
 * cluster layout (layout.ts's rule with the cost not yet measured: a CPU model of at most CLUSTER_MODEL_BYTES, 2 or
 * more CPUs, and nothing that keeps it on one process), it runs one full process (Node.js, fastify, onnxruntime, one
 * in-process session) per CPU, so each of them is counted.
 */
export function estimateMemoryBytes(input: {
  config: ModelConfig
  cpus: number
  gpus: number
  modelBytes: number
  workers: number
}): number {
  const {config, cpus, gpus, modelBytes, workers} = input
  const singleOnly =
    config.experiment || config.monitoring.prediction_log.enabled || config.serving.workers !== 'auto'
      ? 'kept on one process'
      : undefined
  const layout = chooseLayout({cpus, device: gpus > 0 ? 'cuda' : 'cpu', rowCostMs: 0, setting: 'auto', singleOnly})
  if (layout.kind === 'cluster' && modelBytes <= CLUSTER_MODEL_BYTES)
    return layout.processes * (BASE_MEMORY_BYTES + modelBytes * 2)
  return BASE_MEMORY_BYTES + workers * modelBytes * 2
}

async function buildWorkload(input: WorkloadInput): Promise<Workload> {
  const {config, deployConfig, image, project, warnings} = input
  const gpuImage = image?.device ? image.device === 'cuda' : config.build.gpu
  const gpus = deployConfig.gpus ?? (gpuImage ? 1 : 0)
  if (gpus > 0 && !gpuImage) {
    throw new ConfigError(
      `${project.file} [deploy.gpus]: ${gpus} GPU(s) for ${image?.reference ?? 'the image'}, a CPU image`,
      {
        code: 'GPU_FOR_CPU_IMAGE',
        details: {file: project.file, keyPath: 'deploy.gpus'},
        suggestions: ['Build and push the CUDA image (`mlship push --gpu`, build.gpu: true), or set deploy.gpus: 0.'],
      },
    )
  }
  if (gpus === 0 && gpuImage) {
    throw new ConfigError(
      `${project.file} [deploy.gpus]: ${image?.reference ?? 'the image'} is a GPU image and needs a GPU`,
      {
        code: 'GPU_IMAGE_WITHOUT_GPU',
        details: {file: project.file, keyPath: 'deploy.gpus'},
        suggestions: ['Set deploy.gpus to 1 or more, or deploy the CPU image.'],
      },
    )
  }

  const {requests, limits} = deployConfig.resources
  const cpuRequest = requests.cpu ?? '1'
  const cpuLimit = limits.cpu ?? (parseQuantity(cpuRequest)! > 2 ? cpuRequest : '2')
  const cpus = Math.max(1, Math.ceil(parseQuantity(cpuLimit)!))
  const workers = resolveWorkerCount(config.serving.workers, cpus)
  if (config.serving.workers !== 'auto' && config.serving.workers > cpus) {
    warnings.push(
      `serving.workers is ${config.serving.workers} and the CPU limit ${cpuLimit}: the workers share ${cpus} CPU(s); "auto" follows the limit`,
    )
  }
  const modelBytes = await modelSize(project.modelPath)
  const estimate = mebibytes(estimateMemoryBytes({config, cpus, gpus, modelBytes, workers}))
  const memoryRequest = requests.memory ?? limits.memory ?? estimate
  const memoryLimit = limits.memory ?? memoryRequest

  const apiKeys = apiKeysMount(config, deployConfig, input.name, warnings)
  const measure = input.options.measureLoad ?? ((p: ResolvedModel) => measureModelLoad(p))
  const probes = probeTimings(await measure(project), {cpus, gpu: gpus > 0, workers})

  return {
    annotations: deployConfig.annotations,
    autoscaling: {
      targetCpuUtilization: deployConfig.autoscaling.target_cpu_utilization,
      ...(deployConfig.autoscaling.metric ? {metric: deployConfig.autoscaling.metric} : {}),
    },
    ...(deployConfig.gateway
      ? {
          gateway: {
            name: deployConfig.gateway.name,
            ...(deployConfig.gateway.namespace ? {namespace: deployConfig.gateway.namespace} : {}),
            ...(deployConfig.gateway.section_name ? {sectionName: deployConfig.gateway.section_name} : {}),
            ...(deployConfig.gateway.hostnames ? {hostnames: deployConfig.gateway.hostnames} : {}),
          },
        }
      : {}),
    gpus,
    ...(deployConfig.ingress
      ? {
          ingress: {
            host: deployConfig.ingress.host,
            ...(deployConfig.ingress.class_name ? {className: deployConfig.ingress.class_name} : {}),
            ...(deployConfig.ingress.tls_secret ? {tlsSecret: deployConfig.ingress.tls_secret} : {}),
          },
        }
      : {}),
    labels: deployConfig.labels,
    metrics: config.monitoring.metrics,
    modelName: config.name,
    name: input.name,
    namespace: input.namespace,
    networkPolicy: deployConfig.network_policy,
    port: image?.port ?? config.serving.port,
    preStopSeconds: PRE_STOP_SECONDS,
    probes,
    replicas: deployConfig.replicas,
    resources: {
      limits: {cpu: cpuLimit, memory: memoryLimit},
      requests: {cpu: cpuRequest, memory: memoryRequest},
    },
    terminationGracePeriodSeconds: PRE_STOP_SECONDS + Math.ceil(SHUTDOWN_LIMIT_MS / 1000) + GRACE_MARGIN_SECONDS,
    user: image?.user ? {gid: image.user.gid ?? image.user.uid, uid: image.user.uid} : MLSHIP_IMAGE_USER,
    workers,
    env: [
      ...(config.monitoring.prediction_log.enabled ? [{name: 'MLSHIP_DATA_DIR', value: DATA_DIR}] : []),
      ...(apiKeys ? [{name: KEYS_FILE_ENV, value: `${apiKeys.mountPath}/${apiKeys.secretKey}`}] : []),
    ],
    writableDirs: writableDirs(config),
    ...(apiKeys ? {apiKeys} : {}),
  }
}

/**
 * serving.auth on: the pods read their keys from a Secret mounted as a directory, named by MLSHIP_API_KEYS_FILE. The
 * manifests name the Secret and never hold a key; the Secret is the user's to create (and to rotate: the server
 * re-reads the file). Prometheus scrapes /metrics through the pod annotations, so a protected /metrics is said.
 */
function apiKeysMount(
  config: ModelConfig,
  deployConfig: DeployConfig,
  name: string,
  warnings: string[],
): ApiKeysMount | undefined {
  const auth = config.serving.auth
  if (!auth.enabled) return undefined
  if (config.monitoring.metrics && auth.metrics === 'protected') {
    warnings.push(
      `serving.auth.metrics is protected: Prometheus must send an API key when it scrapes /metrics (authorization: {credentials_file: ...} in its scrape config)${deployConfig.autoscaling.metric ? ', or the autoscaler gets no deploy.autoscaling.metric' : ''}; or set serving.auth.metrics: open`,
    )
  }
  return {
    mountPath: API_KEYS_MOUNT_PATH,
    secretKey: API_KEYS_SECRET_KEY,
    secretName: deployConfig.api_keys_secret ?? `${name}-api-keys`,
  }
}

/** Where the server writes its data (the prediction log) in a pod: MLSHIP_DATA_DIR, an emptyDir. */
export const DATA_DIR = '/var/lib/mlship'

/** /tmp for Node.js and onnxruntime, and the data folder when the prediction log is on. */
export function writableDirs(config: ModelConfig): WritableDir[] {
  const dirs: WritableDir[] = [{name: 'tmp', path: '/tmp', sizeLimit: '64Mi'}]
  if (config.monitoring.prediction_log.enabled) dirs.push({name: 'data', path: DATA_DIR, sizeLimit: '1Gi'})
  return dirs
}

async function modelSize(modelPath: string): Promise<number> {
  const {stat} = await import('node:fs/promises')
  return (await stat(modelPath)).size
}

async function readFromCluster(
  cluster: KubernetesCluster,
  name: string,
  namespace: string,
  format: DeployFormat,
): Promise<KubernetesObject[]> {
  const refs: ObjectRef[] =
    format === 'kserve'
      ? [{apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', name, namespace}]
      : [
          {apiVersion: 'apps/v1', kind: 'Deployment', name, namespace},
          {apiVersion: 'apps/v1', kind: 'Deployment', name: canaryName(name), namespace},
          {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', name, namespace},
        ]
  const objects = await Promise.all(refs.map((ref) => cluster.read(ref)))
  return objects.filter((o): o is KubernetesObject => o !== undefined)
}

/**
 * Objects of the previous rollout that the new one no longer has. From files, every object mlship wrote; from a
 * cluster (where only the workloads were read back), the canary's Deployment, Service and autoscaler.
 */
function removedRefs(
  previous: KubernetesObject[],
  objects: KubernetesObject[],
  name: string,
  namespace: string,
  format: DeployFormat,
): ObjectRef[] {
  const next = objects.map(refOf)
  const candidates = previous.map(refOf)
  if (format === 'kubernetes' && previous.some((o) => o.metadata?.name === canaryName(name))) {
    for (const [apiVersion, kind] of [
      ['apps/v1', 'Deployment'],
      ['v1', 'Service'],
      ['autoscaling/v2', 'HorizontalPodAutoscaler'],
    ] as const) {
      candidates.push({apiVersion, kind, name: canaryName(name), namespace})
    }
  }
  const unique: ObjectRef[] = []
  for (const ref of candidates) {
    if (next.some((n) => sameRef(n, ref)) || unique.some((u) => sameRef(u, ref))) continue
    unique.push(ref)
  }
  return unique
}

export type {Rollout}
