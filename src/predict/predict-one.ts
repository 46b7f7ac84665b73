import {readFile} from 'node:fs/promises'

import {loadConfig} from '../config/load.js'
import {ExitCode, MlshipError, errorMessage} from '../errors.js'
import type {Signature} from '../config/schema.js'
import {planPreprocessing} from '../preprocess/plan.js'
import {decodeSeedBody} from '../serving/decode.js'
import {splitSeedBody} from '../serving/raw-inputs.js'
import {apiKeyHeaders, keyRefusal} from '../serving/auth/client.js'
import {RequestError} from '../serving/request-error.js'
import {seedResponseJson} from '../serving/responses.js'
import {openModel} from '../serving/open-model.js'
import type {Device} from '../serving/device.js'

export interface PredictOneOptions {
  /** The model directory (in-process prediction). Ignored with `url`. */
  dir?: string
  /** The request body: `{"features": ...}`, `{"inputs": {...}}`, or a bare nested array (the features). */
  input?: unknown
  /** Use the examples of model.yaml as the input. */
  example?: boolean
  /**
   * Image files, one row each, for the input that declares preprocess.image. With `texts` too, or with inputs still
   * sent as tensors (their examples from model.yaml), the body names each input.
   */
  images?: string[]
  /** Texts, one row each, for the input that declares preprocess.text. */
  texts?: string[]
  /** Ask a running server instead (its POST /predict). */
  url?: string
  /** The server's API key (serving.auth), sent with `url`. */
  apiKey?: string
  device?: Device
}

/** The seed contract's answer. */
export interface PredictOneResult {
  predictions: unknown
  labels?: string[]
  outputs?: Record<string, unknown>
  model_version: string
  latency_ms: number
  [key: string]: unknown
}

/** One prediction: in this process (no server needed), or from a running server with `url`. */
export async function predictOne(options: PredictOneOptions): Promise<PredictOneResult> {
  if (options.url) {
    // The server has the model; model.yaml is read only for its examples and, with images or texts, for the names of
    // the inputs (a model with one image or text input needs none: the server takes {"features": ...}).
    const signature = options.example
      ? (await loadConfig(options.dir ?? '.')).config.signature
      : options.images || options.texts
        ? await loadConfig(options.dir ?? '.').then(
            (loaded) => loaded.config.signature,
            () => undefined,
          )
        : undefined
    return predictRemote(options.url, await requestBody(options, signature), options.apiKey)
  }
  const model = await openModel({device: options.device, dir: options.dir, runIn: 'this-thread'})
  try {
    const body = await requestBody(options, model.project.signature)
    const {signature} = model.project
    const limits = {maxBatchSize: model.settings.maxBatchSize}
    const start = performance.now()
    const plan = planPreprocessing(signature, model.project.file)
    let feeds
    try {
      if (plan) {
        // Images and texts are turned into tensors here, as the server does (sharp and the tokenizer load only now).
        const {openInputPreprocessor} = await import('../serving/open-preprocessor.js')
        const preprocessor = await openInputPreprocessor(plan, {limits, modelDir: model.project.dir})
        const {raw, tensorBody} = splitSeedBody(body, plan)
        const tensors =
          tensorBody === undefined ? {} : decodeSeedBody(tensorBody, preprocessor.tensorSignature(signature), limits)
        feeds = {...tensors, ...(await preprocessor.feeds(raw))}
      } else feeds = decodeSeedBody(body, signature, limits)
    } catch (error) {
      throw inputError(error)
    }
    const outputs = await model.backend.run(feeds)
    return JSON.parse(
      seedResponseJson(outputs, signature, model.project.config.version, performance.now() - start, plan?.postprocess),
    ) as PredictOneResult
  } finally {
    await model.backend.close()
  }
}

