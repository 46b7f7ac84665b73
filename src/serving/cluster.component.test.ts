/**
 * The cluster layout (start-serving.ts, cluster.ts, cluster-child.ts) with real processes: this one the first HTTP
 * process, the others forked; one metrics view across them, readiness, and a shutdown that stops every process; the
 * container's entry (main.ts) in that layout under SIGTERM.
 */
import {spawn} from 'node:child_process'
import cluster from 'node:cluster'
import {once} from 'node:events'
import {cp, mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../config/load.js'
import {readSample} from '../monitoring/test-support/exposition.js'
import {forkCluster} from './cluster.js'
import {startServing} from './start-serving.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')
const IRIS = path.join(root, 'examples/iris')
const DIGITS = path.join(root, 'examples/digits-mlp')

const predict = (url: string) =>
  fetch(`${url}/predict`, {
    body: '{"features": [[5.1, 3.5, 1.4, 0.2]]}',
    headers: {'content-type': 'application/json'},
    method: 'POST',
  })

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** What a forked process of the cluster is started with, for iris. */
async function childStart() {
  return {
    extraKeys: [],
    host: '127.0.0.1',
    logLevel: 'silent' as const,
    logTo: 'stderr' as const,
    port: 0,
    processes: 2,
    project: await loadConfig(IRIS),
    serving: {},
  }
}

/** iris in the cluster layout, 2 processes, on a free port of this machine. */
function serveIrisCluster() {
  return startServing({
    dir: IRIS,
    host: '127.0.0.1',
    layout: 'cluster',
    port: 0,
    processes: 2,
    serving: {logLevel: 'warn'},
  })
}

