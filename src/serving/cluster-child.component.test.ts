/**
 * One HTTP process of the cluster layout (cluster-child.ts), forked with node:cluster by this test as its primary:
 * a process that fails to start reports why and exits 1.
 */
import cluster from 'node:cluster'
import {once} from 'node:events'
import {cp, mkdtemp, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../config/load.js'
import type {ChildMessage, ClusterChildOptions} from './cluster-protocol.js'

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-child.ts')
const IRIS = path.resolve(fileURLToPath(import.meta.url), '../../../examples/iris')

function forkChild() {
  cluster.setupPrimary({
    args: [],
    exec: child,
    execArgv: ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href],
    silent: true,
  })
  return cluster.fork()
}

/** The options a primary sends: iris as loadConfig read it, on an ephemeral port, logging nothing. */
async function childOptions(overrides: Partial<ClusterChildOptions> = {}): Promise<ClusterChildOptions> {
  return {
    extraKeys: [],
    host: '127.0.0.1',
    index: 1,
    logLevel: 'silent',
    logTo: 'stderr',
    measure: false,
    port: 0,
    processes: 1,
    project: overrides.project ?? (await loadConfig(IRIS)),
    serving: {},
    ...overrides,
  }
}

describe('a cluster process', () => {
  it('serves model.yaml as its primary read it, without reading the file again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-cluster-child-'))
    await cp(IRIS, dir, {recursive: true})
    const project = await loadConfig(dir)
    await rm(project.file)
    const worker = forkChild()
    try {
      const options = await childOptions({project})
      const messages: ChildMessage[] = []
      const warm = new Promise<void>((resolve) => {
        worker.on('message', (message: ChildMessage) => {
          messages.push(message)
          if (message.type === 'mlship:waiting') worker.send({options, type: 'mlship:start'})
          if (message.type === 'mlship:warm' || message.type === 'mlship:failed') resolve()
        })
      })
      await warm
      expect(messages.map((message) => message.type)).toEqual(['mlship:waiting', 'mlship:warm'])
      worker.send({deadlineMs: 1000, type: 'mlship:stop'})
      const [code] = (await once(worker, 'exit')) as [number | null]
      expect(code).toBe(0)
    } finally {
      if (!worker.isDead()) worker.kill('SIGKILL')
      await rm(dir, {force: true, recursive: true})
    }
  })

  it('asked to measure, sends its single-row inference time and serves only once the primary says proceed', async () => {
    const worker = forkChild()
    try {
      const options = await childOptions({measure: true})
      const messages: ChildMessage[] = []
      let listening = false
      worker.on('listening', () => (listening = true))
      const warm = new Promise<void>((resolve) => {
        worker.on('message', (message: ChildMessage) => {
          messages.push(message)
          if (message.type === 'mlship:waiting') worker.send({options, type: 'mlship:start'})
          if (message.type === 'mlship:measured') {
            // Held until told: it has not started listening (no connection may reach a process about to be stopped).
            setTimeout(() => {
              expect(listening).toBe(false)
              worker.send({type: 'mlship:proceed'})
            }, 200)
          }
          if (message.type === 'mlship:warm' || message.type === 'mlship:failed') resolve()
        })
      })
      await warm
      expect(messages.map((message) => message.type)).toEqual(['mlship:waiting', 'mlship:measured', 'mlship:warm'])
      const measured = messages[1] as Extract<ChildMessage, {type: 'mlship:measured'}>
      expect(measured.rowCostMs).toBeGreaterThan(0)
      expect(measured.rowCostMs).toBeLessThan(50)
      expect(listening).toBe(true)
      worker.send({deadlineMs: 1000, type: 'mlship:stop'})
      const [code] = (await once(worker, 'exit')) as [number | null]
      expect(code).toBe(0)
    } finally {
      if (!worker.isDead()) worker.kill('SIGKILL')
    }
  })

  it('that cannot open its model sends the failure and exits 1', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'mlship-cluster-child-'))
    const worker = forkChild()
    try {
      // model.yaml as the primary read it, naming a model file that is not there.
      const options = await childOptions({
        project: {...(await loadConfig(IRIS)), modelPath: path.join(empty, 'model.onnx')},
      })
      const messages: ChildMessage[] = []
      worker.on('message', (message: ChildMessage) => {
        messages.push(message)
        if (message.type === 'mlship:waiting') worker.send({options, type: 'mlship:start'})
      })
      const [code] = (await once(worker, 'exit')) as [number | null]
      expect(messages.map((message) => message.type)).toEqual(['mlship:waiting', 'mlship:failed'])
      expect(code).toBe(1)
    } finally {
      if (!worker.isDead()) worker.kill('SIGKILL')
      await rm(empty, {force: true, recursive: true})
    }
  })
})

describe('rehearse', () => {
  it('starts a process on a model without a primary, answers its probes, a prediction and metrics, and stops', async () => {
    // In this process (not a cluster worker: importing the module starts nothing).
    const {rehearse} = await import('./cluster-child.js')
    await expect(rehearse(IRIS)).resolves.toBeUndefined()
  })
})
