import {execa} from 'execa'
import {createConnection, createServer} from 'node:net'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '..')

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({host: '127.0.0.1', port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('scripts/quickstart.sh', () => {
  it('stops the server it started, so that a second run works the same', {timeout: 240_000}, async () => {
    const port = await freePort()
    for (const run of [1, 2]) {
      const result = await execa('bash', ['scripts/quickstart.sh'], {
        cwd: repoRoot,
        env: {PORT: String(port)},
        reject: false,
        timeout: 110_000,
      })
      expect(result.exitCode, `run ${run}:\n${result.stdout}\n${result.stderr}`).toBe(0)
      expect(result.stdout).toContain('"predictions"')
      expect(await listening(port), `run ${run} left its server listening on port ${port}`).toBe(false)
    }
  })
})
