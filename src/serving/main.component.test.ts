/**
 * The container's process (main.ts) under SIGTERM with real work in flight: it must finish what it holds and exit 0
 * within its 10 s limit, a wall-clock contract (component tests: a machine busy enough stretches the inferences).
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {readSample} from '../monitoring/test-support/exposition.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')

/** The container's process (main.ts), run as a child process the way the image runs it, from source. */
function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/serving/main.ts')], {
    cwd: root,
    env: {...process.env, HOST: '127.0.0.1', ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return {child, output: () => output}
}

/** The port main.ts logs in its 'ready' line (it listens on an ephemeral one). */
async function readyPort(output: () => string, child: ChildProcess): Promise<number> {
  for (;;) {
    for (const line of output().split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line) as {msg?: string; container_port?: number}
      if (entry.msg === 'ready' && entry.container_port) return entry.container_port
    }
    if (child.exitCode !== null)
      throw new Error(`main.ts exited with ${child.exitCode} before it was ready:\n${output()}`)
    await Promise.race([once(child.stdout!, 'data'), once(child, 'exit')])
  }
}

/** Requests the server has received on POST /predict: those in flight (the scrape itself aside) and those answered. */
async function predictRequests(url: string): Promise<{inFlight: number; answered: number}> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const answered = readSample(text, 'mlship_http_requests_total', {route: '/predict', status: '200'}) ?? 0
  return {answered, inFlight: readSample(text, 'mlship_http_requests_in_flight')! - 1}
}

describe('the container entry (main.ts) under SIGTERM', () => {
  it('serves MLSHIP_MODEL_DIR on PORT with JSON logs, and on SIGTERM finishes requests in flight and exits 0 within 10 s', async () => {
    const {child, output} = startMain({MLSHIP_MODEL_DIR: path.join(root, 'test/fixtures/slow'), PORT: '0'})
    try {
      const port = await readyPort(output, child)
      const url = `http://127.0.0.1:${port}`
      const inFlight = Array.from({length: 3}, () =>
        fetch(`${url}/predict`, {
          body: JSON.stringify({inputs: {iterations: [100_000], x: [[1]]}}),
          headers: {'content-type': 'application/json'},
          method: 'POST',
        }).then(async (r) => ({body: await r.json(), status: r.status})),
      )
      // SIGTERM once the server has all three (one worker runs them one after the other, so some are still running)
      let received = await predictRequests(url)
      while (received.inFlight + received.answered < 3) received = await predictRequests(url)
      expect(received.inFlight).toBeGreaterThan(0)
      const stopAt = Date.now()
      child.kill('SIGTERM')
      const results = await Promise.all(inFlight)
      expect(results.map((r) => r.status)).toEqual([200, 200, 200])
      const [code] = (await once(child, 'exit')) as [number]
      expect(code).toBe(0)
      expect(Date.now() - stopAt).toBeLessThan(10_000)
      const lines = output()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
      const ready = lines.find((l) => l.msg === 'ready')
      expect(ready).toMatchObject({container_port: port, execution_provider: 'cpu'})
      // The port inside the container is not an address to give anyone: no URL, and a word on where to look.
      expect(JSON.stringify(ready)).not.toMatch(/http:\/\//)
      expect(ready!.note).toMatch(/this container's; from the host, use the address `mlship serve` prints/)
      expect(lines.filter((l) => l.route === '/predict' && l.status === 200)).toHaveLength(3)
      expect(lines.at(-1)!.msg).toBe('stopped')
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('does not let a client that sends its body two bytes at a time hold up SIGTERM', async () => {
    const {child, output} = startMain({MLSHIP_MODEL_DIR: path.join(root, 'examples/iris'), PORT: '0'})
    let socket: net.Socket | undefined
    let trickle: NodeJS.Timeout | undefined
    try {
      const port = await readyPort(output, child)
      const url = `http://127.0.0.1:${port}`
      socket = net.connect(port, '127.0.0.1')
      await once(socket, 'connect')
      socket.on('error', () => {})
      socket.write(
        'POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n',
      )
      trickle = setInterval(() => socket?.write('[['), 20)
      // SIGTERM once the server has the request: its body is what is still arriving.
      while ((await predictRequests(url)).inFlight < 1);
      child.kill('SIGTERM')
      const [code] = (await once(child, 'exit')) as [number]
      // Before: the stalled upload held the server until the 9 s limit, and it exited 1 ("still in flight").
      expect(code).toBe(0)
    } finally {
      clearInterval(trickle)
      socket?.destroy()
      child.kill('SIGKILL')
    }
  })
})
