/**
 * Images through /predict (issue 20), written to BENCHMARKS.md "Images as inputs":
 *
 *   npm run bench:images [-- --quick] [--rounds N] [--seconds S] [--clients C] [--json FILE]
 *
 * 1. Through the server: examples/digits-image (the bundled classifier) in a child process, as `serve --local` runs
 *    it, gets C clients that each send, again and again for S seconds, one 224x224 JPEG of a digit (the raw body,
 *    image/jpeg; then the same picture as a data URL in JSON), or the tensor that picture becomes ([1, 1, 16, 16] in
 *    JSON: the same model fed ready tensors). Images (or tensors) answered per second, the three side by side in each
 *    round, medians of the rounds.
 * 2. Where the time goes, on one thread of this process: decoding the JPEG (sharp), making the tensor from the pixels
 *    (grayscale, resize, normalise: src/preprocess, as the decode threads run it) and running the model on it
 *    (onnxruntime, one intra-op thread), per image; medians of the rounds. The same for a 640x480 photo made into an
 *    ImageNet-style [1, 3, 224, 224] tensor (shorter side 256, centre crop), the preprocessing a larger model has.
 */
import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import * as ort from 'onnxruntime-node'
import sharp from 'sharp'
import {parse as parseYaml, stringify as stringifyYaml} from 'yaml'

import {loadConfig} from '../src/config/load.js'
import {imagePreprocessSchema} from '../src/config/schema.js'
import {sharpImageDecoder} from '../src/preprocess/image-decode.js'
import {type ImagePlan, imageRow} from '../src/preprocess/image-tensor.js'
import {planPreprocessing} from '../src/preprocess/plan.js'
import {median, writeBenchmarkSection} from './lib/benchmarks-md.js'
import {log, scriptArgs} from './lib/script-args.js'
import {startChildServer} from './lib/child-server.js'
import {closedLoop, okAndFailed} from './lib/closed-loop.js'

const root = path.resolve(import.meta.dirname, '..')
const MODEL_DIR = path.join(root, 'examples', 'digits-image')
const {flag, number, quick} = scriptArgs()
const rounds = number('--rounds', 2, 5)
const seconds = number('--seconds', 3, 10)
const clients = number('--clients', 8)
const repeats = quick ? 100 : 500
const jsonOut = flag('--json')

type Body = 'image/jpeg body' | 'data URL in JSON' | 'ready tensor in JSON'
const BODIES: Body[] = ['ready tensor in JSON', 'image/jpeg body', 'data URL in JSON']

/**
 * The model without its preprocess: and postprocess: (a copy of model.yaml beside a copy of model.onnx): the same
 * model, fed ready tensors. (An input with preprocess: takes images, not tensors.)
 */
async function tensorModelDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-images-tensors-'))
  const yaml = parseYaml(await readFile(path.join(MODEL_DIR, 'model.yaml'), 'utf8')) as {
    signature: {inputs: Array<{preprocess?: unknown}>; outputs: Array<{postprocess?: unknown}>}
  }
  for (const input of yaml.signature.inputs) delete input.preprocess
  for (const output of yaml.signature.outputs) delete output.postprocess
  await writeFile(path.join(dir, 'model.yaml'), stringifyYaml(yaml))
  await copyFile(path.join(MODEL_DIR, 'model.onnx'), path.join(dir, 'model.onnx'))
  return dir
}

/** `clients` connections sending `body` again and again until `until`; the 200s per second, and any other status. */
async function load(
  url: string,
  body: {bytes: Buffer; type: string},
  until: number,
): Promise<{perSecond: number; failed: number}> {
  const {seconds, statuses} = await closedLoop({
    bodies: [body.bytes],
    clients,
    contentType: body.type,
    until,
    url: `${url}/predict`,
  })
  const {failed, ok} = okAndFailed(statuses)
  return {failed, perSecond: ok / seconds}
}

/** Milliseconds per call of `work`, over `repeats` calls after a few to warm up. */
async function perCall(work: () => unknown): Promise<number> {
  for (let i = 0; i < 10; i++) await work()
  const started = performance.now()
  for (let i = 0; i < repeats; i++) await work()
  return (performance.now() - started) / repeats
}

