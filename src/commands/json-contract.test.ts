import {runCommand} from '@oclif/test'
import {execa} from 'execa'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {builtCli, type CliCopy, productionEnv} from '../../test/test-support/cli-copy.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const iris = path.join(repoRoot, 'examples/iris')

afterEach(() => {
  process.exitCode = undefined
})

let cli: CliCopy
beforeAll(async () => {
  cli = await builtCli()
})
afterAll(() => cli?.remove())

describe('--json: one small error object on stdout, whatever went wrong', () => {
  it.each([
    [['build', iris, '--bogus'], 'Nonexistent flag: --bogus'],
    [['build', iris, '--platform', 'windows/386'], '--platform "windows/386": unknown platform "windows/386"'],
    [['predict', iris, '--input', 'rows.csv'], 'All of the following must be provided when using --input: --output'],
    [['push', iris, 'extra-arg'], 'Unexpected argument: extra-arg'],
    [['bench', iris, '--rate', 'fast'], 'Expected an integer but received: fast'],
  ])('mlship %j --json', async (args, message) => {
    const {stdout} = await runCommand([...args, '--json'], {root: repoRoot})
    expect(stdout.length).toBeLessThan(1000)
    const {error} = JSON.parse(stdout) as {error: Record<string, unknown>}
    expect(Object.keys(error).sort()).toEqual(['code', 'exitCode', 'message', 'name', 'suggestions'])
    expect(error).toMatchObject({code: 'INVALID_USAGE', exitCode: 2})
    expect(error.message).toContain(message)
    expect(process.exitCode).toBe(2)
  })

  it('has the same keys as a model.yaml error', async () => {
    const {stdout} = await runCommand(['validate', path.join(repoRoot, 'no-such-dir'), '--json'], {root: repoRoot})
    const {error} = JSON.parse(stdout) as {error: Record<string, unknown>}
    expect(error).toMatchObject({code: 'CONFIG_NOT_FOUND', exitCode: 2})
    expect(Object.keys(error)).toEqual(expect.arrayContaining(['code', 'exitCode', 'message', 'name', 'suggestions']))
  })
})

describe('an unknown command', () => {
  it('says which command was meant, exits 2, and answers --json with the error object', async () => {
    const human = await execa(cli.bin, ['buidl', iris], {env: productionEnv(), extendEnv: false, reject: false})
    expect(human.exitCode).toBe(2)
    expect(human.stderr).toContain('mlship has no command "buidl". Did you mean "mlship build"?')

    const json = await execa(cli.bin, ['valdiate', '--json'], {env: productionEnv(), extendEnv: false, reject: false})
    expect(json.exitCode).toBe(2)
    expect(JSON.parse(json.stdout)).toEqual({
      error: {
        code: 'UNKNOWN_COMMAND',
        exitCode: 2,
        message: 'mlship has no command "valdiate". Did you mean "mlship validate"?',
        name: 'UnknownCommand',
        suggestions: ['Run `mlship --help` for the list of commands.'],
      },
    })

    const far = await execa(cli.bin, ['frobnicate'], {env: productionEnv(), extendEnv: false, reject: false})
    expect(far.stderr).toContain('mlship has no command "frobnicate".')
    expect(far.stderr).not.toContain('Did you mean')
  })
})

describe('serve --local --json', () => {
  it('writes JSON lines on stdout (ready, then stopped) and the server log on stderr', {timeout: 60_000}, async () => {
    const server = execa(cli.bin, ['serve', iris, '--local', '--host', '127.0.0.1', '--port', '0', '--json'], {
      env: productionEnv(),
      extendEnv: false,
      reject: false,
    })
    const ready = await new Promise<{url: string}>((resolve, reject) => {
      let text = ''
      server.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString()
        const line = text.split('\n')[0]
        if (text.includes('\n')) resolve(JSON.parse(line!) as {url: string})
      })
      server.on('exit', () => reject(new Error(`serve exited before it was ready: ${text}`)))
    })
    expect(ready).toMatchObject({event: 'ready', model: 'iris-classifier'})
    expect((await fetch(`${ready.url}/health`)).status).toBe(200)
    server.kill('SIGTERM')
    const {exitCode, stderr, stdout} = await server
    expect(exitCode).toBe(0)
    const events = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as {event: string})
    expect(events.map((e) => e.event)).toEqual(['ready', 'stopped'])
    expect(events[1]).toMatchObject({stoppedBy: 'SIGTERM', url: ready.url})
    // The server's own log lines (pino JSON, a "msg" each) are on stderr.
    expect(stderr).toMatch(/"msg":"request"/)
  })
})
