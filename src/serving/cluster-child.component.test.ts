/**
 * One HTTP process of the cluster layout (cluster-child.ts), forked with node:cluster by this test as its primary:
 * a process that fails to start reports why and exits 1.
 */
import cluster from 'node:cluster'
import {once} from 'node:events'
import {mkdtemp, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'

import type {ChildMessage, ClusterChildOptions} from './cluster-protocol.js'

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-child.ts')

describe('a cluster process', () => {
  it('that cannot open its model sends the failure and exits 1', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'mlship-cluster-child-'))
    cluster.setupPrimary({
      args: [],
      exec: child,
      execArgv: ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href],
      silent: true,
    })
    const worker = cluster.fork()
    try {
      const options: ClusterChildOptions = {
        dir: empty,
        extraKeys: [],
        host: '127.0.0.1',
        index: 1,
        logLevel: 'silent',
        logTo: 'stderr',
        port: 0,
        processes: 1,
        serving: {},
      }
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