interface Breakdown {
  decode_ms: number
  preprocess_ms: number
  inference_ms?: number
}

async function breakdown(jpeg: Buffer, plan: ImagePlan, session?: ort.InferenceSession): Promise<Breakdown> {
  const decoder = await sharpImageDecoder()
  const decodeOne = () => decoder.decode(jpeg, {label: 'bench', maxPixels: plan.options.max_pixels})
  const pixels = await decodeOne()
  const decode_ms = await perCall(decodeOne)
  const preprocess_ms = await perCall(() => imageRow(pixels, plan))
  if (!session) return {decode_ms, preprocess_ms}
  const tensor = new ort.Tensor('float32', imageRow(pixels, plan), [1, plan.channels, plan.height, plan.width])
  const inference_ms = await perCall(() => session.run({[plan.input]: tensor}))
  return {decode_ms, inference_ms, preprocess_ms}
}

async function main(): Promise<void> {
  const {config} = await loadConfig(MODEL_DIR)
  const plan = planPreprocessing(config.signature!)!.images[0]!
  const digit = await sharp(path.join(MODEL_DIR, 'three.png')).resize(224, 224).jpeg({quality: 90}).toBuffer()
  const photo = await photoJpeg(640, 480)
  const photoPlan = planPreprocessing({
    inputs: [
      {
        dtype: 'float32',
        name: 'image',
        preprocess: {
          image: imagePreprocessSchema.parse({
            mean: [0.485, 0.456, 0.406],
            resize: 'shorter_side',
            shorter_side: 256,
            std: [0.229, 0.224, 0.225],
          }),
        },
        shape: ['batch', 3, 224, 224],
      },
    ],
    outputs: [{dtype: 'float32', name: 'scores', shape: ['batch', 1000]}],
  })!.images[0]!
  const decoder = await sharpImageDecoder()
  const tensor = imageRow(await decoder.decode(digit, {label: 'bench', maxPixels: 1e7}), plan)
  const bodies: Record<Body, {bytes: Buffer; type: string}> = {
    'data URL in JSON': {
      bytes: Buffer.from(JSON.stringify({features: `data:image/jpeg;base64,${digit.toString('base64')}`})),
      type: 'application/json',
    },
    'image/jpeg body': {bytes: digit, type: 'image/jpeg'},
    'ready tensor in JSON': {
      bytes: Buffer.from(JSON.stringify({features: [[chunk([...tensor], 16)]]})),
      type: 'application/json',
    },
  }
  log(`224x224 JPEG: ${digit.length} bytes; ${rounds} round(s) of ${seconds} s per body, ${clients} clients`)

  const served: Record<Body, number[]> = {'data URL in JSON': [], 'image/jpeg body': [], 'ready tensor in JSON': []}
  const tensorDir = await tensorModelDir()
  const servers = {
    images: await startChildServer({dir: MODEL_DIR}),
    tensors: await startChildServer({dir: tensorDir}),
  }
  try {
    for (let round = 1; round <= rounds; round++) {
      // Interleaved, so that a change in the machine's load falls on every body alike.
      for (const body of BODIES) {
        const server = body === 'ready tensor in JSON' ? servers.tensors : servers.images
        const {failed, perSecond} = await load(server.url, bodies[body], Date.now() + seconds * 1000)
        if (failed > 0) throw new Error(`${body}: ${failed} requests failed`)
        log(`round ${round}, ${body}: ${perSecond.toFixed(0)}/s`)
        served[body].push(perSecond)
      }
    }
  } finally {
    await Promise.all([servers.images.stop(), servers.tensors.stop()])
    await rm(tensorDir, {force: true, recursive: true})
  }

  const session = await ort.InferenceSession.create(path.join(MODEL_DIR, 'model.onnx'), {
    interOpNumThreads: 1,
    intraOpNumThreads: 1,
  })
  const digits: Breakdown[] = []
  const photos: Breakdown[] = []
  for (let round = 1; round <= rounds; round++) {
    digits.push(await breakdown(digit, plan, session))
    photos.push(await breakdown(photo, photoPlan))
    log(`round ${round}: digit ${JSON.stringify(digits.at(-1))}, photo ${JSON.stringify(photos.at(-1))}`)
  }
  await session.release()
  if (jsonOut) await writeFile(jsonOut, JSON.stringify({digits, photos, served}, null, 2))

  const rate = (body: Body) => median(served[body])
  const tensorRate = rate('ready tensor in JSON')
  const servedRows = BODIES.map(
    (body) =>
      `| ${body} | ${rate(body).toFixed(0)} | ${(1000 / rate(body)).toFixed(3)} | ${(rate(body) / tensorRate).toFixed(2)} |`,
  )
  const ms = (list: Breakdown[], pick: (b: Breakdown) => number | undefined) =>
    median(list.map((b) => pick(b) ?? 0)).toFixed(3)
  const share = (list: Breakdown[], pick: (b: Breakdown) => number) => {
    const total = median(list.map((b) => b.decode_ms + b.preprocess_ms + (b.inference_ms ?? 0)))
    return `${((100 * median(list.map(pick))) / total).toFixed(0)}%`
  }
  const bodyText = `
Through \`POST /predict\` of examples/digits-image (the bundled classifier, served in a child process as
\`serve --local\` serves it, decode threads on), ${clients} clients each send one 224x224 JPEG of a digit
(${digit.length} bytes) again and again for ${seconds} s: as the raw body, as a data URL in JSON, or as the
\`[1, 1, 16, 16]\` tensor that picture becomes (the same model served from a model.yaml without \`preprocess:\`,
fed ready tensors in JSON). The three bodies side by side in each of ${rounds} round(s), medians of the rounds.

| body | answered/s | ms of server per image (1 / rate) | rate against ready tensors |
| --- | --- | --- | --- |
${servedRows.join('\n')}

Where one image's time goes, on one thread (sharp's decode, src/preprocess's tensor, onnxruntime with one intra-op
thread), per image, median of ${rounds} round(s) of ${repeats} calls:

| image -> tensor | decode ms | grayscale/RGB, resize, normalise ms | inference ms | decode share | preprocess share | inference share |
| --- | --- | --- | --- | --- | --- | --- |
| 224x224 JPEG -> [1, 1, 16, 16] (digits-image) | ${ms(digits, (b) => b.decode_ms)} | ${ms(digits, (b) => b.preprocess_ms)} | ${ms(digits, (b) => b.inference_ms)} | ${share(digits, (b) => b.decode_ms)} | ${share(digits, (b) => b.preprocess_ms)} | ${share(digits, (b) => b.inference_ms!)} |
| 640x480 JPEG -> [1, 3, 224, 224] (shorter side 256, crop, ImageNet mean/std) | ${ms(photos, (b) => b.decode_ms)} | ${ms(photos, (b) => b.preprocess_ms)} | (no model) | | | |

The digit classifier is tiny (3,818 weights): its inference is a small part of the time and the rate of image bodies
is bounded by decoding and preprocessing, which run in the server's decode threads, off the event loop. A ready
tensor in JSON skips both. For an ImageNet-sized model the second row is the fixed cost an image adds per request.
`
  await writeBenchmarkSection({
    body: bodyText,
    command: `npm run bench:images${quick ? ' -- --quick' : ''}`,
    id: 'images',
    title: 'Images as inputs (issue 20)',
  })
}

function chunk<T>(values: T[], size: number): T[][] {
  return Array.from({length: Math.ceil(values.length / size)}, (_, i) => values.slice(i * size, (i + 1) * size))
}

/** A photo-like JPEG: smooth gradients and noise, seeded, so every run decodes the same bytes. */
async function photoJpeg(width: number, height: number): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3)
  let seed = 20
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 60 - 30
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3
      pixels[at] = clamp((x * 255) / width + random())
      pixels[at + 1] = clamp((y * 255) / height + random())
      pixels[at + 2] = clamp(((x + y) * 128) / (width + height) + 64 + random())
    }
  return sharp(pixels, {raw: {channels: 3, height, width}})
    .jpeg({quality: 90})
    .toBuffer()
}

const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)))

await main()
