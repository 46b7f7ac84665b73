/** What every rendered object has; the renderers build them typed with kubernetes-models' interfaces. */
export interface KubernetesObject {
  apiVersion: string
  kind: string
  metadata?: {
    name?: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    generation?: number
  }
  spec?: unknown
  status?: unknown
}

/** Enough to find an object in a cluster. */
export interface ObjectRef {
  apiVersion: string
  kind: string
  name: string
  namespace: string
}

export function refOf(object: KubernetesObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata?.name ?? '',
    namespace: object.metadata?.namespace ?? '',
  }
}

/** kind/name, as kubectl prints it ("deployment/iris-classifier"). */
export function describeRef(ref: Pick<ObjectRef, 'kind' | 'name'>): string {
  return `${ref.kind.toLowerCase()}/${ref.name}`
}

export function sameRef(a: ObjectRef, b: ObjectRef): boolean {
  return a.apiVersion === b.apiVersion && a.kind === b.kind && a.name === b.name && a.namespace === b.namespace
}