describe('the cluster layout', () => {
  it('serves from every process, answers one metrics view of them all, and stops them all on close', async () => {
    const server = await serveIrisCluster()
    let pids: number[] | undefined
    try {
      expect(server.layout).toMatchObject({kind: 'cluster', processes: 2})
      // Ready once this process, the first, serves: the second joins it.
      expect((await fetch(`${server.url}/ready`)).status).toBe(200)
      await server.cluster!.allWarm()
      pids = server.cluster!.pids()
      expect(pids).toHaveLength(1)
      const answers = await Promise.all(Array.from({length: 40}, () => predict(server.url)))
      expect(answers.map((answer) => answer.status)).toEqual(Array.from({length: 40}, () => 200))
      // Any process answers /metrics with the sum over both: every request, both sessions, the model once.
      const text = await (await fetch(`${server.url}/metrics`)).text()
      expect(readSample(text, 'mlship_http_requests_total', {route: '/predict', status: '200'})).toBe(40)
      expect(readSample(text, 'mlship_inference_workers')).toBe(2)
      expect(readSample(text, 'mlship_model_info', {name: 'iris-classifier', version: '1.0.0'})).toBe(1)

      // A process that dies is replaced, and the sums do not drop (Prometheus would read a counter reset): the dead
      // process's counters carry into its replacement's.
      process.kill(pids[0]!, 'SIGKILL')
      const pause = () => new Promise((resolve) => setTimeout(resolve, 100))
      while (server.cluster!.pids().length < 1 || server.cluster!.pids().includes(pids[0]!)) await pause()
      // Past the second during which the primary answers every scrape with one aggregation.
      await new Promise((resolve) => setTimeout(resolve, 1100))
      let after = ''
      while (readSample(after, 'mlship_inference_workers') !== 2) {
        await pause()
        after = await (await fetch(`${server.url}/metrics`)).text()
        expect(readSample(after, 'mlship_http_requests_total', {route: '/predict', status: '200'})).toBe(40)
      }
      expect(server.cluster!.pids()).toHaveLength(1)
      pids = [...pids, ...server.cluster!.pids()]
    } finally {
      await server.close({deadlineMs: 3000})
    }
    expect(pids?.filter(alive)).toEqual([])
  })

  it('chooses from a measurement in its own thread: iris (cheap) in the cluster, the digits MLP (expensive) single', async () => {
    const cheap = await startServing({cpus: 2, dir: IRIS, host: '127.0.0.1', port: 0, serving: {logLevel: 'warn'}})
    try {
      expect(cheap.layout).toMatchObject({kind: 'cluster', processes: 2})
      expect(cheap.layout.reason).toMatch(/^a single-row inference takes [\d.]+ ms \(at most 0\.1 ms\)/)
      expect((await predict(cheap.url)).status).toBe(200)
    } finally {
      await cheap.close({deadlineMs: 3000})
    }
    const processesBefore = Object.keys(cluster.workers ?? {}).length
    const expensive = await startServing({
      cpus: 2,
      dir: DIGITS,
      host: '127.0.0.1',
      port: 0,
      serving: {logLevel: 'warn'},
    })
    try {
      expect(expensive.layout.kind).toBe('single')
      expect(expensive.layout.reason).toMatch(/over 0\.1 ms\): inference workers and the batcher$/)
      expect(expensive.cluster).toBeUndefined()
      const answer = await fetch(`${expensive.url}/ready`)
      expect(answer.status).toBe(200)
      // Measured here: no process was forked.
      expect(Object.keys(cluster.workers ?? {})).toHaveLength(processesBefore)
    } finally {
      await expensive.close({deadlineMs: 3000})
    }
  })

  it('runs in the image entry (main.ts): log lines tagged by process, and SIGTERM stops every process, exit 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/serving/main.ts')], {
      cwd: root,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        MLSHIP_MODEL_DIR: IRIS,
        MLSHIP_SERVING_LAYOUT: 'cluster',
        MLSHIP_SERVING_PROCESSES: '2',
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const lines = () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    try {
      let ready: Record<string, unknown> | undefined
      while (!(ready = lines().find((line) => line.msg === 'ready'))) {
        if (child.exitCode !== null) throw new Error(`main.ts exited with ${child.exitCode}:\n${output}`)
        await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])
      }
      expect(ready).toMatchObject({layout: 'cluster', processes: 2})
      const url = `http://127.0.0.1:${String(ready.container_port)}`
      expect((await predict(url)).status).toBe(200)
      // The second process joins the first.
      while (!lines().some((line) => line.msg === 'every serving process is ready')) {
        if (child.exitCode !== null) throw new Error(`main.ts exited with ${child.exitCode}:\n${output}`)
        await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])
      }
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const [code] = (await exited) as [number | null]
      expect(code).toBe(0)
      const tagged = new Set(lines().flatMap((line) => (typeof line.process === 'number' ? [line.process] : [])))
      expect([...tagged].sort()).toEqual([1, 2])
      expect(lines().filter((line) => line.msg === 'stopped')).not.toHaveLength(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })

  it('is ready before the others start, stays ready while they do, and stops cleanly with one still starting', async () => {
    const server = await serveIrisCluster()
    const statuses: number[] = []
    let joined = false
    void server.cluster!.allWarm().then(() => (joined = true))
    while (!joined) statuses.push((await fetch(`${server.url}/ready`)).status)
    expect(statuses.length).toBeGreaterThan(0)
    expect(new Set(statuses)).toEqual(new Set([200]))
    // Every connection is served, this process's and the other's turns alike (keep-alive off: one request each).
    const answers = await Promise.all(
      Array.from({length: 8}, () =>
        fetch(`${server.url}/ready`, {headers: {connection: 'close'}}).then((answer) => answer.status),
      ),
    )
    expect(answers).toEqual(Array.from({length: 8}, () => 200))
    await server.close({deadlineMs: 3000})

    // Stopped as soon as the second process is forked: that it is still starting is no failure.
    const forked = once(cluster, 'fork')
    const again = await serveIrisCluster()
    await forked
    const pids = again.cluster!.pids()
    expect(pids).toHaveLength(1)
    await expect(again.close({deadlineMs: 3000})).resolves.toBeUndefined()
    expect(pids.filter(alive)).toEqual([])
  })

  it('exits 1 when a replacement cannot start, rather than serve on fewer processes for good', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-cluster-'))
    await cp(IRIS, dir, {recursive: true})
    const child = {...(await childStart()), project: await loadConfig(dir)}
    const exits: number[] = []
    const exited = new Promise<void>((resolve) => {
      const running = forkCluster({
        child,
        connections: {add: () => undefined, remove: () => undefined},
        exit: (code) => {
          exits.push(code)
          resolve()
        },
        ownMetrics: async () => [],
        processes: 1,
      })
      void running.allWarm().then(async () => {
        // The model goes away: the replacement of a process that dies cannot load it.
        await rm(path.join(dir, 'model.onnx'))
        process.kill(running.pids()[0]!, 'SIGKILL')
      })
    })
    try {
      await exited
      expect(exits).toEqual([1])
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  })
})
