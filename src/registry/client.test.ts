import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {beforeAll, describe, expect, it} from 'vitest'

import {
  MANIFEST_MEDIA_TYPES,
  nextPage,
  parseChallenge,
  RegistryClient,
  registryErrorText,
  sha256Digest,
} from './client.js'
import {assertDigest, assertManifestReference, isDigest, isTag} from './reference.js'

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

  it('reads any case, unquoted values, escaped quotes and the error of an insufficient scope', () => {
    expect(
      parseChallenge(
        'BEARER Realm="https://auth.example/token" , service=registry.example,scope="repository:a/b:pull,push",error="insufficient_scope",note="say \\"hi\\""',
      ),
    ).toEqual({
      params: {
        error: 'insufficient_scope',
        note: 'say "hi"',
        realm: 'https://auth.example/token',
        scope: 'repository:a/b:pull,push',
        service: 'registry.example',
      },
      scheme: 'bearer',
    })
    expect(parseChallenge('basic')).toEqual({params: {}, scheme: 'basic'})
  })
})

describe('nextPage', () => {
  it('finds the rel="next" target of a Link header, quoted or not, among other relations', () => {
    expect(nextPage('</v2/team/iris/tags/list?last=1.1.0&n=2>; rel="next"')).toBe(
      '/v2/team/iris/tags/list?last=1.1.0&n=2',
    )
    expect(nextPage('<https://r.example/v2/x/tags/list?last=b>;rel=next')).toBe(
      'https://r.example/v2/x/tags/list?last=b',
    )
    expect(nextPage('</v2/x/tags/list?last=a>; rel="prev", </v2/x/tags/list?last=c>; rel="next"')).toBe(
      '/v2/x/tags/list?last=c',
    )
    expect(nextPage('</v2/x/tags/list?last=a>; rel="prev"')).toBeUndefined()
    expect(nextPage(null)).toBeUndefined()
  })
})

describe('registryErrorText', () => {
  it("gives the first error of the registry's JSON body, else the start of whatever it sent", () => {
    const body = JSON.stringify({
      errors: [
        {code: 'DIGEST_INVALID', detail: {}, message: 'provided digest did not match uploaded content'},
        {code: 'OTHER', message: 'second'},
      ],
    })
    expect(registryErrorText(body)).toBe('DIGEST_INVALID: provided digest did not match uploaded content')
    expect(registryErrorText('{"errors": [{"code": "UNAUTHORIZED"}]}')).toBe('UNAUTHORIZED')
    expect(registryErrorText('  <html>bad gateway</html>\n')).toBe('<html>bad gateway</html>')
    expect(registryErrorText('x'.repeat(500))).toBe('x'.repeat(200))
    expect(registryErrorText('')).toBeUndefined()
  })
})

