import {mkdtemp, rm} from 'node:fs/promises'
import {type AddressInfo} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {serveInProcess} from './serve-in-process.js'
import {IRIS_MODEL, writeProject} from './test-support/servers.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')
const IRIS = path.join(root, 'examples/iris')

describe('serveInProcess', () => {
  it('stops gracefully at Ctrl-C, and leaves no signal listener behind once stopped', async () => {
    const listeners = () => process.listenerCount('SIGINT') + process.listenerCount('SIGTERM')
    const before = listeners()
    const stopping: string[] = []
    const result = await serveInProcess({
      dir: IRIS,
      insideContainer: () => false,
      // Emitted, not sent: the listeners run, and the test process is not signalled.
      onListening: () => setImmediate(() => process.emit('SIGINT', 'SIGINT')),
      onStopping: (signal) => stopping.push(signal),
      port: 0,
      workers: 1,
    })
    expect(result.stoppedBy).toBe('SIGINT')
    expect(stopping).toEqual(['SIGINT'])
    expect(listeners()).toBe(before)
  })

  it('listens on 127.0.0.1 by default, so the model and /metrics stay on this machine', async () => {
    let address: AddressInfo | undefined
    const result = await serveInProcess({
      dir: IRIS,
      insideContainer: () => false,
      port: 0,
      until: (server) => {
        address = server.server!.app.server.address() as AddressInfo
        return Promise.resolve('test')
      },
      workers: 1,
    })
    expect(address?.address).toBe('127.0.0.1')
    expect(result.host).toBe('127.0.0.1')
    expect(result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(result.hint).toBeUndefined()
  })

  it('says how to share the server when 127.0.0.1 is a container of its own, and warns when it is shared', async () => {
    const inContainer = await serveInProcess({
      dir: IRIS,
      insideContainer: () => true,
      port: 0,
      until: () => Promise.resolve('test'),
      workers: 1,
    })
    expect(inContainer.hint).toMatch(/inside a container: a published port does not reach it; --host 0\.0\.0\.0/)
    const shared = await serveInProcess({
      dir: IRIS,
      host: '0.0.0.0',
      port: 0,
      until: () => Promise.resolve('test'),
      workers: 1,
    })
    expect(shared.host).toBe('0.0.0.0')
    expect(shared.hint).toMatch(/other machines on the network can reach the model and \/metrics/)
  })

  it('lists the routes with serving.auth.docs protected, and does not warn about a shared server with keys on', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-serve-in-process-'))
    const variable = `MLSHIP_TEST_KEYS_${process.pid}`
    process.env[variable] = 'a-key-of-the-test-0123456789'
    try {
      const dir = await writeProject(work, 'iris', {
        model: {file: IRIS_MODEL},
        serving: {auth: {docs: 'protected', enabled: true, keys_env: variable}},
      })
      let unauthenticated: number | undefined
      const result = await serveInProcess({
        dir,
        host: '0.0.0.0',
        port: 0,
        until: async (server) => {
          unauthenticated = (await fetch(`${server.url}/`)).status
          return 'test'
        },
        workers: 1,
      })
      expect(unauthenticated).toBe(401)
      expect(result.routes).toContain('POST /predict')
      expect(result.hint).toBeUndefined()
    } finally {
      Reflect.deleteProperty(process.env, variable)
      await rm(work, {force: true, recursive: true})
    }
  })
})
