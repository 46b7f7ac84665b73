import {describe, expect, it} from 'vitest'

import {parseChallenge, sha256Digest} from './client.js'

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
