import http from 'node:http'
import net, {type Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

import {SharedConnections} from './shared-connections.js'

/** An HTTP server that listens nowhere and answers `name` on every connection it is given. */
function answering(name: string) {
  const server = http.createServer((_request, response) => response.end(name))
  return (socket: Socket) => {
    server.emit('connection', socket)
    socket.resume()
  }
}

/** One request on a connection of its own, the request written as soon as it connects; the answer's body. */
function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () =>
      socket.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
    )
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
    socket.on('end', () => resolve(text.split('\r\n\r\n')[1] ?? ''))
    socket.on('error', reject)
  })
}

let shared: SharedConnections | undefined
afterEach(() => shared?.close())

describe('SharedConnections', () => {
  it('serves every connection itself until another process takes its turn, then hands them round', async () => {
    shared = new SharedConnections(answering('first'))
    const port = await shared.listen('127.0.0.1', 0)
    expect([await ask(port), await ask(port)]).toEqual(['first', 'first'])
    shared.add(2, {hand: async (socket) => (answering('second')(socket), true)})
    shared.add(3, {hand: async (socket) => (answering('third')(socket), true)})
    const answers = []
    for (let i = 0; i < 6; i++) answers.push(await ask(port))
    expect(answers.sort()).toEqual(['first', 'first', 'second', 'second', 'third', 'third'])
    shared.remove(3)
    const after = []
    for (let i = 0; i < 4; i++) after.push(await ask(port))
    expect(after.sort()).toEqual(['first', 'first', 'second', 'second'])
  })

  it('hands a connection on paused, unread: the request sent at once reaches the process that serves it, whole', async () => {
    shared = new SharedConnections(answering('first'))
    const port = await shared.listen('127.0.0.1', 0)
    // Not a byte read here, nor to be read here: what is read here would be lost to another process.
    const later = answering('second')
    const unread: boolean[] = []
    shared.add(2, {
      hand: async (socket) => {
        unread.push(socket.bytesRead === 0 && socket.readableFlowing === false)
        later(socket)
        return true
      },
    })
    expect((await Promise.all([ask(port), ask(port)])).sort()).toEqual(['first', 'second'])
    expect(unread).toEqual([true])
  })

  it('serves a connection itself where the other process could not take it', async () => {
    shared = new SharedConnections(answering('first'))
    const port = await shared.listen('127.0.0.1', 0)
    shared.add(2, {hand: async () => false})
    shared.add(3, {hand: () => Promise.reject(new Error('channel closed'))})
    expect([await ask(port), await ask(port), await ask(port)]).toEqual(['first', 'first', 'first'])
  })

  it('accepts no connection once closed', async () => {
    shared = new SharedConnections(answering('first'))
    const port = await shared.listen('127.0.0.1', 0)
    shared.close()
    await expect(ask(port)).rejects.toMatchObject({code: 'ECONNREFUSED'})
  })

  it('says so when the port is taken', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1')
    await new Promise((resolve) => taken.once('listening', resolve))
    shared = new SharedConnections(answering('first'))
    await expect(shared.listen('127.0.0.1', (taken.address() as net.AddressInfo).port)).rejects.toMatchObject({
      code: 'EADDRINUSE',
    })
    taken.close()
  })
})
