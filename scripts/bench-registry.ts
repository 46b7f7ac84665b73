/**
 * Registry benchmark (`npm run bench:registry`): push time of examples/iris to a local registry, re-push time after
 * a model-only and a config-only change (with the layers uploaded and re-used), and rollback time.
 *
 *   npm run bench:registry -- [--base-image IMAGE] [--rollbacks N] [--json]
 *
 * Starts its own empty docker-registry (no auth, loopback, a free port, storage in a temporary folder) so the first
 * push is really cold: no layer can be mounted from another repository or skipped because an earlier run left it.
 * The images are built before each timed push (the build benchmark is `npm run bench:build`), so push times are
 * the push alone: up-to-date check, immutability check, engine push, latest tag. Everything is removed at the end.
 * Writes the BENCHMARKS.md section "Registry" (scripts/lib/benchmarks-md.ts); --json prints the figures too.
 */
import {execa} from 'execa'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {buildImage} from '../src/image/build-image.js'
import {connectEngine} from '../src/docker/engine.js'
import {push, type PushResult} from '../src/registry/push.js'
import {rollbackRegistry} from '../src/registry/rollback-tags.js'
import {removeLocalReferences, retag} from '../src/registry/test-support/env.js'
import {formatBytes} from '../src/util/bytes.js'
import {examplesDir} from '../src/util/paths.js'
import {markdownTable, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    'base-image': {type: 'string'},
    json: {type: 'boolean'},
    rollbacks: {default: '9', type: 'string'},
  },
})

const log = (line: string) => process.stderr.write(`${line}\n`)
const engine = await connectEngine()
const baseImage = values['base-image'] ?? process.env.MLSHIP_TEST_BASE_IMAGE ?? 'node:20-bookworm-slim'
const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-registry-'))
const modelDir = path.join(work, 'iris')
await cp(path.join(examplesDir(), 'iris'), modelDir, {recursive: true})

const port = await freePort()
const host = `127.0.0.1:${port}`
const target = {host, repository: 'bench/iris-classifier'}
const {child: registry} = await startRegistry(work, host)

interface Row {
  what: string
  seconds: number
  uploaded: string
  reused: number
  note: string
}
const rows: Row[] = []

async function edit(file: string, change: (text: string) => string): Promise<void> {
  const full = path.join(modelDir, file)
  await writeFile(full, change(await readFile(full, 'utf8')))
}

async function timedPush(what: string, version: string, note: string): Promise<PushResult> {
  // Build first, untimed: the push then finds the image up to date, as after `mlship build` in CI.
  const reference = `${host}/${target.repository}:${version}`
  await buildImage({baseImage, dir: modelDir, engine, tags: [reference]})
  const result = await push({baseImages: {all: baseImage, byPlatform: {}}, dir: modelDir, engine, target})
  rows.push({
    note,
    reused: result.layers.reused,
    seconds: result.seconds.push,
    uploaded: `${result.layers.pushed} (${formatBytes(result.layers.pushedBytes)})`,
    what,
  })
  log(
    `${what}: ${result.seconds.push.toFixed(2)} s push (${result.seconds.total.toFixed(2)} s with the up-to-date check), ${rows.at(-1)!.uploaded} uploaded, ${result.layers.reused} re-used`,
  )
  return result
}

try {
  await timedPush('push 1.0.0 to an empty registry', '1.0.0', 'every layer, the base image included')

  await writeFile(
    path.join(modelDir, 'model.onnx'),
    retag(await readFile(path.join(modelDir, 'model.onnx')), 'retrained'),
  )
  await edit('model.yaml', (t) => t.replace(/^version: .*$/m, 'version: 1.1.0'))
  await timedPush(
    're-push after a model-only change (1.1.0)',
    '1.1.0',
    'the model layer, and the config layer (model.yaml has the new version)',
  )

  await edit('model.yaml', (t) =>
    t.replace(/^version: .*$/m, 'version: 1.2.0').replace(/^description: .*$/m, 'description: config-only change'),
  )
  await timedPush('re-push after a config-only change (1.2.0)', '1.2.0', 'the config layer only')

  const rollbacks = Number(values.rollbacks)
  const times: number[] = []
  for (let i = 0; i < rollbacks; i++) {
    const version = i % 2 === 0 ? '1.0.0' : '1.2.0'
    const started = performance.now()
    await rollbackRegistry({target, version})
    times.push((performance.now() - started) / 1000)
  }
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]!
  rows.push({
    note: `median of ${rollbacks}, max ${times.at(-1)!.toFixed(3)} s; registry only`,
    reused: 0,
    seconds: median,
    uploaded: '0',
    what: 'rollback (latest -> another version)',
  })
  log(`rollback: median ${(median * 1000).toFixed(0)} ms over ${rollbacks}`)

  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({baseImage, date: new Date().toISOString(), machine: machine(), rows}, null, 2)}\n`,
    )
  }
  const body = [
    `Base image \`${baseImage}\`; a registry of its own (docker-registry on ${host}, empty at the start, no auth).`,
    '',
    markdownTable(
      ['what', 'seconds', 'layers uploaded', 'layers re-used', 'note'],
      rows.map((row) => [row.what, row.seconds.toFixed(2), row.uploaded, String(row.reused), row.note]),
      '--- | ---: | --- | ---: | ---',
    ),
    '',
    '"seconds" is the push alone (the engine push and the `latest` tag by the Registry API); rollback moves `latest` ' +
      'by a PUT of the old manifest, no layer.',
  ].join('\n')
  if (!values.json) process.stdout.write(`${body}\n`)
  await writeBenchmarkSection({
    body,
    command: `npm run bench:registry${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    id: 'registry',
    title: 'Registry',
  })
} finally {
  registry.kill('SIGTERM')
  await registry.catch(() => undefined)
  await removeLocalReferences(`${host}/${target.repository}`)
  await rm(work, {force: true, recursive: true})
}

function machine(): string {
  return `${os.cpus().length} x ${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function startRegistry(dir: string, addr: string) {
  const config = path.join(dir, 'registry.yml')
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'registry-data')}\nhttp:\n  addr: ${addr}\n`,
  )
  const child = execa('docker-registry', ['serve', config], {reject: false, stdio: 'ignore'})
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://${addr}/v2/`)
      .then((r) => r.ok)
      .catch(() => false)
    // Wrapped: an execa child is a thenable, and returning it bare would wait for the registry to exit.
    if (ok) return {child}
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill()
  throw new Error(`docker-registry did not start on ${addr} (is the docker-registry package installed?)`)
}
