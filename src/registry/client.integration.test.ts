/**
 * The Registry API v2 client against the real registry that scripts/test-registry.sh starts (distribution with
 * htpasswd auth): the Basic challenge, manifests of each media type stored and read back byte for byte under the
 * digest of their bytes, config blobs, tags, deletes. No Docker engine needed (the blobs are uploaded through the API),
 * so the whole file takes a second or two. Distribution 2.8 sends the whole tag list at once: the pages of the Link
 * header are tested against a registry of the test's own in client.test.ts.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {MANIFEST_MEDIA_TYPES, RegistryClient, sha256Digest} from './client.js'
import {deleteRepository, registryTestEnv, uniqueRepository} from './test-support/env.js'

const env = registryTestEnv({engine: false})

describe.skipIf(!env)('the Registry API v2 client against the real registry', () => {
  const registry = env!
  const repository = uniqueRepository('client')
  const basic = () => `Basic ${Buffer.from(`${registry.user}:${registry.password}`).toString('base64')}`
  const client = (options: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) =>
    new RegistryClient({
      credentials: {password: registry.password, username: registry.user},
      host: registry.host,
      repository,
      retry: {attempts: 1, initialDelayMs: 0},
      ...options,
    })

  /** A monolithic blob upload (POST, then PUT with the digest), as the distribution spec describes it. */
  async function uploadBlob(bytes: Buffer): Promise<{digest: string; size: number}> {
    const digest = sha256Digest(bytes)
    const start = await fetch(`http://${registry.host}/v2/${repository}/blobs/uploads/`, {
      headers: {authorization: basic()},
      method: 'POST',
    })
    expect(start.status).toBe(202)
    const location = new URL(start.headers.get('location')!, `http://${registry.host}`)
    location.searchParams.set('digest', digest)
    const put = await fetch(location, {
      body: new Uint8Array(bytes),
      headers: {authorization: basic(), 'content-type': 'application/octet-stream'},
      method: 'PUT',
    })
    expect(put.status).toBe(201)
    return {digest, size: bytes.length}
  }

  const config = {architecture: 'amd64', config: {Labels: {'org.opencontainers.image.revision': 'abc'}}, os: 'linux'}
  let configBlob: {digest: string; size: number}
  let layerBlob: {digest: string; size: number}

  /** A manifest of one media type, indented 3 spaces: a client that re-serialised it would change its digest. */
  function imageManifest(mediaType: string): Buffer {
    const oci = mediaType === MANIFEST_MEDIA_TYPES.ociManifest
    const manifest = {
      config: {
        ...configBlob,
        mediaType: oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
      },
      layers: [
        {
          ...layerBlob,
          mediaType: oci
            ? 'application/vnd.oci.image.layer.v1.tar+gzip'
            : 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        },
      ],
      mediaType,
      schemaVersion: 2,
    }
    return Buffer.from(JSON.stringify(manifest, null, 3))
  }

  beforeAll(async () => {
    configBlob = await uploadBlob(Buffer.from(JSON.stringify(config)))
    layerBlob = await uploadBlob(Buffer.from(`a layer of ${repository}`))
  })

  afterAll(async () => {
    await deleteRepository(registry, repository)
  })

  it('answers the Basic challenge with the credentials, and says whose credentials were rejected (exit 6)', async () => {
    await expect(client().ping()).resolves.toBeUndefined()
    await expect(client({credentials: {password: 'wrong', username: registry.user}}).ping()).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      exitCode: 6,
      message: expect.stringMatching(new RegExp(`^${registry.host} rejected the credentials of "${registry.user}"`)),
    })
    await expect(client({credentials: undefined}).ping()).rejects.toMatchObject({
      code: 'REGISTRY_AUTH',
      message: expect.stringContaining(`${registry.host} needs credentials`),
    })
  })

  it('stores each manifest media type and reads it back byte for byte, under the digest of its bytes', async () => {
    const digests: Record<string, string> = {}
    for (const mediaType of [MANIFEST_MEDIA_TYPES.dockerV2, MANIFEST_MEDIA_TYPES.ociManifest]) {
      const raw = imageManifest(mediaType)
      const tag = mediaType === MANIFEST_MEDIA_TYPES.ociManifest ? 'oci' : 'docker'
      const digest = await client().putManifest(tag, raw, mediaType)
      expect(digest).toBe(sha256Digest(raw))
      digests[mediaType] = digest
      for (const reference of [tag, digest]) {
        const fetched = await client().manifest(reference)
        expect(fetched?.mediaType).toBe(mediaType)
        expect(fetched?.digest).toBe(digest)
        expect(fetched?.raw.equals(raw)).toBe(true)
        expect(fetched?.manifest.layers?.[0]?.digest).toBe(layerBlob.digest)
      }
      expect(await client().manifestDigest(tag)).toBe(digest)
    }

    // Indexes (multi-platform images) of both families, pointing at the manifests above
    for (const [mediaType, child] of [
      [MANIFEST_MEDIA_TYPES.ociIndex, MANIFEST_MEDIA_TYPES.ociManifest],
      [MANIFEST_MEDIA_TYPES.dockerList, MANIFEST_MEDIA_TYPES.dockerV2],
    ] as const) {
      const raw = Buffer.from(
        JSON.stringify({
          manifests: [
            {
              digest: digests[child],
              mediaType: child,
              platform: {architecture: 'amd64', os: 'linux'},
              size: imageManifest(child).length,
            },
          ],
          mediaType,
          schemaVersion: 2,
        }),
      )
      const tag = mediaType === MANIFEST_MEDIA_TYPES.ociIndex ? 'oci-index' : 'docker-list'
      const digest = await client().putManifest(tag, raw, mediaType)
      const fetched = await client().manifest(tag)
      expect(fetched).toMatchObject({digest, mediaType})
      expect(fetched?.manifest.manifests?.[0]?.digest).toBe(digests[child])
    }
    expect(await client().manifest('no-such-tag')).toBeUndefined()
    expect(await client().manifestDigest('no-such-tag')).toBeUndefined()
  })

  it('reads a config blob by its digest', async () => {
    expect(await client().blobJson(configBlob.digest)).toEqual(config)
  })

  it('cannot store a manifest under a digest that is not the digest of its bytes', async () => {
    const raw = imageManifest(MANIFEST_MEDIA_TYPES.dockerV2)
    const other = sha256Digest(Buffer.concat([raw, Buffer.from(' ')]))
    await expect(client().putManifest(other, raw, MANIFEST_MEDIA_TYPES.dockerV2)).rejects.toMatchObject({
      code: 'REGISTRY_ERROR',
      exitCode: 6,
      message: expect.stringMatching(/PUT manifest sha256:[a-f0-9]{64} failed: DIGEST_INVALID/),
    })
    expect(await client().manifest(other)).toBeUndefined()
  })

  it('lists every tag of the repository, and none of a repository that does not exist', async () => {
    const raw = imageManifest(MANIFEST_MEDIA_TYPES.dockerV2)
    const versions = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.0.1']
    for (const version of versions) await client().putManifest(version, raw, MANIFEST_MEDIA_TYPES.dockerV2)
    const tags = await client().tags()
    expect(tags).toEqual(expect.arrayContaining(['docker', 'oci', 'oci-index', 'docker-list', ...versions]))
    expect(new Set(tags).size).toBe(tags.length)
    expect(await client({repository: `${repository}-none`}).tags()).toEqual([])
  })

  it('deletes a manifest by digest, its tags with it; a second delete finds nothing', async () => {
    const raw = Buffer.from(
      imageManifest(MANIFEST_MEDIA_TYPES.dockerV2).toString().replace('{', '{\n "annotations": {"x": "deleted"},'),
    )
    const digest = await client().putManifest('to-delete', raw, MANIFEST_MEDIA_TYPES.dockerV2)
    expect(await client().deleteManifest(digest)).toBe(true)
    expect(await client().manifest('to-delete')).toBeUndefined()
    expect(await client().tags()).not.toContain('to-delete')
    expect(await client().deleteManifest(digest)).toBe(false)
  })
})
