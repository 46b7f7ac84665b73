import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {beforeAll, describe, expect, it} from 'vitest'

import {parseChallenge, RegistryClient, sha256Digest} from './client.js'

describe('parseChallenge', () => {
  it('reads a Bearer challenge with quoted parameters (Docker Hub, GHCR)', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"',
      ),
    ).toEqual({
      params: {
        realm: 'https://auth.docker.io/token',
        scope: 'repository:library/node:pull',
        service: 'registry.docker.io',
      },
      scheme: 'bearer',
    })
  })

  it('reads a Basic challenge (distribution with htpasswd) and ignores unknown schemes', () => {
    expect(parseChallenge('Basic realm="mlship-test-registry"')).toEqual({
      params: {realm: 'mlship-test-registry'},
      scheme: 'basic',
    })
    expect(parseChallenge('Negotiate abc')).toBeUndefined()
    expect(parseChallenge(null)).toBeUndefined()
  })
})

describe('sha256Digest', () => {
  it('is the OCI digest of the bytes', () => {
    expect(sha256Digest(Buffer.from(''))).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    )
  })
})

describe('RegistryClient: what reaches a URL path', () => {
  // A loopback port where nothing listens: a request that got out would end as REGISTRY_UNREACHABLE, not as the
  // refusal each test expects.
  let closedHost: string
  beforeAll(async () => {
    const server = await listen(() => {})
    await server.close()
    closedHost = server.host
  })
  const offline = () =>
    new RegistryClient({host: closedHost, repository: 'team/iris', retry: {attempts: 1, initialDelayMs: 0}})

  it('refuses a manifest reference with path segments before any request (exit 2)', async () => {
    for (const reference of ['../../other/manifests/1.0.0', '1.0.0/../../x', '..', '.hidden', '1.0.0?x=1', '']) {
      await expect(offline().manifest(reference)).rejects.toMatchObject({code: 'REFERENCE_INVALID', exitCode: 2})
      await expect(offline().putManifest(reference, Buffer.from('{}'), 'x')).rejects.toMatchObject({
        code: 'REFERENCE_INVALID',
      })
    }
    await expect(offline().deleteManifest('sha256:../x')).rejects.toMatchObject({code: 'REFERENCE_INVALID'})
    await expect(offline().blobJson('../../x')).rejects.toMatchObject({code: 'DIGEST_INVALID'})
  })

  it('lets tags and digests through to the request', async () => {
    await expect(offline().manifest('1.0.0-rc.1')).rejects.toMatchObject({code: 'REGISTRY_UNREACHABLE'})
    await expect(offline().manifest(`sha256:${'a'.repeat(64)}`)).rejects.toMatchObject({code: 'REGISTRY_UNREACHABLE'})
  })

  it('refuses a repository or host outside the distribution grammar (exit 2)', () => {
    expect(() => new RegistryClient({host: '127.0.0.1:5000', repository: 'team/../other'})).toThrow(
      expect.objectContaining({code: 'REGISTRY_TARGET_INVALID', exitCode: 2}),
    )
    expect(() => new RegistryClient({host: 'evil.example/x?', repository: 'team/iris'})).toThrow(
      expect.objectContaining({code: 'REGISTRY_TARGET_INVALID'}),
    )
    expect(() => new RegistryClient({host: '127.0.0.1:5000', repository: ''})).not.toThrow()
  })

  it('follows a next page of tags only on the same registry and repository: credentials never go elsewhere', async () => {
    // Given a second server that records whatever reaches it, and a registry whose Link header points at it
    const elsewhere: string[] = []
    const thief = await listen((request, response) => {
      elsewhere.push(`${request.url} ${request.headers.authorization ?? ''}`)
      response.end('{"tags": ["stolen"]}')
    })
    const registry = await listen((request, response) => {
      if (request.headers.authorization === undefined) {
        response.writeHead(401, {'www-authenticate': 'Basic realm="test"'}).end()
        return
      }
      response.writeHead(200, {
        'content-type': 'application/json',
        link: `<${thief.url}/v2/team/iris/tags/list?n=1>; rel="next"`,
      })
      response.end('{"tags": ["1.0.0"]}')
    })
    try {
      const client = new RegistryClient({
        credentials: {password: 'secret', username: 'u'},
        host: registry.host,
        repository: 'team/iris',
        retry: {attempts: 1, initialDelayMs: 0},
      })
      // When the tags are listed, Then the client stops with an error and the other server saw nothing
      await expect(client.tags()).rejects.toMatchObject({code: 'REGISTRY_ERROR', exitCode: 6})
      expect(elsewhere).toEqual([])
    } finally {
      await Promise.all([thief.close(), registry.close()])
    }
  })
})

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{host: string; url: string; close: () => Promise<void>}> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
  }
}
