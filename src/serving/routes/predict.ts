import type {FastifyPluginAsync, FastifyRequest} from 'fastify'

import {type RoutePluginOptions, type ServingContext, VARIANT_HEADER} from '../context.js'
import {decodeSeedBody} from '../decode.js'
import {isPredecoded} from '../decoded-body.js'
import type {InputPreprocessor, RawInputs} from '../preprocessing.js'
import {bodyHint, splitSeedBody} from '../raw-inputs.js'
import {badRequest, RequestError} from '../request-error.js'
import {seedResponseJson} from '../responses.js'
import type {TensorMap} from '../tensors.js'

/**
 * `POST /predict`: the seed contract, kept exactly for teaching labs; a model with `preprocess:` inputs also takes
 * its images and texts, in JSON (data URLs, strings), as a multipart form (one file or field per input, repeated for
 * more rows) or, for a model whose one input is an image, as the raw `image/*` body. Under an experiment the answer
 * also says which variant answered (`variant`, and the X-Mlship-Variant header) and its request id (`request_id`, the
 * id POST /feedback takes), and `model_version` is that variant's.
 */
export const predictRoutes: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
  const {backend, limits, modelVersion, preprocessor, router, signature} = context
  app.post('/predict', async (request, reply) => {
    const start = performance.now()
    const {body} = request
    const routed = router?.assign({body, headers: request.headers, id: request.id})
    if (routed) reply.header(VARIANT_HEADER, routed.variant).header('x-request-id', request.id)
    const feeds = isPredecoded(body)
      ? await withRaw(body.feeds, body.raw, preprocessor)
      : preprocessor
        ? await preprocessedFeeds(request, context, preprocessor)
        : decodeSeedBody(body, signature, limits)
    const outputs = await (routed ?? backend).run(feeds)
    reply.type('application/json')
    return seedResponseJson(
      outputs,
      signature,
      routed?.modelVersion ?? modelVersion,
      performance.now() - start,
      preprocessor?.plan.postprocess,
      routed && {requestId: request.id, variant: routed.variant},
    )
  })
}

async function withRaw(
  feeds: TensorMap,
  raw: RawInputs | undefined,
  preprocessor: InputPreprocessor | undefined,
): Promise<TensorMap> {
  if (!raw || !preprocessor || Object.keys(raw).length === 0) return feeds
  return {...feeds, ...(await preprocessor.feeds(raw))}
}

async function preprocessedFeeds(
  request: FastifyRequest,
  context: ServingContext,
  preprocessor: InputPreprocessor,
): Promise<TensorMap> {
  const {plan} = preprocessor
  const tensorSignature = preprocessor.tensorSignature(context.signature)
  let raw: RawInputs
  let tensorBody: unknown
  if (Buffer.isBuffer(request.body)) {
    const [only, ...others] = preprocessor.rawInputs
    if (!only || others.length > 0 || plan.tensorInputs.length > 0 || preprocessor.kindOf(only) !== 'image')
      throw badRequest(`a raw image body is for models with one input, an image: send ${bodyHint(plan)}`)
    raw = {[only]: [new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength)]}
  } else if (request.isMultipart()) {
    ;({raw, tensorBody} = await multipartInputs(request, context, preprocessor))
  } else {
    ;({raw, tensorBody} = splitSeedBody(request.body, plan))
  }
  const tensors = tensorBody === undefined ? {} : decodeSeedBody(tensorBody, tensorSignature, context.limits)
  return {...tensors, ...(await preprocessor.feeds(raw))}
}

/**
 * A multipart form: a file (or a text field) per image or text input, named as the input and repeated for more rows;
 * a field named as a tensor input holds its JSON value. Files are held to the body limit each and together.
 */
async function multipartInputs(
  request: FastifyRequest,
  context: ServingContext,
  preprocessor: InputPreprocessor,
): Promise<{raw: RawInputs; tensorBody?: unknown}> {
  const limit = context.settings.bodyLimitBytes
  const raw: RawInputs = {}
  const tensors: Record<string, unknown> = {}
  const known = new Set([...preprocessor.rawInputs, ...preprocessor.plan.tensorInputs.map((spec) => spec.name)])
  let total = 0
  const parts = request.parts({limits: {fields: 64, fileSize: limit, files: context.limits.maxBatchSize * 4}})
  for await (const part of parts) {
    if (!known.has(part.fieldname)) {
      if (part.type === 'file') part.file.resume()
      throw badRequest(`form field "${part.fieldname}" is not an input of this model: ${[...known].join(', ')}`)
    }
    let value: Uint8Array | string
    if (part.type === 'file') {
      const bytes = await part.toBuffer()
      value = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      total += bytes.byteLength
    } else {
      value = String(part.value)
      total += value.length
    }
    if (total > limit)
      throw new RequestError(413, `request body too large: the limit is ${limit} bytes (serving.body_limit_bytes)`)
    if (preprocessor.kindOf(part.fieldname)) (raw[part.fieldname] ??= []).push(value)
    else {
      try {
        tensors[part.fieldname] = JSON.parse(typeof value === 'string' ? value : Buffer.from(value).toString('utf8'))
      } catch (error) {
        throw badRequest(`form field "${part.fieldname}": malformed JSON: ${(error as Error).message}`)
      }
    }
  }
  return Object.keys(tensors).length > 0 || preprocessor.plan.tensorInputs.length > 0
    ? {raw, tensorBody: {inputs: tensors}}
    : {raw}
}
