/**
 * One of the cluster layout's other HTTP processes (cluster-child.ts), forked with node:cluster by this test as the
 * first process: it serves the connections handed to it, and a process that fails to start reports why and exits 1.
 */
import cluster from 'node:cluster'
import {once} from 'node:events'
import {cp, mkdtemp, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../config/load.js'
import type {ChildMessage, ClusterChildOptions, PrimaryMessage} from './cluster-protocol.js'

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-child-entry.ts')
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

/** The options the first process sends: iris as loadConfig read it, logging nothing. */
async function childOptions(overrides: Partial<ClusterChildOptions> = {}): Promise<ClusterChildOptions> {
  return {
    extraKeys: [],
    host: '127.0.0.1',
    index: 2,
    logLevel: 'silent',
    logTo: 'stderr',
    port: 0,
    processes: 2,
    project: overrides.project ?? (await loadConfig(IRIS)),
    serving: {},
    ...overrides,
  }
}

describe('a cluster process', () => {
  it('serves model.yaml as the first process read it, without reading the file again', async () => {
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

  it("serves the connections handed to it (the port is the first process's)", async () => {
    const worker = forkChild()
    // This test is the first process: it accepts, and hands every connection on unread.
    const door = net.createServer({pauseOnConnect: true}, (socket) => {
      worker.send({type: 'mlship:connection'} satisfies PrimaryMessage, socket)
    })
    try {
      let listening = false
      worker.on('listening', () => (listening = true))
      const options = await childOptions()
      const warm = new Promise<ChildMessage>((resolve) => {
        worker.on('message', (message: ChildMessage) => {
          if (message.type === 'mlship:waiting') worker.send({options, type: 'mlship:start'})
          if (message.type === 'mlship:warm' || message.type === 'mlship:failed') resolve(message)
        })
      })
      expect((await warm).type).toBe('mlship:warm')
      door.listen(0, '127.0.0.1')
      await once(door, 'listening')
      const url = `http://127.0.0.1:${(door.address() as net.AddressInfo).port}`
      const answer = await fetch(`${url}/predict`, {
        body: '{"features": [[5.1, 3.5, 1.4, 0.2]]}',
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
      expect(answer.status).toBe(200)
      expect(((await answer.json()) as {labels: string[]}).labels).toEqual(['setosa'])
      expect((await fetch(`${url}/ready`)).status).toBe(200)
      expect(listening).toBe(false)
      worker.send({deadlineMs: 1000, type: 'mlship:stop'})
      const [code] = (await once(worker, 'exit')) as [number | null]
      expect(code).toBe(0)
    } finally {
      door.close()
      if (!worker.isDead()) worker.kill('SIGKILL')
    }
  })

  it('that cannot open its model sends the failure and exits 1', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'mlship-cluster-child-'))
    const worker = forkChild()
    try {
      // model.yaml as the first process read it, naming a model file that is not there.
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
  it("starts the cluster's first process on a model, answers its probes, a prediction and metrics, and stops", async () => {
    // In this process: importing the module starts nothing.
    const {rehearse} = await import('./image-server.js')
    await expect(rehearse(IRIS)).resolves.toBeUndefined()
  })
})
