/**
 * Image build benchmark (`npm run bench:build`): cold build, rebuilds after a model-only and a config-only change,
 * an unchanged rebuild, the image size above its base image, and the time from `docker run` to ready.
 *
 *   npm run bench:build -- [--base-image IMAGE] [--runs N] [--json]
 *
 * Writes the BENCHMARKS.md section "Images and builds" (scripts/lib/benchmarks-md.ts); --json prints the figures too.
 * Needs a Docker engine and a Node.js base image (MLSHIP_TEST_BASE_IMAGE from scripts/test-env.sh, else
 * node:20-bookworm-slim). Everything it creates is removed at the end. Targets (issue 5): rebuilds <= 5 s, size
 * above base <= 60 MB + the model, run-to-ready <= 1.5 s.
 */
import {cp, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {buildImage, type BuildImageResult} from '../src/build/build-image.js'
import {removeContainer, runContainer, waitReady} from '../src/container/container.js'
import {connectEngine} from '../src/docker/engine.js'
import {examplesDir} from '../src/util/paths.js'
import {markdownTable, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    'base-image': {type: 'string'},
    json: {type: 'boolean'},
    runs: {default: '5', type: 'string'},
  },
})

const engine = await connectEngine()
const baseImage = values['base-image'] ?? process.env.MLSHIP_TEST_BASE_IMAGE ?? 'node:20-bookworm-slim'
const runs = Number(values.runs)
const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-build-'))
const modelDir = path.join(work, 'iris')
await cp(path.join(examplesDir(), 'iris'), modelDir, {recursive: true})
const repo = `mlship-bench/iris-${process.pid}`
const images: string[] = []
const log = (line: string) => process.stderr.write(`${line}\n`)

interface Row {
  what: string
  seconds: number
  cachedSteps: string
  note: string
}
const rows: Row[] = []

async function timedBuild(what: string, tag: string, noCache = false): Promise<BuildImageResult> {
  images.push(`${repo}:${tag}`)
  const result = await buildImage({baseImage, dir: modelDir, engine, noCache, tags: [`${repo}:${tag}`]})
  rows.push({
    cachedSteps: result.upToDate ? 'all (up to date)' : `${result.steps.cached}/${result.steps.total}`,
    note: '',
    seconds: result.buildSeconds,
    what,
  })
  log(`${what}: ${result.buildSeconds.toFixed(2)} s (${rows.at(-1)!.cachedSteps})`)
  return result
}

async function layers(id: string): Promise<string[]> {
  return (await engine.docker.getImage(id).inspect()).RootFS.Layers ?? []
}

function sharedPrefix(a: string[], b: string[]): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

try {
  const cold = await timedBuild('cold build (--no-cache)', 'cold', true)
  await timedBuild('rebuild, nothing changed (another tag)', 'same')

  const configFile = path.join(modelDir, 'model.yaml')
  // Unique per run, so that no image left from an earlier run has the same inputs (that would be "up to date").
  const stamp = `${process.pid}-${Date.now()}`
  await writeFile(
    configFile,
    (await readFile(configFile, 'utf8')).replace(/^description: .*$/m, `description: benchmark run ${stamp}`),
  )
  const config = await timedBuild('rebuild after a model.yaml-only change', 'config')
  const coldLayers = await layers(cold.imageId)
  const configLayers = await layers(config.imageId)
  rows.at(-1)!.note = `${sharedPrefix(coldLayers, configLayers)} of ${configLayers.length} layers re-used`

  const modelFile = path.join(modelDir, 'model.onnx')
  // A different model file: an unknown protobuf field (99, bytes) appended to the ONNX model changes its bytes, not
  // its graph.
  const extra = Buffer.from(stamp)
  await writeFile(modelFile, Buffer.concat([await readFile(modelFile), Buffer.from([0x9a, 0x06, extra.length]), extra]))
  const model = await timedBuild('rebuild after a model-only change', 'model')
  const modelLayers = await layers(model.imageId)
  rows.at(-1)!.note = `${sharedPrefix(configLayers, modelLayers)} of ${modelLayers.length} layers re-used`

  const modelBytes = (await stat(modelFile)).size
  const readyTimes: number[] = []
  const readyOnly: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    const container = await runContainer({containerPort: 8080, engine, hostPort: 0, image: model.imageId})
    try {
      const afterStart = performance.now()
      await waitReady({container, engine, timeoutMs: 30_000})
      readyTimes.push(performance.now() - started)
      readyOnly.push(performance.now() - afterStart)
    } finally {
      await removeContainer(engine, container.id)
    }
  }
  readyTimes.sort((a, b) => a - b)
  readyOnly.sort((a, b) => a - b)
  const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!

  const summary = {
    baseImage,
    builds: rows,
    date: new Date().toISOString(),
    docker: engine.info.version,
    imageSizeAboveBaseMB: Number(((model.sizeAboveBaseBytes ?? Number.NaN) / 1e6).toFixed(1)),
    imageSizeMB: Number((model.sizeBytes / 1e6).toFixed(1)),
    machine: `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    modelBytes,
    contextMB: Number((model.contextSizeBytes / 1e6).toFixed(1)),
    runToReadyMs: {
      max: Math.round(readyTimes.at(-1)!),
      median: Math.round(median(readyTimes)),
      min: Math.round(readyTimes[0]!),
      runs,
    },
    startToReadyMs: {median: Math.round(median(readyOnly))},
  }

  if (values.json) console.log(JSON.stringify(summary, null, 2))
  const table = markdownTable(
    ['build', 'seconds', 'steps cached', 'layers'],
    rows.map((row) => [row.what, row.seconds.toFixed(2), row.cachedSteps, row.note]),
    '--- | ---: | --- | ---',
  )
  const body = [
    `Base image \`${baseImage}\`, Docker ${summary.docker}; the iris example (model ${modelBytes} bytes).`,
    '',
    table,
    '',
    `Image ${summary.imageSizeMB} MB, ${summary.imageSizeAboveBaseMB} MB above the base image; build context ` +
      `${summary.contextMB} MB. \`docker run\` -> ready (create + start + first 200 on /ready), ${runs} runs: median ` +
      `${summary.runToReadyMs.median} ms (min ${summary.runToReadyMs.min}, max ${summary.runToReadyMs.max}); start -> ` +
      `ready ${summary.startToReadyMs.median} ms.`,
    '',
    'Targets (issue 5): rebuilds <= 5 s, size above the base <= 60 MB + the model, `docker run` -> ready <= 1.5 s.',
  ].join('\n')
  if (!values.json) console.log(body)
  await writeBenchmarkSection({
    body,
    command: `npm run bench:build${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    id: 'build',
    title: 'Images and builds',
  })
} finally {
  for (const image of images)
    await engine.docker
      .getImage(image)
      .remove({force: true})
      .catch(() => undefined)
  await rm(work, {force: true, recursive: true})
}
