import type {Signature} from '../config/schema.js'
import {type PostprocessPlan, rowClasses} from '../preprocess/postprocess.js'
import {nestedJson, rowLabels, v2OutputJson} from './encode.js'
import {fromFloat16Bits, type HostTensor, type TensorMap} from './tensors.js'

/**
 * The seed contract's answer: `{"predictions": <first output, nested>, "model_version", "latency_ms"}`, plus
 * `"labels"` (the class of each row) when an output has labels in model.yaml, and `"outputs"` (every output by
 * name) when the model has more than one.
 */
export function seedResponseJson(
  outputs: TensorMap,
  signature: Signature,
  modelVersion: string,
  latencyMs: number,
  postprocess: readonly PostprocessPlan[] = [],
  experiment?: {variant: string; requestId: string},
): string {
  const first = signature.outputs[0]!
  const main = outputs[first.name]!
  let json = `{"predictions":${nestedJson(main)}`
  for (const spec of signature.outputs) {
    const tensor = outputs[spec.name]
    const labels = tensor ? rowLabels(tensor, spec) : undefined
    if (labels) {
      json += `,"labels":${JSON.stringify(labels)}`
      break
    }
  }
  json += classesJson(outputs, postprocess)
  if (signature.outputs.length > 1) {
    json += ',"outputs":{'
    let firstEntry = true
    for (const spec of signature.outputs) {
      const tensor = outputs[spec.name]
      if (!tensor) continue
      json += `${firstEntry ? '' : ','}${JSON.stringify(spec.name)}:${nestedJson(tensor)}`
      firstEntry = false
    }
    json += '}'
  }
  json += `,"model_version":${JSON.stringify(modelVersion)}`
  if (experiment)
    json += `,"variant":${JSON.stringify(experiment.variant)},"request_id":${JSON.stringify(experiment.requestId)}`
  return `${json},"latency_ms":${Math.round(latencyMs * 1000) / 1000}}`
}

/**
 * The classes of the first output with `postprocess:`: `"label", "score", "top_k"` of the row when there is one row,
 * and `"classes"` (those three per row) always.
 */
function classesJson(outputs: TensorMap, postprocess: readonly PostprocessPlan[]): string {
  const plan = postprocess[0]
  const tensor = plan ? outputs[plan.output] : undefined
  if (!plan || !tensor) return ''
  const rows = tensor.dims[0] ?? 1
  const classes = rowClasses(scoresOf(tensor), rows, plan)
  const first = classes.length === 1 ? JSON.stringify(classes[0]).slice(1, -1) + ',' : ''
  return `,${first}"classes":${JSON.stringify(classes)}`
}

function scoresOf(tensor: HostTensor): ArrayLike<number> {
  if (tensor.dtype === 'float16') return Array.from(tensor.data as Uint16Array, fromFloat16Bits)
  return tensor.data as Float32Array | Float64Array
}

/**
 * The v2 protocol's answer:
 * `{"model_name", "model_version", "id", "outputs": [{"name", "shape", "datatype", "data"}]}`, with `"variant"` after
 * the version under an experiment.
 */
export function v2ResponseJson(
  outputs: TensorMap,
  order: readonly string[],
  model: {name: string; version: string; variant?: string},
  id: string,
): string {
  const parts: string[] = []
  for (const name of order) {
    const tensor = outputs[name]
    if (tensor) parts.push(v2OutputJson(name, tensor))
  }
  const variant = model.variant === undefined ? '' : `,"variant":${JSON.stringify(model.variant)}`
  return `{"model_name":${JSON.stringify(model.name)},"model_version":${JSON.stringify(model.version)}${variant},"id":${JSON.stringify(id)},"outputs":[${parts.join(',')}]}`
}
