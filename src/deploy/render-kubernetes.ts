import type {IHTTPRoute} from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute'
import type {IDeployment} from 'kubernetes-models/apps/v1/Deployment'
import type {IHorizontalPodAutoscaler} from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import type {IMetricSpec} from 'kubernetes-models/autoscaling/v2/MetricSpec'
import type {IIngress} from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import type {INetworkPolicy} from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import type {IPodDisruptionBudget} from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import type {IService} from 'kubernetes-models/v1/Service'

import {canaryName} from './names.js'
import type {KubernetesObject} from './objects.js'
import {
  AUTOSCALING_METRIC_NAMES,
  canaryReplicas,
  numberQuantity,
  objectLabels,
  prometheusAnnotations,
  type Release,
  type Rollout,
  serverContainer,
  type Track,
  TRACK_LABEL,
  trackSelector,
  VERSION_LABEL,
  type Workload,
  podVolumes,
} from './workload.js'

const PORT_NAME = 'http'
const SERVICE_PORT = 80

/**
 * The plain Kubernetes objects of a model: per track (stable, and canary during a rollout) a Deployment, a Service and
 * a HorizontalPodAutoscaler; a PodDisruptionBudget for the stable pods; a NetworkPolicy; an Ingress and a Gateway API
 * HTTPRoute when model.yaml asks for them. The HTTPRoute splits the traffic between the tracks by weight.
 */
export function renderKubernetes(workload: Workload, rollout: Rollout): KubernetesObject[] {
  const objects: KubernetesObject[] = [
    ...trackObjects(workload, 'stable', rollout.stable, workload.replicas),
    ...(rollout.canary
      ? trackObjects(
          workload,
          'canary',
          rollout.canary.release,
          canaryReplicas(workload.replicas, rollout.canary.percent),
        )
      : []),
  ]
  if (workload.replicas.min >= 2) objects.push(podDisruptionBudget(workload))
  if (workload.networkPolicy) objects.push(networkPolicy(workload))
  if (workload.ingress) objects.push(ingress(workload))
  if (workload.gateway) objects.push(httpRoute(workload, rollout))
  return objects
}

function trackName(workload: Workload, track: Track): string {
  return track === 'stable' ? workload.name : canaryName(workload.name)
}

function metadata(workload: Workload, name: string, labels: Record<string, string> = {}) {
  return {
    ...(Object.keys(workload.annotations).length > 0 ? {annotations: {...workload.annotations}} : {}),
    labels: {...objectLabels(workload), ...labels},
    name,
    namespace: workload.namespace,
  }
}

function trackObjects(
  workload: Workload,
  track: Track,
  release: Release,
  replicas: {min: number; max: number},
): KubernetesObject[] {
  const objects: KubernetesObject[] = [deployment(workload, track, release, replicas), service(workload, track)]
  if (replicas.max > replicas.min) objects.push(autoscaler(workload, track, replicas))
  return objects
}

function deployment(
  workload: Workload,
  track: Track,
  release: Release,
  replicas: {min: number; max: number},
): IDeployment {
  const selector = trackSelector(workload, track)
  const podLabels = {...objectLabels(workload), ...selector, [VERSION_LABEL]: release.version}
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(workload, trackName(workload, track), {[TRACK_LABEL]: track, [VERSION_LABEL]: release.version}),
    spec: {
      // With an autoscaler the replica count is its to set: an apply that names one would undo its decisions.
      ...(replicas.max > replicas.min ? {} : {replicas: replicas.min}),
      revisionHistoryLimit: 5,
      selector: {matchLabels: selector},
      // New pods are ready before old ones go: no capacity is lost during a rollout.
      strategy: {rollingUpdate: {maxSurge: '25%', maxUnavailable: 0}, type: 'RollingUpdate'},
      template: {
        metadata: {
          annotations: {...workload.annotations, ...prometheusAnnotations(workload)},
          labels: podLabels,
        },
        spec: {
          automountServiceAccountToken: false,
          containers: [
            serverContainer(workload, {
              image: release.image,
              name: 'model-server',
              portName: PORT_NAME,
              preStop: true,
              startupProbe: true,
            }),
          ],
          enableServiceLinks: false,
          securityContext: {
            fsGroup: workload.user.gid,
            runAsGroup: workload.user.gid,
            runAsNonRoot: true,
            runAsUser: workload.user.uid,
            seccompProfile: {type: 'RuntimeDefault'},
          },
          terminationGracePeriodSeconds: workload.terminationGracePeriodSeconds,
          ...(workload.gpus > 0
            ? {tolerations: [{effect: 'NoSchedule', key: 'nvidia.com/gpu', operator: 'Exists'}]}
            : {}),
          topologySpreadConstraints: ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
            labelSelector: {matchLabels: selector},
            // Spread the pods of one rollout, not the old ones that are about to go.
            matchLabelKeys: ['pod-template-hash'],
            maxSkew: 1,
            topologyKey,
            whenUnsatisfiable: 'ScheduleAnyway',
          })),
          volumes: podVolumes(workload),
        },
      },
    },
  }
}

