import {ConfigError} from '../errors.js'
import {canaryName} from './names.js'
import type {KubernetesObject} from './objects.js'
import {
  type Release,
  type Rollout,
  STABLE_IMAGE_ANNOTATION,
  STABLE_VERSION_ANNOTATION,
  VERSION_LABEL,
} from './workload.js'

export type DeployFormat = 'kubernetes' | 'kserve'

export type RolloutAction = {type: 'deploy'} | {type: 'canary'; percent: number} | {type: 'promote'} | {type: 'abort'}

/** What runs now, as read back from the objects mlship wrote before (files or cluster). */
export interface CurrentRollout {
  stable?: Release
  canary?: {release: Release; percent: number}
}

interface ContainerLike {
  image?: string
}

/** Reads the releases out of objects rendered earlier: the Deployments' images and labels, the route's weights. */
export function currentRollout(objects: KubernetesObject[], name: string, format: DeployFormat): CurrentRollout {
  const find = (kind: string, objectName: string) =>
    objects.find((o) => o.kind === kind && o.metadata?.name === objectName)
  if (format === 'kserve') return currentKserveRollout(find('InferenceService', name))

  const release = (object: KubernetesObject | undefined): Release | undefined => {
    const spec = object?.spec as {template?: {spec?: {containers?: ContainerLike[]}}} | undefined
    const image = spec?.template?.spec?.containers?.[0]?.image
    const version = object?.metadata?.labels?.[VERSION_LABEL]
    return image && version ? {image, version} : undefined
  }
  const stable = release(find('Deployment', name))
  const canary = release(find('Deployment', canaryName(name)))
  if (!canary) return stable ? {stable} : {}
  const route = find('HTTPRoute', name)?.spec as
    {rules?: Array<{backendRefs?: Array<{name?: string; weight?: number}>}>} | undefined
  const weight = route?.rules?.[0]?.backendRefs?.find((ref) => ref.name === canaryName(name))?.weight
  return {canary: {percent: weight ?? 0, release: canary}, ...(stable ? {stable} : {})}
}

function currentKserveRollout(service: KubernetesObject | undefined): CurrentRollout {
  if (!service) return {}
  const predictor = (
    service.spec as {predictor?: {containers?: ContainerLike[]; canaryTrafficPercent?: number}} | undefined
  )?.predictor
  const image = predictor?.containers?.[0]?.image
  const version = service.metadata?.labels?.[VERSION_LABEL]
  if (!image || !version) return {}
  const percent = predictor.canaryTrafficPercent
  const annotations = service.metadata?.annotations ?? {}
  const stableImage = annotations[STABLE_IMAGE_ANNOTATION]
  const stableVersion = annotations[STABLE_VERSION_ANNOTATION]
  if (percent !== undefined && percent < 100 && stableImage && stableVersion) {
    return {canary: {percent, release: {image, version}}, stable: {image: stableImage, version: stableVersion}}
  }
  return {stable: {image, version}}
}

/**
 * The rollout an action leads to from what runs now. `release` is this model.yaml's version and image (needed for a
 * deploy and a canary only). Refusals are usage errors (exit 2): nothing is written or applied.
 */
export function planRollout(current: CurrentRollout, action: RolloutAction, release: Release | undefined): Rollout {
  switch (action.type) {
    case 'deploy': {
      if (current.canary) {
        throw new ConfigError(
          `a canary of version ${current.canary.release.version} takes ${current.canary.percent}% of the traffic: finish it before deploying another version`,
          {
            code: 'CANARY_IN_PLACE',
            details: {canary: current.canary},
            suggestions: [
              `\`mlship deploy --promote\` sends all traffic to ${current.canary.release.version}; \`mlship deploy --abort\` goes back to ${current.stable?.version ?? 'the stable version'}.`,
              `\`mlship deploy --canary N\` changes its share.`,
            ],
          },
        )
      }
      return {stable: release!}
    }
    case 'canary': {
      if (!current.stable) {
        throw new ConfigError(
          '--canary needs a stable version to share the traffic with, and nothing is deployed yet',
          {
            code: 'CANARY_WITHOUT_STABLE',
            suggestions: ['Deploy the first version without --canary: it takes all the traffic.'],
          },
        )
      }
      if (current.stable.version === release!.version) {
        throw new ConfigError(
          `version ${release!.version} is already the stable one: a canary is a new version of the model`,
          {
            code: 'CANARY_SAME_VERSION',
            suggestions: ['Raise version in model.yaml, build and push the new model, then run --canary again.'],
          },
        )
      }
      return {canary: {percent: action.percent, release: release!}, stable: current.stable}
    }
    case 'promote': {
      if (!current.canary) throw noCanary('--promote', current)
      return {stable: current.canary.release}
    }
    case 'abort': {
      if (!current.canary) throw noCanary('--abort', current)
      if (!current.stable) {
        throw new ConfigError('--abort: the stable version the canary shared the traffic with cannot be found', {
          code: 'STABLE_NOT_FOUND',
          suggestions: ['Deploy the version you want with `mlship deploy` (it replaces the canary).'],
        })
      }
      return {stable: current.stable}
    }
  }
}

function noCanary(flag: string, current: CurrentRollout): ConfigError {
  return new ConfigError(
    `${flag}: no canary is in place${current.stable ? ` (${current.stable.version} is serving)` : ''}`,
    {
      code: 'NO_CANARY',
      details: {stable: current.stable},
      suggestions: [
        'Start one with `mlship deploy --canary 10` after raising version in model.yaml.',
        'With --apply the state is read from the cluster, otherwise from the --output folder (deploy/ beside model.yaml).',
      ],
    },
  )
}
