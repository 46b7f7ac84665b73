import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {ExitCode, MlshipError} from '../errors.js'
import {type FetchedManifest, sha256Digest} from './client.js'
import {type Clock, isInternalTag, type ManifestBytes, removeTag, tagOnce, type TagStore} from './tag-once.js'

/**
 * A registry in memory with the semantics tagOnce relies on: a tag points to one manifest, DELETE by digest removes
 * the manifest and every tag pointing to it. Every call takes 1 ms of (fake) time, so concurrent calls interleave.
 */
class MemoryRegistry implements TagStore {
  readonly tagMap = new Map<string, string>()
  readonly manifests = new Map<string, FetchedManifest>()
  constructor(private readonly options: {deletes?: boolean} = {}) {}

  private async tick(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 1))
  }

  async tags(): Promise<string[]> {
    await this.tick()
    return [...this.tagMap.keys()]
  }

  async manifest(reference: string): Promise<FetchedManifest | undefined> {
    await this.tick()
    const digest = reference.startsWith('sha256:') ? reference : this.tagMap.get(reference)
    return digest ? this.manifests.get(digest) : undefined
  }

  async manifestDigest(reference: string): Promise<string | undefined> {
    return (await this.manifest(reference))?.digest
  }

  async putManifest(reference: string, raw: Buffer, mediaType: string): Promise<string> {
    await this.tick()
    const digest = sha256Digest(raw)
    this.manifests.set(digest, {digest, manifest: JSON.parse(raw.toString('utf8')), mediaType, raw})
    this.tagMap.set(reference, digest)
    return digest
  }

  async deleteManifest(digest: string): Promise<boolean> {
    await this.tick()
    if (this.options.deletes === false)
      throw new MlshipError('DELETE manifest failed: UNSUPPORTED', {exitCode: ExitCode.registry})
    if (!this.manifests.delete(digest)) return false
    for (const [tag, target] of this.tagMap) if (target === digest) this.tagMap.delete(tag)
    return true
  }
}

const fakeClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

function image(model: string): ManifestBytes {
  const raw = Buffer.from(
    JSON.stringify({
      config: {
        digest: sha256Digest(Buffer.from(model)),
        mediaType: 'application/vnd.oci.image.config.v1+json',
        size: 2,
      },
      layers: [],
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      schemaVersion: 2,
    }),
  )
  return {mediaType: 'application/vnd.oci.image.manifest.v1+json', raw}
}

/** A fixed sequence of "random" numbers, repeated. */
function sequence(...values: number[]): () => number {
  let i = 0
  return () => values[i++ % values.length]!
}