function service(workload: Workload, track: Track): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(workload, trackName(workload, track), {[TRACK_LABEL]: track}),
    spec: {
      ports: [{appProtocol: 'http', name: PORT_NAME, port: SERVICE_PORT, protocol: 'TCP', targetPort: PORT_NAME}],
      selector: trackSelector(workload, track),
      type: 'ClusterIP',
    },
  }
}

function autoscaler(workload: Workload, track: Track, replicas: {min: number; max: number}): IHorizontalPodAutoscaler {
  const metrics: IMetricSpec[] = [
    {
      resource: {
        name: 'cpu',
        target: {averageUtilization: workload.autoscaling.targetCpuUtilization, type: 'Utilization'},
      },
      type: 'Resource',
    },
  ]
  const custom = workload.autoscaling.metric
  if (custom) {
    metrics.push({
      pods: {
        metric: {name: AUTOSCALING_METRIC_NAMES[custom.name] ?? custom.name},
        target: {averageValue: numberQuantity(custom.target), type: 'AverageValue'},
      },
      type: 'Pods',
    })
  }
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: metadata(workload, trackName(workload, track), {[TRACK_LABEL]: track}),
    spec: {
      behavior: {
        // Up at once when load comes; down slowly, so a dip between two bursts does not cost a cold start.
        scaleDown: {policies: [{periodSeconds: 60, type: 'Percent', value: 50}], stabilizationWindowSeconds: 300},
        scaleUp: {
          policies: [
            {periodSeconds: 15, type: 'Percent', value: 100},
            {periodSeconds: 15, type: 'Pods', value: 4},
          ],
          selectPolicy: 'Max',
          stabilizationWindowSeconds: 0,
        },
      },
      maxReplicas: replicas.max,
      metrics,
      minReplicas: replicas.min,
      scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name: trackName(workload, track)},
    },
  }
}

function podDisruptionBudget(workload: Workload): IPodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(workload, workload.name),
    spec: {
      // One pod at a time during node drains and upgrades; pods that never became ready may always go.
      maxUnavailable: 1,
      selector: {matchLabels: trackSelector(workload, 'stable')},
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  }
}

function networkPolicy(workload: Workload): INetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(workload, workload.name),
    spec: {
      // The serving port only (predictions, health, /metrics); the pods need no other way in.
      ingress: [{ports: [{port: workload.port, protocol: 'TCP'}]}],
      podSelector: {matchLabels: {'app.kubernetes.io/name': workload.name}},
      policyTypes: ['Ingress'],
    },
  }
}

function ingress(workload: Workload): IIngress {
  const spec = workload.ingress!
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: metadata(workload, workload.name),
    spec: {
      ...(spec.className ? {ingressClassName: spec.className} : {}),
      rules: [
        {
          host: spec.host,
          http: {
            paths: [
              {backend: {service: {name: workload.name, port: {name: PORT_NAME}}}, path: '/', pathType: 'Prefix'},
            ],
          },
        },
      ],
      ...(spec.tlsSecret ? {tls: [{hosts: [spec.host], secretName: spec.tlsSecret}]} : {}),
    },
  }
}

function httpRoute(workload: Workload, rollout: Rollout): IHTTPRoute {
  const gateway = workload.gateway!
  const canaryPercent = rollout.canary?.percent ?? 0
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: metadata(workload, workload.name),
    spec: {
      ...(gateway.hostnames && gateway.hostnames.length > 0 ? {hostnames: gateway.hostnames} : {}),
      parentRefs: [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          name: gateway.name,
          ...(gateway.namespace ? {namespace: gateway.namespace} : {}),
          ...(gateway.sectionName ? {sectionName: gateway.sectionName} : {}),
        },
      ],
      rules: [
        {
          backendRefs: [
            {name: workload.name, port: SERVICE_PORT, weight: 100 - canaryPercent},
            ...(rollout.canary ? [{name: canaryName(workload.name), port: SERVICE_PORT, weight: canaryPercent}] : []),
          ],
          matches: [{path: {type: 'PathPrefix', value: '/'}}],
        },
      ],
    },
  }
}
