/**
 * Deploy benchmark (`npm run bench:deploy`): the iris image started the way `mlship deploy` runs it in a pod (the
 * Docker equivalents of the pod's restrictions: read-only root with tmpfs emptyDirs, no capabilities, no privilege
 * escalation, the pod's user, `--cpus 1` from its CPU limit), side by side with a plain `docker run` with no limit.
 * For each: the time from `docker run` to the first 200 on /ready, and the inference workers the server chose
 * (mlship_inference_workers) against the node's cores. Also the startup budget the manifests give the probes.
 *
 *   npm run bench:deploy -- [--runs N] [--quick] [--base-image IMAGE] [--no-write]
 *
 * Needs a Docker engine and a Node.js base image (MLSHIP_TEST_BASE_IMAGE from scripts/test-env.sh, else
 * node:20-bookworm-slim). Everything it creates is removed at the end; it loads 127.0.0.1 only.
 */
import {execa} from 'execa'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {buildImage} from '../src/image/build-image.js'
import {deploy} from '../src/deploy/deploy.js'
import {dockerRunFlags} from '../src/deploy/docker-equivalent.js'
import {fixedImageResolver} from '../src/deploy/image.js'
import {connectEngine} from '../src/docker/engine.js'
import {readSample} from '../src/monitoring/test-support/exposition.js'
import {examplesDir} from '../src/util/paths.js'
import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    'base-image': {type: 'string'},
    'no-write': {type: 'boolean'},
    quick: {type: 'boolean'},
    runs: {type: 'string'},
  },
})

const runs = Number(values.runs ?? (values.quick ? 2 : 7))
const log = (line: string) => process.stderr.write(`${line}\n`)
const engine = await connectEngine()
const baseImage = values['base-image'] ?? process.env.MLSHIP_TEST_BASE_IMAGE ?? 'node:20-bookworm-slim'
const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-deploy-'))
const model = path.join(work, 'iris')
await cp(path.join(examplesDir(), 'iris'), model, {recursive: true})
const file = path.join(model, 'model.yaml')
await writeFile(file, `${await readFile(file, 'utf8')}deploy:\n  resources: {limits: {cpu: 1}}\n`)
const image = `mlship-bench/deploy-${process.pid}:1.0.0`
const containers = new Set<string>()

function ready(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(`${url}/ready`, {agent: false, timeout: 1000}, (response) => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(false))
  })
}

/** One `docker run` to ready: milliseconds, the workers the server reports, and its memory use then. */
async function runOnce(flags: string[]): Promise<{readyMs: number; workers: number; memory: string}> {
  const started = performance.now()
  const {stdout} = await execa('docker', ['run', '--detach', ...flags, image])
  const id = stdout.trim()
  containers.add(id)
  try {
    const published = (await execa('docker', ['port', id, '8080/tcp'])).stdout.split('\n')[0]!.trim()
    const url = `http://${published}`
    for (;;) {
      if (await ready(url)) break
      if (performance.now() - started > 60_000) throw new Error(`${id} not ready within 60 s`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const readyMs = performance.now() - started
    const metrics = await (await fetch(`${url}/metrics`)).text()
    const memory = (await execa('docker', ['stats', '--no-stream', '--format', '{{.MemUsage}}', id])).stdout.trim()
    return {memory, readyMs, workers: readSample(metrics, 'mlship_inference_workers') ?? Number.NaN}
  } finally {
    await execa('docker', ['rm', '--force', id], {reject: false})
    containers.delete(id)
  }
}

try {
  log(`building ${image} on ${baseImage}`)
  await buildImage({baseImage, dir: model, engine, tags: [image]})
  const {objects, summary} = await deploy({
    action: {type: 'deploy'},
    dir: model,
    format: 'kubernetes',
    images: fixedImageResolver(image),
    write: false,
  })
  const deployment = objects.find((o) => o.kind === 'Deployment')!
  const podFlags = dockerRunFlags(deployment)
  const memoryLimit = (
    deployment.spec as {template: {spec: {containers: Array<{resources: {limits: {memory: string}}}>}}}
  ).template.spec.containers[0]!.resources.limits.memory
  const variants = [
    {flags: podFlags, name: 'pod restrictions, `--cpus 1`'},
    {flags: ['--publish', '127.0.0.1::8080'], name: 'plain `docker run`, no CPU limit'},
  ]
  const results = variants.map(() => ({memory: '', readyMs: [] as number[], workers: new Set<number>()}))
  // Side by side: one run of each variant per round, so a busy moment on the machine hits both.
  for (let round = 0; round < runs; round++) {
    for (const [index, variant] of variants.entries()) {
      const result = await runOnce(variant.flags)
      results[index]!.readyMs.push(result.readyMs)
      results[index]!.workers.add(result.workers)
      results[index]!.memory = result.memory
      log(
        `round ${round + 1}/${runs} ${variant.name}: ready in ${Math.round(result.readyMs)} ms, ${result.workers} worker(s)`,
      )
    }
  }

  const cores = os.availableParallelism()
  const rows = variants.map((variant, index) => {
    const result = results[index]!
    return [
      variant.name,
      String(Math.round(median(result.readyMs))),
      `${Math.round(Math.min(...result.readyMs))}-${Math.round(Math.max(...result.readyMs))}`,
      [...result.workers].join(', '),
      String(cores),
      result.memory,
    ]
  })
  const ratio = median(results[0]!.readyMs) / median(results[1]!.readyMs)
  const body = [
    markdownTable(
      ['container', 'docker run -> ready, median ms', 'min-max ms', 'workers chosen', 'node cores', 'memory at ready'],
      rows,
    ),
    '',
    `${runs} runs of each, interleaved. Under the pod's restrictions the server is ready ${ratio.toFixed(2)}x as long as without them (median against median); it runs under a read-only root, as user 1000:1000, with no capability, and sizes its workers from the CPU quota (\`workers: auto\`: one per usable CPU but one, at least 1), not from the node's ${cores} cores.`,
    '',
    `Memory: \`mlship deploy\` requests and limits ${memoryLimit} for this model (256 MiB plus twice the model file per worker, in 64 MiB steps); the first row ran under that limit (\`--memory\`).`,
    '',
    `The manifests give the startup probe ${summary.probes.startupBudgetSeconds} s (model load measured here: ${summary.probes.measuredLoadSeconds} s for one worker, warm-up included), ${(summary.probes.startupBudgetSeconds / (median(results[0]!.readyMs) / 1000)).toFixed(0)}x the median time to ready measured above: image pulls are not counted by the kubelet, and a busy node is slower than this one.`,
  ].join('\n')
  console.log(body)
  if (!values['no-write'] && !values.quick) {
    await writeBenchmarkSection({
      body,
      command: 'npm run bench:deploy',
      id: 'deploy',
      title: 'Deploy: the image under its pod restrictions (issue 11)',
    })
  }
} finally {
  for (const id of containers) await execa('docker', ['rm', '--force', id], {reject: false})
  await execa('docker', ['rmi', '--force', image], {reject: false})
  await rm(work, {force: true, recursive: true})
}
