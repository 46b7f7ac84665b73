import {spawn} from 'node:child_process'
import {once} from 'node:events'
import net from 'node:net'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

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

async function waitReady(url: string, deadline = Date.now() + 60_000): Promise<void> {
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} never became ready`)
}

describe('the container entry (main.ts)', () => {
  it('serves MLSHIP_MODEL_DIR on PORT with JSON logs, and on SIGTERM finishes requests in flight and exits 0 within 10 s', async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    const url = `http://127.0.0.1:${port}`
    const {child, output} = startMain({MLSHIP_MODEL_DIR: path.join(root, 'test/fixtures/slow'), PORT: String(port)})
    try {
      await waitReady(url)
      const inFlight = Array.from({length: 3}, () =>
        fetch(`${url}/predict`, {
          body: JSON.stringify({inputs: {iterations: [150_000], x: [[1]]}}),
          headers: {'content-type': 'application/json'},
          method: 'POST',
        }).then(async (r) => ({body: await r.json(), status: r.status})),
      )
      await new Promise((resolve) => setTimeout(resolve, 150))
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
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    const url = `http://127.0.0.1:${port}`
    const {child} = startMain({MLSHIP_MODEL_DIR: path.join(root, 'examples/iris'), PORT: String(port)})
    let socket: net.Socket | undefined
    let trickle: NodeJS.Timeout | undefined
    try {
      await waitReady(url)
      socket = net.connect(port, '127.0.0.1')
      await once(socket, 'connect')
      socket.on('error', () => {})
      socket.write(
        'POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n',
      )
      trickle = setInterval(() => socket?.write('[['), 20)
      await new Promise((resolve) => setTimeout(resolve, 200))
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

  it('exits non-zero with one JSON line that says why when the model directory has no model.yaml', async () => {
    const {child, output} = startMain({MLSHIP_MODEL_DIR: path.join(root, 'no-such-model'), PORT: '0'})
    const [code] = (await once(child, 'exit')) as [number]
    expect(code).toBe(2)
    const line = JSON.parse(output().trim().split('\n').at(-1)!) as Record<string, unknown>
    expect(line).toMatchObject({code: 'CONFIG_NOT_FOUND', level: 60})
    expect(line.msg).toMatch(/no-such-model\/model.yaml: no such file/)
  })
})
