import {spawn, spawnSync} from 'node:child_process'
import {once} from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import pino from 'pino'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {createLogger, isoTimeEachMillisecond, LOG_BUFFER_BYTES, LOG_FLUSH_MS} from './logger.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** What pino writes to: sonic-boom, which ends the writes in flight and then closes the descriptor it was given. */
interface Destination {
  once(event: 'close', listener: () => void): unknown
  end(): void
}

describe('createLogger', () => {
  let dir: string
  let fd: number
  let destinations: Destination[]
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlship-logger-'))
    fd = fs.openSync(path.join(dir, 'log'), 'w')
    destinations = []
  })
  afterEach(async () => {
    vi.useRealTimers()
    // The logger's destination owns the descriptor once it has one: closing it under a write still in flight made
    // that write throw EBADF after the test had passed (an unhandled error that failed a CI run).
    if (destinations.length === 0) fs.closeSync(fd)
    for (const destination of destinations) {
      await new Promise<void>((resolve) => {
        destination.once('close', resolve)
        destination.end()
      })
    }
    fs.rmSync(dir, {force: true, recursive: true})
  })
  const logTo = (descriptor: number) => {
    const logger = createLogger('info', descriptor)
    destinations.push((logger as unknown as Record<symbol, Destination>)[pino.symbols.streamSym]!)
    return logger
  }
  const lines = () =>
    fs
      .readFileSync(path.join(dir, 'log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)

  it('holds a few lines, then writes them whole and in order when the flush interval comes', async () => {
    vi.useFakeTimers({toFake: ['setInterval']})
    const logger = logTo(fd)
    for (let i = 0; i < 3; i++) logger.info({n: i}, 'request')
    expect(lines()).toEqual([])
    vi.advanceTimersByTime(LOG_FLUSH_MS)
    await vi.waitFor(() => expect(lines()).toHaveLength(3))
    expect(lines().map((line) => [line.level, line.msg, line.n])).toEqual([
      [30, 'request', 0],
      [30, 'request', 1],
      [30, 'request', 2],
    ])
    expect(lines()[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  })

  it('writes once LOG_BUFFER_BYTES have collected, without waiting for the interval', async () => {
    vi.useFakeTimers({toFake: ['setInterval']})
    const logger = logTo(fd)
    const padding = 'x'.repeat(200)
    const count = Math.ceil(LOG_BUFFER_BYTES / padding.length) + 1
    for (let i = 0; i < count; i++) logger.info({n: i, padding}, 'request')
    await vi.waitFor(() => expect(lines().length).toBeGreaterThan(0))
    expect(lines()[0]!.n).toBe(0)
  })

  it('writes the lines still held when the process exits', () => {
    const file = path.join(dir, 'exit-log')
    const script = [
      "import fs from 'node:fs'",
      "import {createLogger} from './src/serving/logger.ts'",
      `const logger = createLogger('info', fs.openSync(${JSON.stringify(file)}, 'w'))`,
      "logger.error({code: 'MODEL_INVALID'}, 'cannot start')",
      'process.exit(3)',
    ].join('\n')
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(child.status, child.stderr).toBe(3)
    const [line] = fs.readFileSync(file, 'utf8').split('\n')
    expect(JSON.parse(line!)).toMatchObject({code: 'MODEL_INVALID', level: 50, msg: 'cannot start'})
  })

  it('lets a process exit whose stdout has no reader any more (a closed pipe): the held lines are dropped', async () => {
    // sonic-boom 4 retried such a write every 100 ms at exit, for ever: a server piped into a reader that went away
    // never exited on SIGTERM.
    const script = [
      "import {createLogger} from './src/serving/logger.ts'",
      "const logger = createLogger('info')",
      "process.stdin.once('data', () => {",
      "  logger.info('shutting down')",
      '  process.exit(0)',
      '})',
    ].join('\n')
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    try {
      child.stdout.destroy()
      child.stdin.write('stop\n')
      // A hang fails the test by its timeout.
      const [code] = (await once(child, 'exit')) as [number | null]
      expect(code).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  }, 20_000)
})

describe('isoTimeEachMillisecond', () => {
  afterEach(() => vi.useRealTimers())

  it("is pino's isoTime, to the byte", () => {
    vi.useFakeTimers({now: Date.UTC(2026, 10, 30, 20, 45, 1, 7)})
    expect(isoTimeEachMillisecond()()).toBe(pino.stdTimeFunctions.isoTime())
    expect(isoTimeEachMillisecond()()).toBe(',"time":"2026-11-30T20:45:01.007Z"')
  })

  it('formats again when the millisecond changes', () => {
    let now = Date.UTC(2026, 0, 1, 0, 0, 0, 999)
    const time = isoTimeEachMillisecond(() => now)
    expect(time()).toBe(',"time":"2026-01-01T00:00:00.999Z"')
    expect(time()).toBe(',"time":"2026-01-01T00:00:00.999Z"')
    now += 1
    expect(time()).toBe(',"time":"2026-01-01T00:00:01.000Z"')
  })
})
