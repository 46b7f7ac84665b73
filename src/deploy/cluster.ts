import {ExitCode, MlshipError} from '../errors.js'
import {describeRef, type KubernetesObject, type ObjectRef, refOf} from './objects.js'

/**
 * The Kubernetes API as `mlship deploy --apply` needs it, and no more. kube-cluster.ts implements it over
 * @kubernetes/client-node; the logic around it (what to apply in which order, when a rollout is done) is tested
 * without a cluster.
 */
export interface KubernetesCluster {
  /** The kubeconfig context, for messages. */
  readonly context: string
  /** Server-side apply (field manager "mlship", conflicts forced): creates or updates the object. */
  apply(object: KubernetesObject): Promise<void>
  /** The object as the cluster has it (with status), or undefined when it does not exist. */
  read(ref: ObjectRef): Promise<KubernetesObject | undefined>
  /** Deletes the object; false when it did not exist. */
  delete(ref: ObjectRef): Promise<boolean>
}

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export type ApplyProgress =
  | {type: 'applied'; ref: ObjectRef}
  | {type: 'waiting'; ref: ObjectRef; message: string}
  | {type: 'ready'; ref: ObjectRef}
  | {type: 'deleted'; ref: ObjectRef; existed: boolean}

export interface ApplyOptions {
  cluster: KubernetesCluster
  objects: KubernetesObject[]
  /** Objects of the previous rollout that are gone now (the canary's, after --promote or --abort). */
  remove: ObjectRef[]
  timeoutMs: number
  clock?: Clock
  /** How often the rollout status is read. */
  pollMs?: number
  onProgress?: (event: ApplyProgress) => void
}

export interface ApplyResult {
  context: string
  applied: ObjectRef[]
  deleted: ObjectRef[]
  seconds: number
}

/**
 * Applies the objects and waits for the workloads to be ready before traffic moves: Deployments and
 * InferenceServices first, then (once they are ready) the HTTPRoute with the new weights, then the objects of the
 * previous rollout are deleted. Re-running with the same objects changes nothing and returns as soon as the status
 * says so. Past `timeoutMs`, exit 5 with the last status of what was not ready.
 */
export async function applyAndWait(options: ApplyOptions): Promise<ApplyResult> {
  const clock = options.clock ?? systemClock
  const started = clock.now()
  const routes = options.objects.filter((o) => o.kind === 'HTTPRoute')
  const rest = options.objects.filter((o) => o.kind !== 'HTTPRoute')
  const applied: ObjectRef[] = []
  const apply = async (object: KubernetesObject) => {
    await options.cluster.apply(object)
    applied.push(refOf(object))
    options.onProgress?.({ref: refOf(object), type: 'applied'})
  }
  for (const object of rest) await apply(object)

  const workloads = rest.filter((o) => o.kind === 'Deployment' || o.kind === 'InferenceService').map(refOf)
  await waitReady({...options, clock, refs: workloads, started})

  for (const object of routes) await apply(object)
  const deleted: ObjectRef[] = []
  for (const ref of options.remove) {
    const existed = await options.cluster.delete(ref)
    if (existed) deleted.push(ref)
    options.onProgress?.({existed, ref, type: 'deleted'})
  }
  return {applied, context: options.cluster.context, deleted, seconds: (clock.now() - started) / 1000}
}

async function waitReady(options: ApplyOptions & {clock: Clock; refs: ObjectRef[]; started: number}): Promise<void> {
  const pending = new Map(options.refs.map((ref) => [describeRef(ref), ref]))
  const lastMessage = new Map<string, string>()
  for (;;) {
    for (const [key, ref] of pending) {
      const object = await options.cluster.read(ref)
      const status = object ? rolloutStatus(object) : {done: false, message: 'not found yet'}
      if (status.failed) {
        throw new MlshipError(`${describeRef(ref)} in ${ref.namespace} failed to roll out: ${status.failed}`, {
          code: 'ROLLOUT_FAILED',
          details: {object: ref},
          exitCode: ExitCode.containerUnhealthy,
          suggestions: [
            `kubectl -n ${ref.namespace} describe ${describeRef(ref)} (and the events of its pods) tells why.`,
          ],
        })
      }
      if (status.done) {
        pending.delete(key)
        options.onProgress?.({ref, type: 'ready'})
        continue
      }
      if (lastMessage.get(key) !== status.message) {
        lastMessage.set(key, status.message)
        options.onProgress?.({message: status.message, ref, type: 'waiting'})
      }
    }
    if (pending.size === 0) return
    if (options.clock.now() - options.started >= options.timeoutMs) {
      const what = [...pending.keys()].map((key) => `${key}: ${lastMessage.get(key) ?? 'no status yet'}`)
      throw new MlshipError(
        `not ready within ${Math.round(options.timeoutMs / 1000)} s in context ${options.cluster.context}: ${what.join('; ')}`,
        {
          code: 'ROLLOUT_TIMEOUT',
          details: {pending: [...pending.values()]},
          exitCode: ExitCode.containerUnhealthy,
          suggestions: [
            'The objects are applied and the rollout goes on in the cluster: `kubectl rollout status` follows it.',
            'Pods that stay unready: `kubectl describe pod` shows pull errors, failing probes or missing resources.',
            'Give it longer with --timeout.',
          ],
        },
      )
    }
    await options.clock.sleep(options.pollMs ?? 2000)
  }
}

interface Condition {
  type?: string
  status?: string
  reason?: string
  message?: string
}

export interface RolloutStatus {
  done: boolean
  message: string
  /** Set when the rollout cannot succeed by waiting (the Deployment's progress deadline passed). */
  failed?: string
}

/** Whether a Deployment or an InferenceService has rolled out, by the rules of `kubectl rollout status`. */
export function rolloutStatus(object: KubernetesObject): RolloutStatus {
  const status = (object.status ?? {}) as {
    observedGeneration?: number
    replicas?: number
    updatedReplicas?: number
    availableReplicas?: number
    conditions?: Condition[]
  }
  const conditions = status.conditions ?? []
  if (object.kind === 'InferenceService') {
    const ready = conditions.find((c) => c.type === 'Ready')
    if (ready?.status === 'True') return {done: true, message: 'Ready'}
    return {done: false, message: ready?.message || ready?.reason || 'waiting for the Ready condition'}
  }
  const generation = object.metadata?.generation ?? 0
  if ((status.observedGeneration ?? 0) < generation) return {done: false, message: 'waiting for the controller'}
  const progressing = conditions.find((c) => c.type === 'Progressing')
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return {done: false, failed: progressing.message ?? 'progress deadline exceeded', message: 'failed'}
  }
  const wanted = (object.spec as {replicas?: number} | undefined)?.replicas ?? 1
  const updated = status.updatedReplicas ?? 0
  const total = status.replicas ?? 0
  const available = status.availableReplicas ?? 0
  if (updated < wanted) return {done: false, message: `${updated} of ${wanted} new replicas updated`}
  if (total > updated) return {done: false, message: `${total - updated} old replicas pending termination`}
  if (available < updated) return {done: false, message: `${available} of ${updated} updated replicas available`}
  return {done: true, message: `${available} replicas available`}
}
