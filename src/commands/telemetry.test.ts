import {execa} from 'execa'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {builtCli, type CliCopy} from '../../test/test-support/cli-copy.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

/** onnxruntime suppresses its telemetry by itself where one of these says "CI": the child must look like a laptop. */
const CI_VARIABLES = [
  'CI',
  'TF_BUILD',
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'TRAVIS',
  'JENKINS_URL',
  'CODEBUILD_BUILD_ID',
  'BUILDKITE',
  'TEAMCITY_VERSION',
  'APPVEYOR',
  'BITBUCKET_BUILD_NUMBER',
  'SYSTEM_TEAMFOUNDATIONCOLLECTIONURI',
  'ORT_RUNNING_UNIT_TESTS',
]

describe("onnxruntime's telemetry", () => {
  let cli: CliCopy
  beforeAll(async () => {
    cli = await builtCli()
  })
  afterAll(() => cli?.remove())

  let home: string | undefined
  afterEach(async () => {
    if (home) await rm(home, {force: true, recursive: true})
  })

  /** A laptop-like environment with its own HOME. */
  async function freshHome(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
    home = await mkdtemp(path.join(os.tmpdir(), 'mlship-home-'))
    const inherited = Object.entries(process.env).filter(
      ([name]) => !CI_VARIABLES.includes(name) && name !== 'ORT_DISABLE_TELEMETRY',
    )
    // Without vitest's NODE_ENV=test, as a user's shell runs mlship (oclif would look for TypeScript sources).
    const user = inherited.filter(([name]) => name !== 'NODE_ENV')
    return {...Object.fromEntries(user), HOME: home, XDG_CACHE_HOME: path.join(home, '.cache'), ...extra}
  }

  async function predictWithHome(extra: NodeJS.ProcessEnv = {}): Promise<string[]> {
    const env = await freshHome(extra)
    const result = await execa(cli.bin, ['predict', 'examples/iris', '--example', '--json'], {
      cwd: repoRoot,
      env,
      extendEnv: false,
      reject: false,
    })
    expect(result.exitCode, result.stderr).toBe(0)
    return (await readdir(home!, {recursive: true})).sort()
  }

  it('is off in a command that opens a model: nothing is queued under ~/.cache', async () => {
    expect(await predictWithHome()).toEqual([])
  })

  it('is off in serve --local', async () => {
    const env = await freshHome()
    const server = execa(cli.bin, ['serve', 'examples/iris', '--local', '--host', '127.0.0.1', '--port', '0'], {
      cwd: repoRoot,
      env,
      extendEnv: false,
      reject: false,
    })
    // Serving is announced once the model is loaded in every worker.
    await new Promise<void>((resolve, reject) => {
      server.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Serving ')) resolve()
      })
      server.on('exit', () => reject(new Error('serve --local exited before serving')))
    })
    server.kill('SIGTERM')
    await server
    expect((await readdir(home!, {recursive: true})).sort()).toEqual([])
  })

  it('stays as the user set it (ORT_DISABLE_TELEMETRY=0 leaves onnxruntime its default)', async () => {
    expect(await predictWithHome({ORT_DISABLE_TELEMETRY: '0'})).toContain(
      path.join('.cache', 'Microsoft', 'DeveloperTools', '.onnxruntime', 'deviceid'),
    )
  })
})
