import {runCommand} from '@oclif/test'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')

describe('a registry that wants credentials', () => {
  // A registry of the test's own: every request is answered 401 with a Basic challenge, as a private one does.
  let registry: Server
  let host: string
  beforeAll(async () => {
    registry = createServer((_request, response) => {
      response
        .writeHead(401, {'content-type': 'application/json', 'www-authenticate': 'Basic realm="test"'})
        .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    })
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve))
    host = `127.0.0.1:${(registry.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise((resolve) => registry.close(resolve)))
  afterEach(() => {
    process.exitCode = undefined
  })

  it('versions suggests the CI form of versions itself, not of push (exit 6)', async () => {
    const previous = process.env.DOCKER_CONFIG
    process.env.DOCKER_CONFIG = path.join(repoRoot, 'no-such-docker-config')
    try {
      const {stdout} = await runCommand(['versions', '--registry', `${host}/team/iris`, '--json'], {root: repoRoot})
      const {error} = JSON.parse(stdout) as {error: {code: string; exitCode: number; suggestions: string[]}}
      expect(error).toMatchObject({code: 'REGISTRY_AUTH', exitCode: 6})
      expect(error.suggestions).toContain(
        'In CI: echo "$REGISTRY_PASSWORD" | mlship versions --username "$REGISTRY_USERNAME" --password-stdin',
      )
      expect(error.suggestions.join('\n')).not.toContain('mlship push')
    } finally {
      if (previous === undefined) delete process.env.DOCKER_CONFIG
      else process.env.DOCKER_CONFIG = previous
    }
  })
})
