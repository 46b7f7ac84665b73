import type {AuthConfig, InputSpec, OutputSpec, Signature, TensorDtype} from '../config/schema.js'
import {formatShape} from '../model/signature.js'
import {planPreprocessing} from '../preprocess/plan.js'
import {withApiKeySecurity} from './auth/openapi-security.js'
import {V2_DATATYPE} from './tensors.js'

type JsonSchema = Record<string, unknown>

export interface OpenApiModel {
  name: string
  version: string
  description?: string
  signature: Signature
  maxBatchSize: number
  /** serving.auth: with keys on, the document has their security schemes (the Authorize button of /docs). */
  auth?: AuthConfig
}

/** JSON Schema of one element of a dtype. */
export function elementSchema(dtype: TensorDtype): JsonSchema {
  switch (dtype) {
    case 'float32':
    case 'float64':
    case 'float16':
      return {format: dtype === 'float64' ? 'double' : 'float', type: 'number'}
    case 'int64':
    case 'uint64':
      return {
        anyOf: [{type: 'integer'}, {pattern: '^-?[0-9]+$', type: 'string'}],
        description: `${dtype}: a number, or a string for exact values beyond 2^53`,
      }
    case 'bool':
      return {type: 'boolean'}
    case 'string':
      return {type: 'string'}
    default:
      return {format: dtype, type: 'integer'}
  }
}

/** A tensor as nested arrays: one level per dimension; fixed dimensions fix the length, the batch one is bounded. */
export function tensorSchema(spec: InputSpec | OutputSpec, maxBatchSize?: number): JsonSchema {
  let schema: JsonSchema = elementSchema(spec.dtype)
  for (let axis = spec.shape.length - 1; axis >= 0; axis--) {
    const dim = spec.shape[axis]!
    const array: JsonSchema = {items: schema, type: 'array'}
    if (typeof dim === 'number' && dim >= 0) {
      array.minItems = dim
      array.maxItems = dim
    } else {
      array.minItems = 1
      if (axis === 0 && maxBatchSize !== undefined) array.maxItems = maxBatchSize
    }
    schema = array
  }
  return {
    ...schema,
    description: `${spec.description ? spec.description + '. ' : ''}${spec.dtype} ${formatShape(spec.shape)}`,
    ...('example' in spec && spec.example !== undefined ? {example: spec.example} : {}),
  }
}

function outputSchema(spec: OutputSpec): JsonSchema {
  return tensorSchema(spec)
}

/** The OpenAPI 3.1 document of the server, generated from the model's signature. */
export function openApiDocument(model: OpenApiModel): JsonSchema {
  const document = signatureDocument(model)
  return model.auth ? withApiKeySecurity(document, model.auth) : document
}

/** What a client sends for an input declared with preprocess: (an image or a text), or undefined for a tensor. */
function rawInputSchema(spec: InputSpec, maxBatchSize: number): JsonSchema | undefined {
  const image = spec.preprocess?.image !== undefined
  if (!image && spec.preprocess?.text === undefined) return undefined
  const one: JsonSchema = image
    ? {
        description: `A JPEG, PNG or WebP image as a data URL ("data:image/jpeg;base64,...") or base64, made into ${spec.dtype} ${formatShape(spec.shape)} by the server`,
        type: 'string',
      }
    : {description: `A text, tokenised by the server into ${spec.name}`, type: 'string'}
  return {oneOf: [one, {items: one, maxItems: maxBatchSize, minItems: 1, type: 'array'}]}
}

