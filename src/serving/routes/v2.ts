import type {FastifyPluginAsync, FastifyReply, FastifyRequest} from 'fastify'

import {formatShape} from '../../model/signature.js'
import {type RoutePluginOptions, type ServingContext, VARIANT_HEADER} from '../context.js'
import {decodeV2Body, type V2InferRequest} from '../decode.js'
import type {RawInputs} from '../preprocessing.js'
import {decodeV2WithPlan} from '../raw-inputs.js'
import {isPredecoded} from '../decoded-body.js'
import {RequestError} from '../request-error.js'
import {v2ResponseJson} from '../responses.js'
import {V2_DATATYPE} from '../tensors.js'
import {mlshipVersion} from '../version.js'

interface ModelParams {
  name: string
  version?: string
}

/**
 * The Open Inference Protocol (KServe v2; also spoken by Triton and MLServer), so its clients work unchanged.
 * https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */
export const v2Routes: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
  const {backend, limits, modelName, modelVersion, outputNames, preprocessor, router, signature} = context

  const server = JSON.stringify({extensions: [], name: 'mlship', version: mlshipVersion()})
  app.get('/v2', async (_request, reply) => {
    reply.type('application/json')
    return server
  })

  const metadata = JSON.stringify(modelMetadata(context))
  for (const url of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get<{Params: ModelParams}>(url, async (request, reply) => {
      checkModel(context, request.params)
      reply.type('application/json')
      return metadata
    })
    app.get<{Params: ModelParams}>(`${url}/ready`, async (request, reply) => {
      checkModel(context, request.params)
      const ready = context.state.phase === 'ready'
      return send(reply.code(ready ? 200 : 503), JSON.stringify({name: modelName, ready}))
    })
    // The model is checked before the body is read: a body for another model is never parsed.
    const onRequest = (request: FastifyRequest<{Params: ModelParams}>, _reply: FastifyReply, done: () => void) => {
      checkModel(context, request.params)
      done()
    }
    app.post<{Params: ModelParams}>(`${url}/infer`, {onRequest}, async (request, reply) => {
      const {body} = request
      const routed = router?.assign({body, bodyId: bodyId(body), headers: request.headers, id: request.id})
      if (routed) reply.header(VARIANT_HEADER, routed.variant).header('x-request-id', request.id)
      const decoded: V2InferRequest & {raw?: RawInputs} = isPredecoded(body)
        ? body
        : preprocessor
          ? decodeV2WithPlan(body, signature, preprocessor.plan, limits, outputNames)
          : decodeV2Body(body, signature, limits, outputNames)
      // Images and texts (BYTES inputs of a model with preprocess:) become tensors here, as on POST /predict.
      const feeds =
        decoded.raw && preprocessor ? {...decoded.feeds, ...(await preprocessor.feeds(decoded.raw))} : decoded.feeds
      const outputs = await (routed ?? backend).run(feeds, decoded.outputs ? {outputs: decoded.outputs} : {})
      const id = decoded.id ?? request.id
      const model = routed
        ? {name: modelName, variant: routed.variant, version: routed.modelVersion}
        : {name: modelName, version: modelVersion}
      return send(reply, v2ResponseJson(outputs, decoded.outputs ?? outputNames, model, id))
    })
  }
}

/** The id of a v2 body (feedback may name it), read before the body is decoded. */
function bodyId(body: unknown): string | undefined {
  const id = typeof body === 'object' && body !== null ? (body as {id?: unknown}).id : undefined
  return typeof id === 'string' ? id : undefined
}

function send(reply: FastifyReply, json: string): string {
  reply.type('application/json')
  return json
}

function checkModel(context: ServingContext, params: ModelParams): void {
  if (params.name !== context.modelName) {
    throw new RequestError(404, `unknown model "${params.name}": this server serves "${context.modelName}"`)
  }
  if (params.version !== undefined && params.version !== context.modelVersion) {
    throw new RequestError(
      404,
      `unknown version "${params.version}" of model "${context.modelName}": this server serves version ${context.modelVersion}`,
    )
  }
}

/** The v2 model metadata, with mlship's additions (execution provider, workers, labels). */
export function modelMetadata(context: ServingContext) {
  const {info} = context.backend
  const {preprocessor} = context
  const tensor = (t: {name: string; dtype: keyof typeof V2_DATATYPE; shape: readonly (number | string)[]}) => ({
    datatype: V2_DATATYPE[t.dtype],
    name: t.name,
    shape: t.shape.map((d) => (typeof d === 'number' ? d : -1)),
  })
  return {
    execution_provider: info.executionProvider,
    inputs: context.signature.inputs.flatMap((t) => {
      const kind = preprocessor?.kindOf(t.name)
      // An image or a text is sent as BYTES, one string per row; the inputs a tokenizer fills are not sent at all.
      if (kind) return [{datatype: 'BYTES', name: t.name, preprocess: kind, shape: [-1], shape_text: '[batch]'}]
      if (preprocessor && !preprocessor.plan.tensorInputs.some((spec) => spec.name === t.name)) return []
      return [{...tensor(t), shape_text: formatShape(t.shape)}]
    }),
    intra_op_threads: info.intraOpThreads,
    name: context.modelName,
    outputs: context.signature.outputs.map((t) => ({...tensor(t), ...(t.labels ? {labels: t.labels} : {})})),
    platform: 'onnxruntime_onnx',
    versions: [context.modelVersion],
    workers: info.workers,
  }
}
