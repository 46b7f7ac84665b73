import {createHash} from 'node:crypto'

import {KUBERNETES_NAME_MAX} from '../config/schema.js'

/**
 * The Kubernetes name of a model: a DNS-1035 label (Services need one: lowercase letters, digits and "-", starting
 * with a letter) short enough that "-canary" still fits in 63 characters. mlship model names may hold "." and "_" and
 * start with a digit; the same model name always gives the same Kubernetes name, and two names shortened to the same
 * prefix keep apart through a hash of the whole name.
 */
export function kubernetesName(modelName: string): string {
  let name = modelName
    .toLowerCase()
    .replaceAll(/[^a-z0-9-]+/g, '-')
    .replaceAll(/-+/g, '-')
    .replaceAll(/^-|-$/g, '')
  if (!name) name = 'model'
  if (!/^[a-z]/.test(name)) name = `m-${name}`
  if (name.length <= KUBERNETES_NAME_MAX) return name
  const hash = createHash('sha256').update(modelName).digest('hex').slice(0, 8)
  return `${name.slice(0, KUBERNETES_NAME_MAX - hash.length - 1).replace(/-+$/, '')}-${hash}`
}

export const CANARY_SUFFIX = '-canary'

export function canaryName(name: string): string {
  return `${name}${CANARY_SUFFIX}`
}
