import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {BenchResult} from '../bench/bench.js'

const root = path.resolve(import.meta.dirname, '../..')
const DEV = path.join(root, 'bin/dev.js')

/** The CLI as a user runs it, in a process of its own: Ctrl-C is a real SIGINT. */
function mlship(args: string[]) {
  return execa(DEV, args, {cwd: root, env: {CI: '', DISPLAY: ''}, reject: false})
}

describe('mlship bench --ui (the command, in its own process)', () => {
  let server: Server
  let endpoint: string
  let tmp: string
  let payload: string
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'mlship-bench-ui-cli-'))
    payload = path.join(tmp, 'body.json')
    await writeFile(payload, '{"features": [[1, 2, 3, 4]]}')
    server = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.end('{"predictions": [1]}'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await rm(tmp, {force: true, recursive: true})
  })

  // The CLI starts from its TypeScript sources (bin/dev.js): seconds of start-up on a busy machine.
  it(
    'prints the page URL, serves the live load until Ctrl-C, then stops cleanly and reports the session',
    {timeout: 120_000},
    async () => {
      const cli = mlship(['bench', '--url', endpoint, '--payload', payload, '--ui', '--rate', '30', '--json'])
      // Given the page is up (its URL on stderr)
      let stderr = ''
      const pageUrl = await new Promise<string>((resolve, reject) => {
        cli.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString()
          const found = /Live page: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)
          if (found) resolve(found[1]!)
        })
        void cli.then(() => reject(new Error(`mlship exited before the page was up:\n${stderr}`)))
      })
      // And the load runs at the rate asked for, held long enough to be a step of its own
      let achieved = 0
      for (let i = 0; i < 40 && achieved < 25; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        const snapshot = (await (await request(new URL('/api/snapshot', pageUrl))).body.json()) as {
          history: Array<{window: {achievedRps: number}}>
        }
        achieved = snapshot.history.at(-1)?.window.achievedRps ?? 0
      }
      expect(achieved).toBeGreaterThanOrEqual(25)
      await new Promise((resolve) => setTimeout(resolve, 1500))

      // When Ctrl-C
      cli.kill('SIGINT')
      const done = await cli

      // Then it exits 0 with the session as bench's --json result, and the page is gone
      expect(done.exitCode, done.stderr).toBe(0)
      expect(done.stderr).toContain('Stopping: the load, the servers and the page')
      const result = JSON.parse(done.stdout) as BenchResult
      expect(result.target).toEqual({kind: 'url', method: 'POST', url: endpoint})
      expect(result.mode).toBe('fixed-rate')
      expect(result.runs[0]!.steps.map((step) => step.offeredRps)).toContain(30)
      await expect(request(pageUrl)).rejects.toThrow()
    },
  )
})
