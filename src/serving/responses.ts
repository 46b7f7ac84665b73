import type {Signature} from '../config/schema.js'
import {nestedJson, rowLabels, v2OutputJson} from './encode.js'
import type {TensorMap} from './tensors.js'

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
  return `${json},"model_version":${JSON.stringify(modelVersion)},"latency_ms":${Math.round(latencyMs * 1000) / 1000}}`
}

/**
 * The v2 protocol's answer:
 * `{"model_name", "model_version", "id", "outputs": [{"name", "shape", "datatype", "data"}]}`.
 */
export function v2ResponseJson(
  outputs: TensorMap,
  order: readonly string[],
  model: {name: string; version: string},
  id: string,
): string {
  const parts: string[] = []
  for (const name of order) {
    const tensor = outputs[name]
    if (tensor) parts.push(v2OutputJson(name, tensor))
  }
  return `{"model_name":${JSON.stringify(model.name)},"model_version":${JSON.stringify(model.version)},"id":${JSON.stringify(id)},"outputs":[${parts.join(',')}]}`
}
