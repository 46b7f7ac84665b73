import type {InferenceSession} from 'onnxruntime-node'

import type {Dimension, InputSpec, OutputSpec, Signature, TensorDtype} from '../config/schema.js'
import {TENSOR_DTYPES} from '../config/dtypes.js'
import {ModelError} from '../errors.js'
import {formatShape, isDynamic} from './shape.js'
import {openSession} from './session.js'

export {formatShape, isDynamic} from './shape.js'

interface OrtValueMetadata {
  name: string
  isTensor: boolean
  type?: string
  shape?: ReadonlyArray<number | string>
}

/** Reads input and output names, element types and shapes (symbolic dimensions included) from an ONNX file. */
export async function readModelSignature(modelPath: string): Promise<Signature> {
  const session = await openSession(modelPath)
  try {
    return sessionSignature(modelPath, session)
  } finally {
    await session.release()
  }
}

/** The signature of a model from its open session. */
export function sessionSignature(modelPath: string, session: InferenceSession): Signature {
  return signatureFromMetadata(
    modelPath,
    session.inputMetadata as OrtValueMetadata[],
    session.outputMetadata as OrtValueMetadata[],
  )
}

export function signatureFromMetadata(
  modelPath: string,
  inputs: OrtValueMetadata[],
  outputs: OrtValueMetadata[],
): Signature {
  return {
    inputs: inputs.map((meta) => ({...tensorFromMetadata(modelPath, meta, 'input')})),
    outputs: outputs.map((meta) => ({...tensorFromMetadata(modelPath, meta, 'output')})),
  }
}

function tensorFromMetadata(
  modelPath: string,
  meta: OrtValueMetadata,
  role: string,
): {name: string; dtype: TensorDtype; shape: Dimension[]} {
  if (!meta.isTensor || !meta.type || !(TENSOR_DTYPES as readonly string[]).includes(meta.type)) {
    throw new ModelError(
      `${modelPath}: ${role} "${meta.name}" is ${meta.isTensor ? `a tensor of ${meta.type ?? 'unknown type'}` : 'not a tensor (a sequence or map)'}, which mlship cannot serve`,
      {code: 'MODEL_UNSUPPORTED', details: {file: modelPath, [role]: meta.name}},
    )
  }
  return {
    name: meta.name,
    dtype: meta.type as TensorDtype,
    // onnxruntime reports an unnamed dynamic dimension as -1 or an empty name.
    shape: (meta.shape ?? []).map((dim) => (dim === '' || (typeof dim === 'number' && dim < 0) ? -1 : dim)),
  }
}

export interface SignatureMismatch {
  keyPath: string
  message: string
}

/**
 * The signature the server uses: model.yaml's where present (it adds labels, examples, descriptions), checked
 * against what the model really declares; the model's own where model.yaml has none.
 */
export function resolveSignature(
  fromModel: Signature,
  fromConfig: Signature | undefined,
  context: {configFile: string; modelPath: string},
): Signature {
  if (!fromConfig) return fromModel
  const mismatches = [
    ...compareTensors('inputs', fromModel.inputs, fromConfig.inputs),
    ...compareTensors('outputs', fromModel.outputs, fromConfig.outputs),
  ]
  if (mismatches.length > 0) {
    const lines = mismatches.map((m) => `  [signature.${m.keyPath}] ${m.message}`).join('\n')
    throw new ModelError(
      `${context.configFile}: the signature does not match the model ${context.modelPath}:\n${lines}`,
      {
        code: 'SIGNATURE_MISMATCH',
        details: {file: context.configFile, mismatches, model: context.modelPath},
        suggestions: [
          'Remove the signature from model.yaml to use the one the model declares, or run `mlship init --force` to write it again.',
        ],
      },
    )
  }
  // model.yaml may describe only some outputs (to give them labels): the others are served as the model declares them.
  const undeclaredOutputs = fromModel.outputs.filter(
    (output) => !fromConfig.outputs.some((o) => o.name === output.name),
  )
  return {inputs: fromConfig.inputs, outputs: [...fromConfig.outputs, ...undeclaredOutputs]}
}

function compareTensors(
  role: 'inputs' | 'outputs',
  model: ReadonlyArray<InputSpec | OutputSpec>,
  config: ReadonlyArray<InputSpec | OutputSpec>,
): SignatureMismatch[] {
  const mismatches: SignatureMismatch[] = []
  const modelNames = model.map((t) => t.name)
  config.forEach((tensor, index) => {
    const keyPath = `${role}[${index}]`
    const actual = model.find((t) => t.name === tensor.name)
    if (!actual) {
      mismatches.push({
        keyPath: `${keyPath}.name`,
        message: `the model has no ${role.slice(0, -1)} "${tensor.name}" (it has: ${modelNames.join(', ')})`,
      })
      return
    }
    if (actual.dtype !== tensor.dtype) {
      mismatches.push({
        keyPath: `${keyPath}.dtype`,
        message: `"${tensor.name}" is ${actual.dtype} in the model, ${tensor.dtype} in model.yaml`,
      })
    }
    if (actual.shape.length !== tensor.shape.length) {
      mismatches.push({
        keyPath: `${keyPath}.shape`,
        message: `"${tensor.name}" has rank ${actual.shape.length} ${formatShape(actual.shape)} in the model, rank ${tensor.shape.length} ${formatShape(tensor.shape)} in model.yaml`,
      })
      return
    }
    actual.shape.forEach((dim, axis) => {
      const declared = tensor.shape[axis]!
      // model.yaml may name a dynamic dimension differently or fix it to one size, but never loosen a fixed one.
      if (!isDynamic(dim) && declared !== dim) {
        mismatches.push({
          keyPath: `${keyPath}.shape[${axis}]`,
          message: `"${tensor.name}" has size ${dim} on axis ${axis} in the model, ${String(declared)} in model.yaml`,
        })
      }
    })
  })
  for (const name of modelNames) {
    if (role === 'inputs' && !config.some((t) => t.name === name)) {
      mismatches.push({keyPath: role, message: `the model's input "${name}" is missing from model.yaml`})
    }
  }
  return mismatches
}
