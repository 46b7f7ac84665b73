import {HTTPRoute} from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute'
import {Ajv, type ValidateFunction} from 'ajv'
import {Deployment} from 'kubernetes-models/apps/v1/Deployment'
import {HorizontalPodAutoscaler} from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler'
import {Ingress} from 'kubernetes-models/networking.k8s.io/v1/Ingress'
import {NetworkPolicy} from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy'
import {PodDisruptionBudget} from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import {Service} from 'kubernetes-models/v1/Service'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parse} from 'yaml'

import type {KubernetesObject} from '../objects.js'

/**
 * Validation of rendered objects against the upstream schemas: core kinds through kubernetes-models (generated from
 * Kubernetes' OpenAPI document), HTTPRoute through @kubernetes-models/gateway-api (from the Gateway API CRDs), and
 * the InferenceService against the openAPIV3Schema of KServe's own CRD (../shared/k8s/), with ajv.
 */

const MODELS: Record<string, new (data: never) => {validate(): void}> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/Service': Service,
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

/** KServe's CRD, from shared/k8s (beside the repository in a session, SHARED_DIR or ../shared elsewhere). */
export function kserveCrdPath(): string {
  const candidates = [
    process.env.MLSHIP_KSERVE_CRD,
    path.join(REPO_ROOT, 'shared/k8s/kserve-inferenceservices.crd.yaml'),
    path.join(REPO_ROOT, '../shared/k8s/kserve-inferenceservices.crd.yaml'),
    '/work/shared/k8s/kserve-inferenceservices.crd.yaml',
  ].filter((c): c is string => Boolean(c))
  for (const candidate of candidates) {
    try {
      readFileSync(candidate, {flag: 'r'}).subarray(0, 1)
      return candidate
    } catch {
      // next candidate
    }
  }
  throw new Error(`KServe's CRD is not at any of ${candidates.join(', ')} (set MLSHIP_KSERVE_CRD)`)
}

type SchemaNode = Record<string, unknown>

/**
 * The API server prunes (or, with strict field validation, refuses) fields a structural schema does not name:
 * additionalProperties false wherever the schema lists properties and does not keep unknown fields, so a misspelt
 * field fails here as it would in a cluster.
 */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict)
  if (!node || typeof node !== 'object') return node
  const out: SchemaNode = {}
  for (const [key, value] of Object.entries(node as SchemaNode)) out[key] = strict(value)
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields'])
    out.additionalProperties = false
  return out
}

/**
 * The schema with each subschema that occurs more than once (KServe inlines a whole PodSpec, containers and volumes
 * included, in the predictor, the transformer, the explainer and each of their variants) moved to `definitions` and
 * referred to by $ref: ajv compiles a referenced schema once, so it writes 1 MB of code instead of 13 MB, and compiling
 * takes 0.5 s of CPU instead of 2.4 s. The same subschemas are applied at the same places: the errors do not change.
 * Only subschemas of `minChars` or more are moved: small ones cost less inline than a function call.
 */
function shareRepeated(root: SchemaNode, minChars = 1000): SchemaNode {
  const children = (node: SchemaNode): SchemaNode[] => [
    ...Object.values((node.properties ?? {}) as Record<string, SchemaNode>),
    ...[node.items, node.additionalProperties, node.not].filter(isSchema),
    ...['allOf', 'anyOf', 'oneOf'].flatMap((keyword) => (node[keyword] ?? []) as SchemaNode[]),
  ]
  const texts = new Map<SchemaNode, string>()
  const occurrences = new Map<string, number>()
  const count = (node: SchemaNode): void => {
    const text = JSON.stringify(node)
    texts.set(node, text)
    if (text.length >= minChars) occurrences.set(text, (occurrences.get(text) ?? 0) + 1)
    children(node).forEach(count)
  }
  count(root)

  const definitions: Record<string, SchemaNode> = {}
  const names = new Map<string, string>()
  const rewrite = (node: SchemaNode, isDefinition = false): SchemaNode => {
    const text = texts.get(node)!
    if (!isDefinition && (occurrences.get(text) ?? 0) > 1) {
      let name = names.get(text)
      if (!name) {
        name = `shared${names.size}`
        names.set(text, name)
        definitions[name] = rewrite(node, true)
      }
      return {$ref: `#/definitions/${name}`}
    }
    const out: SchemaNode = {...node}
    if (node.properties) {
      const properties = Object.entries(node.properties as Record<string, SchemaNode>)
      out.properties = Object.fromEntries(properties.map(([name, schema]) => [name, rewrite(schema)]))
    }
    for (const keyword of ['items', 'additionalProperties', 'not']) {
      if (isSchema(node[keyword])) out[keyword] = rewrite(node[keyword])
    }
    for (const keyword of ['allOf', 'anyOf', 'oneOf']) {
      if (node[keyword]) out[keyword] = (node[keyword] as SchemaNode[]).map((schema) => rewrite(schema))
    }
    return out
  }
  return {...rewrite(root, true), definitions}
}

const isSchema = (value: unknown): value is SchemaNode =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

let kserveValidator: ValidateFunction | undefined

function kserveValidate(): ValidateFunction {
  if (kserveValidator) return kserveValidator
  const crd = parse(readFileSync(kserveCrdPath(), 'utf8')) as {
    spec: {versions: Array<{name: string; schema: {openAPIV3Schema: unknown}}>}
  }
  const version = crd.spec.versions.find((v) => v.name === 'v1beta1')!
  // optimize off: the CRD's schema is large, and compiling it optimised takes twice as long for no gain here.
  const ajv = new Ajv({allErrors: true, code: {optimize: false}, strict: false})
  const int = (bits: number) => ({
    type: 'number' as const,
    validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** (bits - 1),
  })
  ajv.addFormat('int32', int(32))
  ajv.addFormat('int64', int(64))
  ajv.addFormat('double', {type: 'number', validate: () => true})
  ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/)
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT/)
  kserveValidator = ajv.compile(shareRepeated(strict(version.schema.openAPIV3Schema) as SchemaNode))
  return kserveValidator
}

/** Throws with the schema's own message when the object is not valid for its kind; kinds not known here throw too. */
export function validateObject(object: KubernetesObject): void {
  const key = `${object.apiVersion}/${object.kind}`
  if (key === 'serving.kserve.io/v1beta1/InferenceService') {
    const validate = kserveValidate()
    if (!validate(object)) {
      const errors = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)
      throw new Error(`${key}: ${errors.join('; ')}`)
    }
    return
  }
  const Model = MODELS[key]
  if (!Model) throw new Error(`no schema for ${key} in the test support`)
  new Model(object as never).validate()
}