describe('digests and tags', () => {
  it('accepts sha256 and sha512 digests of lowercase hex only, and tags of the distribution grammar', () => {
    expect(isDigest(`sha256:${'a'.repeat(64)}`)).toBe(true)
    expect(isDigest(`sha512:${'0'.repeat(128)}`)).toBe(true)
    for (const bad of [
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(63)}`,
      'sha256:abc',
      `md5:${'a'.repeat(32)}`,
      '',
    ]) {
      expect(isDigest(bad), bad).toBe(false)
    }
    expect(['1.0.0', '2.1.0-rc.1', 'latest', '_x', 'a'.repeat(128)].every(isTag)).toBe(true)
    expect(['.x', '-x', 'a/b', 'a:b', 'a'.repeat(129), ''].some(isTag)).toBe(false)
  })

  it('refuses a digest from a registry answer that is not one (exit 6), and a reference that is neither (exit 2)', () => {
    expect(() => assertDigest('sha256:../../x', 'config digest')).toThrow(
      expect.objectContaining({code: 'DIGEST_INVALID', exitCode: 6, message: expect.stringMatching(/^config digest/)}),
    )
    expect(() => assertManifestReference('1.0.0/../x', 'rollback target')).toThrow(
      expect.objectContaining({code: 'REFERENCE_INVALID', exitCode: 2}),
    )
    expect(() => assertManifestReference(`sha256:${'b'.repeat(64)}`, 'x')).not.toThrow()
  })
})

describe('sha256Digest', () => {
  it('is the OCI digest of the bytes', () => {
    expect(sha256Digest(Buffer.from('{}'))).toMatch(/^sha256:[a-f0-9]{64}$/)
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

describe("RegistryClient: the protocol, against registries of the test's own", () => {
  const noRetry = {attempts: 1, initialDelayMs: 0}

  it('gets a Bearer token from the realm for the scope it needs, with the credentials, and sends it', async () => {
    // Given a token service that wants Basic credentials, and a registry that accepts only its token
    const tokenRequests: Array<{query: Record<string, string>; authorization?: string}> = []
    const auth = await listen((request, response) => {
      const url = new URL(request.url!, 'http://x')
      tokenRequests.push({authorization: request.headers.authorization, query: Object.fromEntries(url.searchParams)})
      response.end(JSON.stringify({token: `token-for-${url.searchParams.get('scope')}`}))
    })
    const seen: string[] = []
    const registry = await listen((request, response) => {
      seen.push(`${request.method} ${request.url} ${request.headers.authorization ?? '-'}`)
      if (!request.headers.authorization?.startsWith('Bearer token-for-repository:team/iris:')) {
        response
          .writeHead(401, {'www-authenticate': `Bearer realm="${auth.url}/token",service="test-registry"`})
          .end('{"errors": [{"code": "UNAUTHORIZED"}]}')
        return
      }
      if (request.method === 'DELETE') response.writeHead(202).end()
      else response.writeHead(200, {'content-type': 'application/json'}).end('{"tags": ["1.0.0"]}')
    })
    try {
      const client = new RegistryClient({
        credentials: {password: 'secret', username: 'u'},
        host: registry.host,
        repository: 'team/iris',
        retry: noRetry,
      })
      // When it lists tags, then deletes a manifest
      expect(await client.tags()).toEqual(['1.0.0'])
      expect(await client.deleteManifest(`sha256:${'c'.repeat(64)}`)).toBe(true)
      // Then each action got its own token (pull; delete asks for *), with Basic credentials and the service
      const basic = `Basic ${Buffer.from('u:secret').toString('base64')}`
      expect(tokenRequests).toEqual([
        {authorization: basic, query: {scope: 'repository:team/iris:pull', service: 'test-registry'}},
        {authorization: basic, query: {scope: 'repository:team/iris:*', service: 'test-registry'}},
      ])
      expect(seen.filter((line) => line.includes('Bearer'))).toEqual([
        'GET /v2/team/iris/tags/list?n=1000 Bearer token-for-repository:team/iris:pull',
        `DELETE /v2/team/iris/manifests/sha256:${'c'.repeat(64)} Bearer token-for-repository:team/iris:*`,
      ])
    } finally {
      await Promise.all([auth.close(), registry.close()])
    }
  })

  it('trades an identity token for an access token (OAuth refresh), and reports a token that is refused (exit 6)', async () => {
    const forms: Array<Record<string, string>> = []
    const auth = await listen((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString()))
      request.on('end', () => {
        forms.push(Object.fromEntries(new URLSearchParams(body)))
        response.end('{"access_token": "not-good-enough"}')
      })
    })
    const registry = await listen((_request, response) => {
      response
        .writeHead(401, {'www-authenticate': `Bearer realm="${auth.url}/token",service="svc"`})
        .end('{"errors": [{"code": "DENIED", "message": "token rejected"}]}')
    })
    try {
      const client = new RegistryClient({
        credentials: {identityToken: 'refresh-me', username: ''},
        host: registry.host,
        repository: 'team/iris',
        retry: noRetry,
      })
      await expect(client.tags()).rejects.toMatchObject({
        code: 'REGISTRY_AUTH',
        exitCode: 6,
        message: `${registry.host} needs credentials (DENIED: token rejected)`,
      })
      expect(forms).toEqual([
        {
          client_id: 'mlship',
          grant_type: 'refresh_token',
          refresh_token: 'refresh-me',
          scope: 'repository:team/iris:pull',
          service: 'svc',
        },
      ])
    } finally {
      await Promise.all([auth.close(), registry.close()])
    }
  })

  it('follows the pages of the tag list to the end (distribution 3 pages by n and last)', async () => {
    const all = ['0.1.0', '0.2.0', '1.0.0', '1.1.0', '2.0.0']
    const requests: string[] = []
    const registry = await listen((request, response) => {
      requests.push(request.url!)
      const url = new URL(request.url!, 'http://x')
      const last = url.searchParams.get('last')
      const from = last ? all.indexOf(last) + 1 : 0
      const page = all.slice(from, from + 2)
      const headers: Record<string, string> = {'content-type': 'application/json'}
      if (from + 2 < all.length) headers.link = `</v2/team/iris/tags/list?last=${page.at(-1)}&n=2>; rel="next"`
      response.writeHead(200, headers).end(JSON.stringify({name: 'team/iris', tags: page}))
    })
    try {
      const client = new RegistryClient({host: registry.host, repository: 'team/iris', retry: noRetry})
      expect(await client.tags()).toEqual(all)
      expect(requests).toEqual([
        '/v2/team/iris/tags/list?n=1000',
        '/v2/team/iris/tags/list?last=0.2.0&n=2',
        '/v2/team/iris/tags/list?last=1.1.0&n=2',
      ])
    } finally {
      await registry.close()
    }
  })

  it('asks for every manifest media type, and takes the one the registry answers with', async () => {
    const accepts: string[] = []
    const answers: Array<{contentType?: string; body: object}> = [
      {body: {schemaVersion: 2}, contentType: `${MANIFEST_MEDIA_TYPES.ociIndex}; charset=utf-8`},
      {body: {mediaType: MANIFEST_MEDIA_TYPES.ociManifest, schemaVersion: 2}},
      {body: {schemaVersion: 2}},
    ]
    const registry = await listen((request, response) => {
      accepts.push(request.headers.accept ?? '')
      const answer = answers.shift()!
      const headers: Record<string, string> = answer.contentType ? {'content-type': answer.contentType} : {}
      response.writeHead(200, headers).end(JSON.stringify(answer.body))
    })
    try {
      const client = new RegistryClient({host: registry.host, repository: 'team/iris', retry: noRetry})
      const types = []
      for (let i = 0; i < 3; i++) {
        const fetched = (await client.manifest('1.0.0'))!
        // No Docker-Content-Digest header: the digest is computed over the bytes received.
        expect(fetched.digest).toBe(sha256Digest(fetched.raw))
        types.push(fetched.mediaType)
      }
      // The header first, then the manifest's own mediaType field, then Docker's v2 schema 2 (the oldest answer).
      expect(types).toEqual([
        MANIFEST_MEDIA_TYPES.ociIndex,
        MANIFEST_MEDIA_TYPES.ociManifest,
        MANIFEST_MEDIA_TYPES.dockerV2,
      ])
      for (const accept of accepts) {
        expect(accept.split(', ').sort()).toEqual(Object.values(MANIFEST_MEDIA_TYPES).sort())
      }
    } finally {
      await registry.close()
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
