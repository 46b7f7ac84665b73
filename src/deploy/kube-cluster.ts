import {ApiException, KubeConfig, KubernetesObjectApi, PatchStrategy} from '@kubernetes/client-node'

import {ExitCode, MlshipError, errorMessage} from '../errors.js'
import type {KubernetesCluster} from './cluster.js'
import {describeRef, type KubernetesObject, type ObjectRef} from './objects.js'

export const FIELD_MANAGER = 'mlship'

export interface KubeconfigOptions {
  /** A kubeconfig context other than the current one. */
  context?: string
  /** A kubeconfig file; default: KUBECONFIG, then ~/.kube/config, then the in-cluster service account. */
  kubeconfig?: string
}

/**
 * The cluster of a kubeconfig context, through @kubernetes/client-node: its KubeConfig for credentials and TLS, its
 * KubernetesObjectApi for discovery (which resource and path a kind has) and the requests. Applies are server-side
 * (`kubectl apply --server-side --force-conflicts --field-manager mlship`): the API server merges, and re-applying the
 * same objects is a no-op.
 */
export function kubeconfigCluster(options: KubeconfigOptions = {}): KubernetesCluster {
  const config = new KubeConfig()
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig)
    else config.loadFromDefault()
  } catch (error) {
    throw clusterError(`cannot read the kubeconfig: ${errorMessage(error)}`, 'KUBECONFIG_INVALID', error)
  }
  if (!options.kubeconfig && isLibraryFallback(config)) {
    throw clusterError(
      'no kubeconfig: KUBECONFIG is not set, ~/.kube/config does not exist, and this is not a pod with a service account',
      'KUBE_NO_CONFIG',
    )
  }
  if (options.context) {
    const names = config.getContexts().map((c) => c.name)
    if (!names.includes(options.context)) {
      throw new MlshipError(`no context "${options.context}" in the kubeconfig`, {
        code: 'KUBE_CONTEXT_NOT_FOUND',
        details: {contexts: names},
        exitCode: ExitCode.usage,
        suggestions: [names.length > 0 ? `Contexts: ${names.join(', ')}` : 'The kubeconfig has no context at all.'],
      })
    }
    config.setCurrentContext(options.context)
  }
  const cluster = config.getCurrentCluster()
  if (!cluster) {
    throw clusterError('no Kubernetes cluster: the kubeconfig has no current context', 'KUBE_NO_CONTEXT')
  }
  const context = config.getCurrentContext() || cluster.name
  const api = KubernetesObjectApi.makeApiClient(config)
  const header = (ref: ObjectRef) => ({
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: {name: ref.name, namespace: ref.namespace},
  })

  return {
    async apply(object) {
      try {
        await api.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply)
      } catch (error) {
        throw requestError(
          error,
          `apply ${describeRef({kind: object.kind, name: object.metadata?.name ?? ''})}`,
          context,
        )
      }
    },
    context,
    async delete(ref) {
      try {
        await api.delete(header(ref))
        return true
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return false
        throw requestError(error, `delete ${describeRef(ref)}`, context)
      }
    },
    async read(ref) {
      try {
        return await api.read<KubernetesObject>(header(ref))
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return undefined
        throw requestError(error, `read ${describeRef(ref)}`, context)
      }
    },
  }
}

/**
 * With no KUBECONFIG, no ~/.kube/config and no service account, loadFromDefault does not fail: it makes a context
 * "loaded-context" for http://localhost:8080 (the long-gone insecure port), whose first request then fails with a
 * message about TLS. That configuration is recognised here, so the user hears that there is no kubeconfig.
 */
function isLibraryFallback(config: KubeConfig): boolean {
  const cluster = config.getCurrentCluster()
  return (
    config.getCurrentContext() === 'loaded-context' &&
    cluster?.name === 'cluster' &&
    cluster.server === 'http://localhost:8080' &&
    config.getCurrentUser()?.name === 'user'
  )
}

function clusterError(message: string, code: string, cause?: unknown, suggestions?: string[]): MlshipError {
  return new MlshipError(message, {
    cause,
    code,
    exitCode: ExitCode.cluster,
    suggestions: suggestions ?? [
      'Point KUBECONFIG (or --kubeconfig) at a kubeconfig and pick a context with --context; `kubectl config get-contexts` lists them.',
      'Or leave out --apply: the manifests are written to --output for `kubectl apply -f`.',
    ],
  })
}

/** The API server's own message (a Status object), or the network error, with what was being done. */
function requestError(error: unknown, what: string, context: string): MlshipError {
  const message = errorMessage(error)
  const discoveryFailed = /Failed to fetch resource metadata/.test(message)
  const kindMissing =
    /Unrecognized API version and kind/.test(message) ||
    (discoveryFailed && error instanceof ApiException && error.code === 404)
  if (kindMissing) {
    return clusterError(
      `${what} in context ${context}: the cluster does not serve this kind (${message})`,
      'KUBE_KIND_MISSING',
      error,
      [
        'HTTPRoute needs the Gateway API CRDs (gateway.networking.k8s.io), InferenceService needs KServe installed.',
        'Leave deploy.gateway out of model.yaml for no HTTPRoute, or use --format kubernetes instead of kserve.',
      ],
    )
  }
  if (error instanceof ApiException) {
    const body = parseBody(error.body)
    const reason = body?.message ?? `HTTP ${error.code}`
    const suggestions =
      error.code === 401 || error.code === 403
        ? [`Check that the user of context ${context} may ${what.split(' ')[0]} this kind in the namespace.`]
        : error.code === 404
          ? ['The namespace must exist: `kubectl create namespace NAME` (or set deploy.namespace).']
          : []
    return clusterError(`${what} in context ${context}: ${reason}`, 'KUBE_API_ERROR', error, suggestions)
  }
  return clusterError(`${what} in context ${context}: ${message}`, 'KUBE_UNREACHABLE', error)
}

function parseBody(body: unknown): {message?: string} | undefined {
  if (body && typeof body === 'object') return body
  if (typeof body !== 'string') return undefined
  try {
    return JSON.parse(body) as {message?: string}
  } catch {
    return body ? {message: body.slice(0, 300)} : undefined
  }
}