function signatureDocument(model: OpenApiModel): JsonSchema {
  const plan = planPreprocessing(model.signature)
  // The inputs a client sends: a text input's mask inputs are the server's to fill.
  const signature = plan
    ? {
        ...model.signature,
        inputs: model.signature.inputs.filter(
          (i) => plan.tensorInputs.includes(i) || rawInputSchema(i, model.maxBatchSize) !== undefined,
        ),
      }
    : model.signature
  const single = signature.inputs.length === 1 ? signature.inputs[0]! : undefined
  const inputsObject: JsonSchema = {
    additionalProperties: false,
    properties: Object.fromEntries(
      signature.inputs.map((i) => [i.name, {$ref: `#/components/schemas/input_${safe(i.name)}`}]),
    ),
    required: signature.inputs.map((i) => i.name),
    type: 'object',
  }
  const rawInputs = signature.inputs.filter((i) => i.preprocess)
  // A form: a file (images) or a field (texts, and tensors as JSON) per input, repeated for more rows.
  const multipartRequest: JsonSchema | undefined =
    rawInputs.length > 0
      ? {
          properties: Object.fromEntries(
            signature.inputs.map((i) => [
              i.name,
              i.preprocess?.image
                ? {items: {contentMediaType: 'application/octet-stream', type: 'string'}, type: 'array'}
                : i.preprocess?.text
                  ? {items: {type: 'string'}, type: 'array'}
                  : {contentMediaType: 'application/json', description: 'The tensor as JSON', type: 'string'},
            ]),
          ),
          required: signature.inputs.map((i) => i.name),
          type: 'object',
        }
      : undefined
  const rawImageBody = single?.preprocess?.image !== undefined
  const predictRequest: JsonSchema = single
    ? {
        oneOf: [
          {
            additionalProperties: false,
            properties: {features: {$ref: `#/components/schemas/input_${safe(single.name)}`}},
            required: ['features'],
            type: 'object',
          },
          {additionalProperties: false, properties: {inputs: inputsObject}, required: ['inputs'], type: 'object'},
        ],
      }
    : {additionalProperties: false, properties: {inputs: inputsObject}, required: ['inputs'], type: 'object'}
  const examples = signature.inputs.every((i) => i.example !== undefined)
  const predictExample = examples
    ? single
      ? {features: single.example}
      : {inputs: Object.fromEntries(signature.inputs.map((i) => [i.name, i.example]))}
    : undefined
  const labelled = signature.outputs.find((o) => o.labels)
  const first = signature.outputs[0]!
  const predictResponse: JsonSchema = {
    properties: {
      latency_ms: {description: 'Time spent on this request in the server, in milliseconds.', type: 'number'},
      model_version: {const: model.version, type: 'string'},
      predictions: {$ref: `#/components/schemas/output_${safe(first.name)}`},
      ...(labelled
        ? {
            labels: {
              description: `The class of each row (${labelled.name})`,
              items: {enum: labelled.labels, type: 'string'},
              type: 'array',
            },
          }
        : {}),
      ...(plan && plan.postprocess.length > 0 ? classesSchema(plan.postprocess[0]!.labels) : {}),
      ...(signature.outputs.length > 1
        ? {
            outputs: {
              properties: Object.fromEntries(
                signature.outputs.map((o) => [o.name, {$ref: `#/components/schemas/output_${safe(o.name)}`}]),
              ),
              type: 'object',
            },
          }
        : {}),
    },
    required: ['predictions', 'model_version', 'latency_ms'],
    type: 'object',
  }
  const v2Tensor = (names: string[], datatypes: string[]): JsonSchema => ({
    properties: {
      data: {description: 'Values, flat (row-major) or nested', type: 'array'},
      datatype: {enum: [...new Set(datatypes)], type: 'string'},
      name: {enum: names, type: 'string'},
      shape: {items: {minimum: 0, type: 'integer'}, type: 'array'},
    },
    required: ['name', 'shape', 'datatype', 'data'],
    type: 'object',
  })
  // An image or a text travels as BYTES, one string per row; the tensor inputs as the protocol's tensors.
  const v2BytesInput = (spec: InputSpec): JsonSchema => {
    const row = spec.preprocess?.image
      ? 'a JPEG, PNG or WebP image as base64 or a data URL ("data:image/jpeg;base64,...")'
      : 'a text, tokenised by the server'
    return {
      description: `${spec.name}: one string per row, each ${row}; made into ${spec.dtype} ${formatShape(spec.shape)} by the server`,
      properties: {
        data: {items: {description: row, type: 'string'}, maxItems: model.maxBatchSize, minItems: 1, type: 'array'},
        datatype: {const: 'BYTES', type: 'string'},
        name: {const: spec.name, type: 'string'},
        shape: {
          description: '[n]: the number of strings in data',
          items: {minimum: 1, type: 'integer'},
          maxItems: 1,
          minItems: 1,
          type: 'array',
        },
      },
      required: ['name', 'shape', 'datatype', 'data'],
      type: 'object',
    }
  }
  const tensorInputs = signature.inputs.filter((i) => !i.preprocess)
  const v2TensorInputs = v2Tensor(
    tensorInputs.map((i) => i.name),
    tensorInputs.map((i) => V2_DATATYPE[i.dtype]),
  )
  const v2RequestInput: JsonSchema =
    rawInputs.length === 0
      ? v2TensorInputs
      : {oneOf: [...(tensorInputs.length > 0 ? [v2TensorInputs] : []), ...rawInputs.map(v2BytesInput)]}
  const v2Example = examples
    ? {
        inputs: signature.inputs.map((i) => {
          const shape = shapeOf(i.example)
          return {
            data: (i.example as unknown[]).flat?.(Number.POSITIVE_INFINITY) ?? [i.example],
            datatype: V2_DATATYPE[i.dtype],
            name: i.name,
            shape,
          }
        }),
      }
    : undefined
  const error = {$ref: '#/components/schemas/error'}
  const json = (schema: JsonSchema, example?: unknown) => ({
    'application/json': {schema, ...(example === undefined ? {} : {example})},
  })
  const errors = {
    '400': {
      content: json(error),
      description: 'The request does not fit the signature (the message names the input, expected vs got)',
    },
    '413': {content: json(error), description: 'The body is over the limit'},
    '408': {content: json(error), description: 'The request did not arrive within serving.body_timeout_ms'},
    '415': {content: json(error), description: 'The body is not application/json'},
    '422': {
      content: json(error),
      description: 'The model cannot run on these values (an index out of range, a shape it cannot reshape)',
    },
    '500': {content: json(error), description: 'Unexpected failure (with a request id)'},
    '503': {content: json(error), description: 'Shutting down or overloaded'},
  }
  const modelParams = [{in: 'path', name: 'name', required: true, schema: {enum: [model.name], type: 'string'}}]
  const versionParam = {in: 'path', name: 'version', required: true, schema: {enum: [model.version], type: 'string'}}
  const v2Infer = {
    requestBody: {
      content: json(
        {
          properties: {
            id: {type: 'string'},
            inputs: {items: v2RequestInput, type: 'array'},
            outputs: {
              items: {
                properties: {name: {enum: signature.outputs.map((o) => o.name), type: 'string'}},
                required: ['name'],
                type: 'object',
              },
              type: 'array',
            },
          },
          required: ['inputs'],
          type: 'object',
        },
        v2Example,
      ),
      required: true,
    },
    responses: {
      '200': {
        content: json({
          properties: {
            id: {type: 'string'},
            model_name: {type: 'string'},
            model_version: {type: 'string'},
            outputs: {
              items: v2Tensor(
                signature.outputs.map((o) => o.name),
                signature.outputs.map((o) => V2_DATATYPE[o.dtype]),
              ),
              type: 'array',
            },
          },
          type: 'object',
        }),
        description: 'The outputs',
      },
      ...errors,
    },
    summary: 'Inference (Open Inference Protocol / KServe v2)',
    tags: ['v2'],
  }
  const simple = (summary: string, tag: string) => ({responses: {'200': {description: 'OK'}}, summary, tags: [tag]})
  return {
    components: {
      schemas: {
        error: {
          properties: {error: {type: 'string'}, request_id: {type: 'string'}},
          required: ['error'],
          type: 'object',
        },
        ...Object.fromEntries(
          signature.inputs.map((i) => [
            `input_${safe(i.name)}`,
            rawInputSchema(i, model.maxBatchSize) ?? tensorSchema(i, model.maxBatchSize),
          ]),
        ),
        ...Object.fromEntries(signature.outputs.map((o) => [`output_${safe(o.name)}`, outputSchema(o)])),
      },
    },
    info: {
      description: model.description ?? `The ${model.name} model, served by mlship.`,
      title: model.name,
      version: model.version,
    },
    openapi: '3.1.0',
    paths: {
      '/': {get: simple('The routes of this server', 'server')},
      '/health': {
        get: {
          responses: {
            '200': {
              content: json(
                {properties: {status: {const: 'healthy'}, version: {type: 'string'}}, type: 'object'},
                {status: 'healthy', version: model.version},
              ),
              description: 'Alive',
            },
          },
          summary: 'Liveness',
          tags: ['server'],
        },
      },
      '/predict': {
        post: {
          requestBody: {
            content: {
              ...json(predictRequest, predictExample),
              ...(multipartRequest ? {'multipart/form-data': {schema: multipartRequest}} : {}),
              ...(rawImageBody ? {'image/*': {schema: {contentMediaType: 'image/*', type: 'string'}}} : {}),
            },
            required: true,
          },
          responses: {'200': {content: json(predictResponse), description: 'The predictions'}, ...errors},
          summary: 'Predict (the seed contract)',
          tags: ['predict'],
        },
      },
      '/ready': {
        get: {
          responses: {'200': {description: 'Ready'}, '503': {description: 'Loading or shutting down'}},
          summary: 'Readiness',
          tags: ['server'],
        },
      },
      '/v2': {get: simple('Server metadata', 'v2')},
      '/v2/health/live': {get: simple('Liveness', 'v2')},
      '/v2/health/ready': {get: simple('Readiness', 'v2')},
      '/v2/models/{name}': {get: {...simple('Model metadata', 'v2'), parameters: modelParams}},
      '/v2/models/{name}/infer': {post: {...v2Infer, parameters: modelParams}},
      '/v2/models/{name}/ready': {get: {...simple('Model readiness', 'v2'), parameters: modelParams}},
      '/v2/models/{name}/versions/{version}': {
        get: {...simple('Model metadata', 'v2'), parameters: [...modelParams, versionParam]},
      },
      '/v2/models/{name}/versions/{version}/infer': {post: {...v2Infer, parameters: [...modelParams, versionParam]}},
      '/v2/models/{name}/versions/{version}/ready': {
        get: {...simple('Model readiness', 'v2'), parameters: [...modelParams, versionParam]},
      },
    },
  }
}

/** `label`, `score`, `top_k` (one row) and `classes` (every row) of an output with postprocess:. */
function classesSchema(labels: readonly string[]): Record<string, JsonSchema> {
  const scored: JsonSchema = {
    properties: {label: {enum: labels, type: 'string'}, score: {type: 'number'}},
    required: ['label', 'score'],
    type: 'object',
  }
  const row: JsonSchema = {
    properties: {label: {enum: labels, type: 'string'}, score: {type: 'number'}, top_k: {items: scored, type: 'array'}},
    required: ['label', 'score', 'top_k'],
    type: 'object',
  }
  return {
    classes: {description: 'The best classes of each row', items: row, type: 'array'},
    label: {description: 'The best class (one row only)', enum: labels, type: 'string'},
    score: {description: 'Its score (one row only)', type: 'number'},
    top_k: {description: 'The best classes, highest first (one row only)', items: scored, type: 'array'},
  }
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_')
}

function shapeOf(value: unknown): number[] {
  const dims: number[] = []
  let probe = value
  while (Array.isArray(probe)) {
    dims.push(probe.length)
    probe = probe[0]
  }
  return dims
}
