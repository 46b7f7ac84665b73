import {parseQuantity} from '../config/quantity.js'
import type {KubernetesObject} from './objects.js'

interface PodTemplate {
  template: {
    spec: {
      containers: Array<{
        env?: Array<{name: string; value: string}>
        ports?: Array<{containerPort: number}>
        resources?: {limits?: Record<string, string>}
        securityContext?: {
          allowPrivilegeEscalation?: boolean
          capabilities?: {drop?: string[]}
          readOnlyRootFilesystem?: boolean
          runAsUser?: number
          runAsGroup?: number
        }
        volumeMounts?: Array<{name: string; mountPath: string}>
      }>
      volumes?: Array<{name: string; emptyDir?: {sizeLimit?: string}; secret?: {secretName: string}}>
    }
  }
}

/**
 * The `docker run` flags that put a container under the restrictions of a rendered Deployment's pod: a read-only
 * root file system with a tmpfs for each emptyDir, every capability dropped, no privilege escalation, the pod's user,
 * its CPU and memory limits, and its environment. What runs under these flags runs in the pod; the integration test
 * and `npm run bench:deploy` check it with the image. The port is published on 127.0.0.1 only. A Secret volume (the API
 * keys of serving.auth) is a read-only bind mount of the folder `secrets` gives for it, the Secret's stand-in.
 */
export function dockerRunFlags(
  deployment: KubernetesObject,
  options: {secrets?: Record<string, string>} = {},
): string[] {
  const spec = (deployment.spec as PodTemplate).template.spec
  const container = spec.containers[0]!
  const security = container.securityContext ?? {}
  const flags: string[] = []
  if (security.readOnlyRootFilesystem) flags.push('--read-only')
  for (const mount of container.volumeMounts ?? []) {
    const volume = spec.volumes?.find((v) => v.name === mount.name)
    if (volume?.secret) {
      const folder = options.secrets?.[volume.secret.secretName]
      if (!folder) throw new Error(`the pod mounts Secret ${volume.secret.secretName}: give a folder for it (secrets)`)
      flags.push('--volume', `${folder}:${mount.mountPath}:ro`)
      continue
    }
    if (!volume?.emptyDir) continue
    const size = volume.emptyDir.sizeLimit ? parseQuantity(volume.emptyDir.sizeLimit) : undefined
    flags.push('--tmpfs', `${mount.mountPath}:rw,mode=1777${size ? `,size=${Math.round(size)}` : ''}`)
  }
  if (security.capabilities?.drop?.includes('ALL')) flags.push('--cap-drop', 'ALL')
  if (security.allowPrivilegeEscalation === false) flags.push('--security-opt', 'no-new-privileges')
  if (security.runAsUser !== undefined) {
    flags.push('--user', `${security.runAsUser}${security.runAsGroup === undefined ? '' : `:${security.runAsGroup}`}`)
  }
  const limits = container.resources?.limits ?? {}
  if (limits.cpu) flags.push('--cpus', String(parseQuantity(limits.cpu)))
  if (limits.memory) flags.push('--memory', String(Math.round(parseQuantity(limits.memory)!)))
  for (const variable of container.env ?? []) flags.push('--env', `${variable.name}=${variable.value}`)
  for (const port of container.ports ?? []) flags.push('--publish', `127.0.0.1::${port.containerPort}`)
  return flags
}
