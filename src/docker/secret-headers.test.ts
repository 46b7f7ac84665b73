import Docker from 'dockerode'
import {createServer, type IncomingHttpHeaders} from 'node:http'
import {format, inspect} from 'node:util'
import {describe, expect, it} from 'vitest'

import {redactRegistryHeaders, type DialingModem, SecretHeaderValue} from './secret-headers.js'

describe('SecretHeaderValue', () => {
  it('keeps its text for the wire and shows [redacted] to inspect, format and JSON', () => {
    const value = new SecretHeaderValue('c2VjcmV0')
    expect(String(value)).toBe('c2VjcmV0')
    const options = {headers: {'X-Registry-Auth': value}}
    expect(inspect(options, {depth: null, showHidden: true})).not.toContain('c2VjcmV0')
    expect(format('%s %o %O %j', value, options, options, options)).not.toContain('c2VjcmV0')
    expect(JSON.stringify(options)).toBe('{"headers":{"X-Registry-Auth":"[redacted]"}}')
  })
})

describe('redactRegistryHeaders', () => {
  it('sends the X-Registry-Auth header docker-modem would send', async () => {
    // An HTTP listener that records the request headers, where docker-modem is told the engine is.
    const seen: IncomingHttpHeaders[] = []
    const listener = createServer((request, response) => {
      seen.push(request.headers)
      response.writeHead(200, {'content-type': 'application/json'}).end('{}')
    })
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const {port} = listener.address() as {port: number}
    try {
      const auth = {password: 'p+/?ss', serveraddress: 'registry:5000', username: 'me'}
      const plain = new Docker({host: '127.0.0.1', port, protocol: 'http'})
      const redacted = new Docker({host: '127.0.0.1', port, protocol: 'http'})
      redactRegistryHeaders(redacted.modem as unknown as DialingModem)
      for (const docker of [plain, redacted]) {
        const stream = await docker.getImage('x:1').push({authconfig: auth})
        stream.resume()
      }
      expect(seen).toHaveLength(2)
      expect(seen[1]!['x-registry-auth']).toBe(seen[0]!['x-registry-auth'])
      expect(JSON.parse(Buffer.from(seen[1]!['x-registry-auth'] as string, 'base64url').toString())).toEqual(auth)
    } finally {
      listener.close()
    }
  })
})
