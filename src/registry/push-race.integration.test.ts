import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildImage} from '../image/build-image.js'
import {baseImageForTests, engineForTests} from '../docker/test-support/engine.js'
import {RegistryClient} from './client.js'
import type {MlshipError} from '../errors.js'
import {push, type PushResult} from './push.js'
import {slowManifestProxy} from './test-support/slow-proxy.js'
import {
  deleteRepository,
  removeLocalReferences,
  REPO_ROOT,
  registryTestEnv,
  retag,
  uniqueRepository,
} from './test-support/env.js'

const registry = registryTestEnv()
const {engine, skipReason} = await engineForTests()

describe.skipIf(!registry || !engine)(
  `two pushes of one version at once, against the real registry${skipReason ? ` (${skipReason})` : ''}`,
  () => {
    const repository = uniqueRepository('race')
    const target = registry ? `${registry.host}/${repository}` : ''
    const dirs: string[] = []
    let baseImage: string
    const proxied: string[] = []

    beforeAll(async () => {
      baseImage = await baseImageForTests(engine!)
      // Given two different models (different bytes) with the same name and version, each already built, so that the
      // two pushes reach the registry at the same moment
      for (const note of ['model A', 'model B']) {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-race-'))
        await cp(path.join(REPO_ROOT, 'examples/iris'), dir, {recursive: true})
        const model = path.join(dir, 'model.onnx')
        await writeFile(model, retag(await readFile(model), `${note} ${repository}`))
        await buildImage({baseImage, dir, engine: engine!, tags: [`${target}:${note.replace(' ', '-')}`]})
        dirs.push(dir)
      }
    }, 300_000)

    afterAll(async () => {
      if (registry) await deleteRepository(registry, repository)
      for (const name of [target, ...proxied]) await removeLocalReferences(name)
      for (const dir of dirs) await rm(dir, {force: true, recursive: true})
    })

    it('exactly one creates the version; the other fails with exit 6 and leaves no tag of its own', async () => {
      // When both are pushed at once (in this process: two CLI processes would start seconds apart on a busy machine),
      // through a link that takes 1.5 s to deliver a manifest PUT (mlship's claims excepted: they are what is tested)
      const proxy = await slowManifestProxy({
        delayMs: 1500,
        holdBack: (reference) => !reference.startsWith('mlship-claim-'),
        upstream: registry!.host,
      })
      proxied.push(`${proxy.host}/${repository}`)
      let results: Array<PromiseSettledResult<PushResult>>
      try {
        results = await Promise.allSettled(
          dirs.map((dir) =>
            push({
              baseImages: {all: baseImage, byPlatform: {}},
              credentials: {password: registry!.password, username: registry!.user},
              dir,
              engine: engine!,
              target: {host: proxy.host, repository},
            }),
          ),
        )
      } finally {
        await proxy.close()
      }
      // Then one succeeds and the other is refused with exit 6
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      expect(won, String(lost.map((l) => l.reason as Error))).toHaveLength(1)
      expect(lost).toHaveLength(1)
      expect(lost[0]!.reason).toMatchObject({exitCode: 6})
      expect(['VERSION_EXISTS', 'VERSION_BUSY', 'VERSION_RACE']).toContain((lost[0]!.reason as MlshipError).code)
      const {digest} = won[0]!.value

      // And the registry holds the winner's image under the version, with no claim or temporary tag left
      const client = new RegistryClient({
        credentials: {password: registry!.password, username: registry!.user},
        host: registry!.host,
        repository,
      })
      expect(await client.manifestDigest('1.0.0')).toBe(digest)
      expect((await client.tags()).sort()).toEqual(['1.0.0', 'latest'])
    })
  },
)
