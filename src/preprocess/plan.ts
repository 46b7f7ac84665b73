import type {InputSpec, OutputSpec, Signature} from '../config/schema.js'
import {ConfigError} from '../errors.js'
import {formatShape} from '../model/shape.js'
import type {ImagePlan, Layout} from './image-tensor.js'
import {type PostprocessPlan, postprocessProblem} from './postprocess.js'
import type {TextPlan} from './text.js'

/**
 * The `preprocess:` and `postprocess:` declarations of a signature, resolved against the shapes and element types
 * they feed: what the client sends as an image or as text, which inputs the server fills from them, and which inputs
 * the client still sends as tensors. Checked once, when the model is loaded, so a request never meets a bad plan.
 */
export interface PreprocessPlan {
  images: ImagePlan[]
  texts: TextPlan[]
  postprocess: PostprocessPlan[]
  /** The inputs a client sends as tensors (not an image, not text, not a mask a text input fills). */
  tensorInputs: InputSpec[]
}

const IMAGE_DTYPES = ['float32', 'float64', 'float16', 'uint8'] as const
const ID_DTYPES = ['int64', 'int32'] as const

/** The plan of a signature, or undefined when nothing in it is declared (the server then takes tensors only). */
export function planPreprocessing(signature: Signature, where = 'model.yaml'): PreprocessPlan | undefined {
  const images: ImagePlan[] = []
  const texts: TextPlan[] = []
  signature.inputs.forEach((spec, index) => {
    const key = `signature.inputs[${index}].preprocess`
    if (spec.preprocess?.image) images.push(imagePlan(spec, key, where))
    if (spec.preprocess?.text) texts.push(textPlan(spec, signature, key, where))
  })
  const postprocess: PostprocessPlan[] = []
  signature.outputs.forEach((spec: OutputSpec, index) => {
    if (!spec.postprocess) return
    const problem = postprocessProblem(spec)
    if (problem) throw planError(where, `signature.outputs[${index}].postprocess`, problem)
    postprocess.push({labels: spec.labels!, options: spec.postprocess, output: spec.name})
  })
  if (images.length === 0 && texts.length === 0 && postprocess.length === 0) return undefined
  const filled = new Set<string>()
  for (const plan of [...images, ...texts]) filled.add(plan.input)
  for (const plan of texts) {
    for (const name of [plan.attentionMask, plan.tokenTypeIds]) {
      if (name === undefined) continue
      if (filled.has(name))
        throw planError(where, 'signature.inputs', `input "${name}" is filled by two preprocess declarations`)
      filled.add(name)
    }
  }
  return {images, postprocess, tensorInputs: signature.inputs.filter((spec) => !filled.has(spec.name)), texts}
}

function planError(where: string, key: string, message: string): ConfigError {
  return new ConfigError(`${where}: [${key}] ${message}`, {
    details: {file: where, keyPath: key},
    suggestions: ['Fix the declaration in model.yaml (README: "Images and text as inputs"), then run mlship validate.'],
  })
}

function imagePlan(spec: InputSpec, key: string, where: string): ImagePlan {
  const options = spec.preprocess!.image!
  const fail = (message: string) => planError(where, `${key}.image`, `input "${spec.name}": ${message}`)
  if (!(IMAGE_DTYPES as readonly string[]).includes(spec.dtype))
    throw fail(`an image becomes ${IMAGE_DTYPES.join(', ')}, not ${spec.dtype}`)
  if (spec.shape.length !== 4)
    throw fail(`an image input has shape [batch, C, H, W] or [batch, H, W, C], not ${formatShape(spec.shape)}`)
  const channels = options.color === 'grayscale' ? 1 : 3
  const [, d1, d2, d3] = spec.shape
  const layout: Layout = options.layout ?? (d1 === channels ? 'NCHW' : d3 === channels ? 'NHWC' : 'NCHW')
  const [c, h, w] = layout === 'NCHW' ? [d1, d2, d3] : [d3, d1, d2]
  if (c !== channels)
    throw fail(
      `color: ${options.color} makes ${channels} channel(s), but the ${layout} shape ${formatShape(spec.shape)} has ${String(c)}`,
    )
  if (typeof h !== 'number' || typeof w !== 'number' || h <= 0 || w <= 0)
    throw fail(`the image's height and width must be fixed numbers in the shape, not ${formatShape(spec.shape)}`)
  // torchvision pads a crop larger than the resized image; mlship does not, so it refuses one here, not per request.
  if (options.resize === 'shorter_side' && options.shorter_side !== undefined && options.shorter_side < Math.max(h, w))
    throw fail(
      `shorter_side ${options.shorter_side} is smaller than the ${h}x${w} crop cut from it; ` +
        `give at least ${Math.max(h, w)} (or leave it out)`,
    )
  const perChannel = (values: number[] | undefined, name: string, fallback: number): number[] => {
    if (values === undefined) return Array.from({length: channels}, () => fallback)
    if (values.length === channels) return values
    if (values.length === 1) return Array.from({length: channels}, () => values[0]!)
    throw fail(`${name} has ${values.length} values; give 1 or ${channels} (one per channel)`)
  }
  return {
    channels,
    dtype: spec.dtype,
    height: h,
    input: spec.name,
    layout,
    mean: perChannel(options.mean, 'mean', 0),
    options,
    std: perChannel(options.std, 'std', 1),
    width: w,
  }
}

function textPlan(spec: InputSpec, signature: Signature, key: string, where: string): TextPlan {
  const options = spec.preprocess!.text!
  const fail = (message: string) => planError(where, `${key}.text`, `input "${spec.name}": ${message}`)
  const idsDtype = (named: InputSpec, role: string) => {
    if (!(ID_DTYPES as readonly string[]).includes(named.dtype))
      throw fail(`${role} "${named.name}" must be int64 or int32, not ${named.dtype}`)
    if (named.shape.length !== 2)
      throw fail(`${role} "${named.name}" must have shape [batch, sequence], not ${formatShape(named.shape)}`)
    return named.dtype as TextPlan['dtype']
  }
  const dtype = idsDtype(spec, 'the ids input')
  const companion = (declared: string | undefined, conventional: string, role: string) => {
    const name = declared ?? conventional
    const found = signature.inputs.find((input) => input.name === name)
    if (!found && declared !== undefined) throw fail(`${role}: the model has no input "${declared}"`)
    return found ? {dtype: idsDtype(found, role), name: found.name} : undefined
  }
  const mask = companion(options.attention_mask, 'attention_mask', 'attention_mask')
  const typeIds = companion(options.token_type_ids, 'token_type_ids', 'token_type_ids')
  const sequence = spec.shape[1]
  const fixed = typeof sequence === 'number' && sequence > 0 ? sequence : undefined
  const maxLength = options.max_length ?? fixed
  if (maxLength === undefined)
    throw fail(`the sequence length is dynamic (${formatShape(spec.shape)}): declare max_length`)
  if (fixed !== undefined && maxLength !== fixed)
    throw fail(`max_length is ${maxLength} but the model takes sequences of exactly ${fixed}`)
  if (fixed !== undefined && options.padding === 'longest')
    throw fail(`padding: longest needs a dynamic sequence length; this model takes exactly ${fixed}`)
  return {
    attentionMask: mask?.name,
    dtype,
    input: spec.name,
    maskDtype: mask?.dtype ?? dtype,
    maxLength,
    options,
    tokenTypeIds: typeIds?.name,
    typeIdsDtype: typeIds?.dtype ?? dtype,
  }
}
