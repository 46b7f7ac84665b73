import {
  AUTOSCALING_METRIC_NAMES,
  objectLabels,
  type Rollout,
  serverContainer,
  STABLE_IMAGE_ANNOTATION,
  STABLE_VERSION_ANNOTATION,
  VERSION_LABEL,
  type Workload,
  podVolumes,
} from './workload.js'
import type {KubernetesObject} from './objects.js'

/**
 * A KServe InferenceService (serving.kserve.io/v1beta1) with mlship's image as the custom predictor container. KServe
 * reads a custom container's protocol from its PROTOCOL variable: v2, the Open Inference Protocol mlship serves under
 * /v2. During a canary the predictor names the new image with canaryTrafficPercent, and KServe sends the rest to the
 * revision rolled out before; the stable release is kept in annotations so --abort can put it back.
 *
 * What Knative (KServe's serverless mode) does not take is left out: lifecycle hooks and the grace period (its queue
 * proxy drains requests), pod-level securityContext (the container-level one carries the restrictions), and the
 * startup probe (the liveness probe waits the startup budget instead).
 */
export function renderKserve(workload: Workload, rollout: Rollout): KubernetesObject[] {
  const current = rollout.canary?.release ?? rollout.stable
  const custom = workload.autoscaling.metric
  // Knative's concurrency is requests in flight per pod: the same target as mlship's own metric, natively.
  const scale =
    custom && AUTOSCALING_METRIC_NAMES[custom.name] === 'mlship_http_requests_in_flight'
      ? {scaleMetric: 'concurrency', scaleTarget: Math.max(1, Math.round(custom.target))}
      : {scaleMetric: 'cpu', scaleTarget: workload.autoscaling.targetCpuUtilization}
  const annotations: Record<string, string> = {
    ...workload.annotations,
    ...(workload.metrics ? {'serving.kserve.io/enable-prometheus-scraping': 'true'} : {}),
    ...(rollout.canary
      ? {
          [STABLE_IMAGE_ANNOTATION]: rollout.stable.image,
          [STABLE_VERSION_ANNOTATION]: rollout.stable.version,
        }
      : {}),
  }
  return [
    {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: {
        ...(Object.keys(annotations).length > 0 ? {annotations} : {}),
        labels: {...objectLabels(workload), [VERSION_LABEL]: current.version},
        name: workload.name,
        namespace: workload.namespace,
      },
      spec: {
        predictor: {
          ...(rollout.canary ? {canaryTrafficPercent: rollout.canary.percent} : {}),
          containers: [
            serverContainer(workload, {
              env: [{name: 'PROTOCOL', value: 'v2'}],
              image: current.image,
              name: 'kserve-container',
              portName: 'http1',
              preStop: false,
              startupProbe: false,
            }),
          ],
          labels: {[VERSION_LABEL]: current.version},
          maxReplicas: workload.replicas.max,
          minReplicas: workload.replicas.min,
          ...scale,
          ...(workload.gpus > 0
            ? {tolerations: [{effect: 'NoSchedule', key: 'nvidia.com/gpu', operator: 'Exists'}]}
            : {}),
          volumes: podVolumes(workload),
        },
      },
    },
  ]
}
