import {spawn} from 'node:child_process'
import {once} from 'node:events'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {builtCli, type CliCopy} from '../../test/test-support/cli-copy.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')

let cli: CliCopy
beforeAll(async () => {
  cli = await builtCli()
})
afterAll(() => cli?.remove())

/** The container's process (main.ts), run as a child process the way the image runs it: compiled, without tsx. */
function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, [path.join(cli.root, 'dist/serving/main.js')], {
    cwd: root,
    env: {...process.env, HOST: '127.0.0.1', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return {child, output: () => output}
}

describe('the container entry (main.ts)', () => {
  it('exits non-zero with one JSON line that says why when the model directory has no model.yaml', async () => {
    const {child, output} = startMain({MLSHIP_MODEL_DIR: path.join(root, 'no-such-model'), PORT: '0'})
    const [code] = (await once(child, 'exit')) as [number]
    expect(code).toBe(2)
    const line = JSON.parse(output().trim().split('\n').at(-1)!) as Record<string, unknown>
    expect(line).toMatchObject({code: 'CONFIG_NOT_FOUND', level: 60})
    expect(line.msg).toMatch(/no-such-model\/model.yaml: no such file/)
  })
})