describe('tagOnce', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  async function run<T>(promise: Promise<T>): Promise<T> {
    const settled = promise.then(
      (value) => ({value}),
      (error: unknown) => ({error}),
    )
    await vi.runAllTimersAsync()
    const result = await settled
    if ('error' in result) throw result.error
    return result.value
  }

  it('creates an absent version tag and leaves no tag of its own behind', async () => {
    const registry = new MemoryRegistry()
    const manifest = image('model A')
    const result = await run(tagOnce({clock: fakeClock, image: 'r/iris', manifest, store: registry, tag: '1.0.0'}))
    expect(result).toMatchObject({digest: sha256Digest(manifest.raw), outcome: 'created', rounds: 1})
    expect([...registry.tagMap.keys()]).toEqual(['1.0.0'])
    expect(registry.tagMap.get('1.0.0')).toBe(sha256Digest(manifest.raw))
  })

  it('leaves a version that already points to the same manifest, refuses another one (exit 6) unless forced', async () => {
    const registry = new MemoryRegistry()
    const a = image('model A')
    const b = image('model B')
    const options = {clock: fakeClock, image: 'r/iris', store: registry, tag: '1.0.0'}
    await run(tagOnce({...options, manifest: a}))
    expect(await run(tagOnce({...options, manifest: a}))).toMatchObject({outcome: 'unchanged'})
    await expect(run(tagOnce({...options, manifest: b}))).rejects.toMatchObject({
      code: 'VERSION_EXISTS',
      exitCode: 6,
    })
    expect(registry.tagMap.get('1.0.0')).toBe(sha256Digest(a.raw))
    const forced = await run(tagOnce({...options, force: true, manifest: b}))
    expect(forced).toMatchObject({outcome: 'replaced', previousDigest: sha256Digest(a.raw)})
    expect([...registry.tagMap.keys()]).toEqual(['1.0.0'])
  })

  it('of two pushes of different images under one version at once, exactly one wins; the other fails with exit 6', async () => {
    for (const [randomA, randomB] of [
      [sequence(0.1, 0.2, 0.3), sequence(0.9, 0.8, 0.7)],
      [sequence(0.5), sequence(0.5, 0.1)],
      [sequence(0.7, 0.01), sequence(0.3, 0.6)],
    ]) {
      const registry = new MemoryRegistry()
      const a = image('model A')
      const b = image('model B')
      const options = {clock: fakeClock, image: 'r/iris', store: registry, tag: '1.0.0'}
      const outcomes = await run(
        Promise.allSettled([
          tagOnce({...options, manifest: a, random: randomA}),
          tagOnce({...options, manifest: b, random: randomB}),
        ]),
      )
      const won = outcomes.filter((o) => o.status === 'fulfilled')
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
      expect(won).toHaveLength(1)
      expect(lost).toHaveLength(1)
      expect(lost[0]!.reason).toMatchObject({exitCode: 6})
      expect(['VERSION_EXISTS', 'VERSION_BUSY']).toContain((lost[0]!.reason as MlshipError).code)
      const winner = outcomes[0].status === 'fulfilled' ? a : b
      expect(registry.tagMap.get('1.0.0')).toBe(sha256Digest(winner.raw))
      expect([...registry.tagMap.keys()]).toEqual(['1.0.0'])
    }
  })

  it('waits out a live claim of another push, then gives up with VERSION_BUSY; a stale claim does not count', async () => {
    const registry = new MemoryRegistry()
    const a = image('model A')
    const options = {attempts: 3, clock: fakeClock, image: 'r/iris', manifest: a, store: registry, tag: '1.0.0'}
    // Another push's claim, written just now (its name carries the time), never withdrawn
    const key = (await import('node:crypto')).createHash('sha256').update('1.0.0').digest('hex').slice(0, 12)
    const rival = `mlship-claim-${key}-${Date.now().toString(36)}-zz`
    await run(registry.putManifest(rival, image('model B').raw, a.mediaType))
    await expect(run(tagOnce(options))).rejects.toMatchObject({code: 'VERSION_BUSY', exitCode: 6})
    expect(registry.tagMap.has('1.0.0')).toBe(false)

    // Two minutes later it is the claim of a push that died: it no longer blocks
    vi.setSystemTime(Date.now() + 121_000)
    expect(await run(tagOnce(options))).toMatchObject({outcome: 'created'})
  })

  it('where the registry refuses DELETE, a withdrawn claim is marked released and blocks nobody', async () => {
    const registry = new MemoryRegistry({deletes: false})
    const options = {clock: fakeClock, image: 'r/iris', store: registry, tag: '1.0.0'}
    expect(await run(tagOnce({...options, manifest: image('model A')}))).toMatchObject({rounds: 1})
    expect(await run(tagOnce({...options, manifest: image('model A')}))).toMatchObject({
      outcome: 'unchanged',
      rounds: 1,
    })
    expect([...registry.tagMap.keys()].filter(isInternalTag)).toHaveLength(2)
  })
})

describe('removeTag', () => {
  it('removes a temporary tag without touching the version tag that points to the same image', async () => {
    vi.useFakeTimers()
    try {
      const registry = new MemoryRegistry()
      const manifest = image('model A')
      const put = Promise.all([
        registry.putManifest('mlship-push-x', manifest.raw, manifest.mediaType),
        registry.putManifest('1.0.0', manifest.raw, manifest.mediaType),
      ])
      await vi.runAllTimersAsync()
      await put
      const removed = removeTag(registry, 'mlship-push-x', manifest)
      await vi.runAllTimersAsync()
      expect(await removed).toBe(true)
      expect([...registry.tagMap.entries()]).toEqual([['1.0.0', sha256Digest(manifest.raw)]])
    } finally {
      vi.useRealTimers()
    }
  })
})