async function requestBody(options: PredictOneOptions, signature: Signature | undefined): Promise<unknown> {
  if (options.images || options.texts) return rawInputsBody(options, signature)
  if (options.example) {
    if (!signature) {
      throw new MlshipError('--example needs a model.yaml with a signature whose inputs have examples', {
        code: 'PREDICT_USAGE',
        exitCode: ExitCode.usage,
      })
    }
    const missing = signature.inputs.filter((i) => i.example === undefined).map((i) => i.name)
    if (missing.length > 0) {
      throw new MlshipError(
        `model.yaml has no example for input${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
        {
          code: 'PREDICT_NO_EXAMPLE',
          exitCode: ExitCode.usage,
          suggestions: [
            'Add `example:` (a nested array) to each input under signature.inputs in model.yaml, or pass -i.',
          ],
        },
      )
    }
    return signature.inputs.length === 1
      ? {features: signature.inputs[0]!.example}
      : {inputs: Object.fromEntries(signature.inputs.map((i) => [i.name, i.example]))}
  }
  if (options.input === undefined) {
    throw new MlshipError(
      'nothing to predict: pass -i \'{"features": [[...]]}\', --example, or --input FILE for a batch',
      {
        code: 'PREDICT_USAGE',
        exitCode: ExitCode.usage,
      },
    )
  }
  return Array.isArray(options.input) ? {features: options.input} : options.input
}

/**
 * The body of --image / --text: `{"features": [...]}` for a model whose one client input is the image or the text
 * (or when model.yaml is not at hand), else `{"inputs": {...}}` with the images for the image input, the texts for the
 * text input, and model.yaml's examples for the inputs still sent as tensors.
 */
async function rawInputsBody(options: PredictOneOptions, signature: Signature | undefined): Promise<unknown> {
  const images = options.images && (await Promise.all(options.images.map((file) => imageDataUrl(file))))
  const plan = signature && planPreprocessing(signature)
  const single = !plan || (plan.images.length + plan.texts.length === 1 && plan.tensorInputs.length === 0)
  if (single && !(images && options.texts)) return {features: images ?? options.texts}
  const usage = (message: string) =>
    new MlshipError(message, {
      code: 'PREDICT_USAGE',
      exitCode: ExitCode.usage,
      suggestions: ['Send the whole body with -i \'{"inputs": {...}}\' (images as data URLs).'],
    })
  if (!plan) throw usage('--image and --text together need model.yaml (to name the inputs): run in the model directory')
  const inputs: Record<string, unknown> = {}
  for (const [given, plans, flag] of [
    [images, plan.images, '--image'],
    [options.texts, plan.texts, '--text'],
  ] as const) {
    if (plans.length === 0 && given)
      throw usage(`${flag}: the model has no input that declares ${flag.slice(2)} preprocessing`)
    if (plans.length > 1)
      throw usage(`${flag}: the model has ${plans.length} such inputs (${plans.map((p) => p.input).join(', ')})`)
    const [only] = plans
    if (!only) continue
    if (!given) throw usage(`input "${only.input}" takes ${flag === '--image' ? 'an image' : 'a text'}: pass ${flag}`)
    inputs[only.input] = given
  }
  for (const spec of plan.tensorInputs) {
    if (spec.example === undefined)
      throw usage(`input "${spec.name}" is sent as a tensor and model.yaml has no example for it`)
    inputs[spec.name] = spec.example
  }
  return {inputs}
}

/** An image file as a data URL (the JSON form of POST /predict): the server reads the format from the bytes. */
async function imageDataUrl(file: string): Promise<string> {
  try {
    return `data:application/octet-stream;base64,${(await readFile(file)).toString('base64')}`
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new MlshipError(`--image ${file}: ${code === 'ENOENT' ? 'no such file' : errorMessage(error)}`, {
      code: 'PREDICT_INPUT_MISSING',
      exitCode: ExitCode.usage,
    })
  }
}

/** The -i value: JSON text, @FILE (the JSON in a file) or - (the JSON on stdin). */
export async function readInputArgument(value: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<unknown> {
  if (value === '-') {
    if ((stdin as {isTTY?: boolean}).isTTY) {
      throw new MlshipError('-i - reads the request body from a pipe, and stdin is a terminal', {
        code: 'PREDICT_USAGE',
        exitCode: ExitCode.usage,
        suggestions: ['mlship predict DIR -i - < request.json'],
      })
    }
    const chunks: Buffer[] = []
    for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
    return parseInputJson(Buffer.concat(chunks).toString('utf8'), 'stdin (-i -)')
  }
  if (value.startsWith('@')) {
    const file = value.slice(1)
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new MlshipError(`-i ${value}: ${code === 'ENOENT' ? 'no such file' : errorMessage(error)}`, {
        code: 'PREDICT_INPUT_MISSING',
        exitCode: ExitCode.usage,
      })
    }
    return parseInputJson(text, file)
  }
  return parseInputJson(value)
}

/** Parses the -i text, with a message that points at the problem. */
export function parseInputJson(text: string, source = '-i'): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new MlshipError(`${source} is not valid JSON: ${errorMessage(error)}`, {
      code: 'PREDICT_BAD_INPUT',
      exitCode: ExitCode.usage,
      suggestions: [`Quote it for the shell, e.g. -i '{"features": [[5.1, 3.5, 1.4, 0.2]]}'`],
    })
  }
}

function inputError(error: unknown): unknown {
  if (error instanceof RequestError) {
    return new MlshipError(`the input does not fit the model: ${error.message}`, {
      code: 'PREDICT_BAD_INPUT',
      exitCode: ExitCode.usage,
    })
  }
  return error
}

async function predictRemote(url: string, body: unknown, apiKey: string | undefined): Promise<PredictOneResult> {
  const endpoint = new URL('/predict', url.endsWith('/') ? url : `${url}/`)
  let response: Response
  try {
    response = await fetch(endpoint, {
      body: JSON.stringify(body),
      headers: {'content-type': 'application/json', ...apiKeyHeaders(apiKey)},
      method: 'POST',
    })
  } catch (error) {
    const cause = (error as {cause?: {code?: string}}).cause?.code
    throw new MlshipError(`no server answers at ${endpoint.origin}${cause ? ` (${cause})` : ''}`, {
      cause: error,
      code: 'SERVER_UNREACHABLE',
      exitCode: ExitCode.containerUnhealthy,
      suggestions: ['Start one with `mlship serve DIR --local`, or leave out --url to predict in this process.'],
    })
  }
  const text = await response.text()
  const refusal = keyRefusal({
    retryAfter: response.headers.get('retry-after'),
    sentKey: apiKey !== undefined,
    status: response.status,
    url: endpoint.href,
  })
  if (refusal) throw refusal
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new MlshipError(
      `${endpoint.href} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
      {code: 'SERVER_BAD_ANSWER'},
    )
  }
  if (!response.ok) {
    const message = (parsed as {error?: string}).error ?? text
    throw new MlshipError(`the server refused the request (${response.status}): ${message}`, {
      code: response.status < 500 ? 'PREDICT_BAD_INPUT' : 'SERVER_ERROR',
      details: {status: response.status},
      exitCode: response.status < 500 ? ExitCode.usage : ExitCode.unexpected,
    })
  }
  return parsed as PredictOneResult
}
