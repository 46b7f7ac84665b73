/**
 * DEBUG=* turns on docker-modem's request log, which prints every header it sends. A real `mlship push` with a
 * password, its whole stderr captured: the password must not be in it, in clear or in any base64 form.
 */
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {
  deleteRepository,
  mlship,
  removeLocalReferences,
  REPO_ROOT,
  registryTestEnv,
  uniqueRepository,
} from '../registry/test-support/env.js'
import {baseImageForTests, EngineCleanup, engineForTests} from './test-support/engine.js'

const registry = registryTestEnv()
const {engine, skipReason} = await engineForTests()

describe.skipIf(!registry || !engine)(
  `registry credentials under DEBUG=*${skipReason ? ` (${skipReason})` : ''}`,
  () => {
    const env = registry!
    const repository = uniqueRepository('debug')
    const name = path.basename(repository)
    let dir: string
    let cleanup: EngineCleanup

    beforeAll(async () => {
      cleanup = new EngineCleanup(engine!)
      dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-debug-'))
      await cp(path.join(REPO_ROOT, 'examples/iris'), dir, {recursive: true})
      const yaml = path.join(dir, 'model.yaml')
      await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/^name: .*$/m, `name: ${name}`))
      cleanup.image(`${name}:1.0.0`)
      cleanup.image(`${name}:latest`)
    })

    afterAll(async () => {
      await cleanup.run()
      await deleteRepository(env, repository)
      await removeLocalReferences(`${env.host}/${repository}`)
      if (dir) await rm(dir, {force: true, recursive: true})
    })

    it('push --password-stdin prints the X-Registry-Auth header redacted, and the password nowhere', async () => {
      const result = await mlship(
        [
          'push',
          dir,
          '--registry',
          `${env.host}/${repository}`,
          '--base-image',
          await baseImageForTests(engine!),
          '--username',
          env.user,
          '--password-stdin',
          '--json',
        ],
        {env: {...process.env, DEBUG: '*', DOCKER_CONFIG: dir}, input: `${env.password}\n`},
      )
      expect(result.exitCode, result.stderr.slice(-2000)).toBe(0)
      const everything = `${result.stdout}\n${result.stderr}`
      expect(everything).not.toContain(env.password)
      expect(decodedBase64Tokens(everything).filter((text) => text.includes(env.password))).toEqual([])
      // Progress is on stderr under --json too: a line per layer state, no terminal redraws.
      expect(result.stderr).toMatch(/^ {2}[0-9a-f]{12} {2}(pushed|already in the registry)/m)
      // And the log was on: docker-modem printed the push request and its auth header.
      expect(result.stderr).toMatch(/X-Registry-Auth'?: '\[redacted\]'/)
    })
  },
)

/** Every run of base64 or base64url characters long enough to hide a credential, decoded. */
function decodedBase64Tokens(text: string): string[] {
  return (text.match(/[A-Za-z0-9+/_-]{16,}={0,2}/g) ?? []).map((token) =>
    Buffer.from(token.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'),
  )
}
