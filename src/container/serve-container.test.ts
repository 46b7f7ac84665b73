import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {memoryEngine, type MemoryEngine} from '../docker/test-support/memory-engine.js'
import type {MlshipError} from '../errors.js'
import {containerEnv, imagePort, type ServedContainer, serveInContainer} from './serve-container.js'

function engineWith(image: {exposedPorts?: string[]; env?: string[]}): MemoryEngine {
  const engine = memoryEngine()
  engine.images.add({...image, references: ['iris:1.0.0']})
  return engine
}

describe('containerEnv', () => {
  const env = {
    HOME: '/root',
    MLSHIP_API_KEYS: 'default-variable-key-0001',
    TEAM_KEYS: 'named-variable-key-0002',
    UNSET: '',
  }

  it("passes on the variable model.yaml names and MLSHIP_API_KEYS, nothing else of mlship's environment", () => {
    expect(containerEnv(env, 'TEAM_KEYS')).toEqual({
      MLSHIP_API_KEYS: 'default-variable-key-0001',
      TEAM_KEYS: 'named-variable-key-0002',
    })
    expect(containerEnv(env, undefined)).toEqual({MLSHIP_API_KEYS: 'default-variable-key-0001'})
  })

  it('passes on no empty or unset variable (the server would read an empty one as "no keys")', () => {
    expect(containerEnv(env, 'UNSET')).toEqual({MLSHIP_API_KEYS: 'default-variable-key-0001'})
    expect(containerEnv({HOME: '/root'}, 'TEAM_KEYS')).toEqual({})
  })

  it('passes on LOG_LEVEL and LOG_REQUESTS_PER_SECOND, which serve --local reads from the same environment', () => {
    expect(containerEnv({...env, LOG_LEVEL: 'debug', LOG_REQUESTS_PER_SECOND: 'all'}, undefined)).toEqual({
      LOG_LEVEL: 'debug',
      LOG_REQUESTS_PER_SECOND: 'all',
      MLSHIP_API_KEYS: 'default-variable-key-0001',
    })
  })
})

describe('serveInContainer with logging variables the server would refuse', () => {
  it.each([
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL_INVALID'],
    ['LOG_REQUESTS_PER_SECOND', 'many', 'LOG_REQUESTS_PER_SECOND_INVALID'],
  ])('%s=%s: exit 2 before any container starts (it would never become ready)', async (name, value, code) => {
    const engine = engineWith({exposedPorts: ['8080/tcp']})
    const error = (await serveInContainer({
      detach: true,
      dir: '.',
      engine,
      env: {[name]: value},
      image: 'iris:1.0.0',
      port: 0,
    }).catch((e: unknown) => e)) as MlshipError
    expect(error).toMatchObject({code, exitCode: 2})
    expect(error.message).toContain(`${name}="${value}"`)
    expect(engine.containers.running()).toEqual([])
  })
})

describe('imagePort', () => {
  it("is the image's first exposed TCP port, else its PORT variable, else 8080", async () => {
    expect(await imagePort(engineWith({exposedPorts: ['9090/udp', '9000/tcp']}), 'iris:1.0.0')).toBe(9000)
    expect(await imagePort(engineWith({env: ['NODE_ENV=production', 'PORT=7000']}), 'iris:1.0.0')).toBe(7000)
    expect(await imagePort(engineWith({}), 'iris:1.0.0')).toBe(8080)
  })
})

describe('serveInContainer on the memory engine, with an image given', () => {
  /** Serves in the foreground; `whenReady` plays what happens to the container once it is ready. */
  async function serve(engine: MemoryEngine, whenReady: (served: ServedContainer) => void) {
    const stdout = new PassThrough()
    let output = ''
    stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const result = await serveInContainer({
      dir: '.',
      engine,
      image: 'iris:1.0.0',
      logs: {stderr: new PassThrough(), stdout},
      onReady: (served) => queueMicrotask(() => whenReady(served)),
      port: 0,
    }).catch((error: unknown) => error)
    return {output, result}
  }

  it('--detach: leaves the container running and says where', async () => {
    const engine = engineWith({exposedPorts: ['8080/tcp']})
    const result = await serveInContainer({detach: true, dir: '.', engine, image: 'iris:1.0.0', port: 0})
    expect(result).toMatchObject({detached: true, image: 'iris:1.0.0', mode: 'container'})
    expect(result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(engine.containers.running()).toEqual([result.container.id])
  })

  it('a container stopped from elsewhere (exit code 0) ends serve normally, and is removed', async () => {
    const engine = engineWith({exposedPorts: ['8080/tcp']})
    const {output, result} = await serve(engine, (served) => {
      engine.containers.write(served.container.id, '{"msg":"listening"}\n')
      engine.containers.exit(served.container.id, 0)
    })
    expect(result).toMatchObject({detached: false, stoppedBy: 'external'})
    expect(output).toBe('{"msg":"listening"}\n')
    expect(engine.containers.ids()).toEqual([])
  })

  it('a container that stops on its own: exit 5 with its exit code, out of memory said, last log lines', async () => {
    const engine = engineWith({exposedPorts: ['8080/tcp']})
    const {result} = await serve(engine, (served) => {
      engine.containers.write(served.container.id, 'allocating\n')
      engine.containers.exit(served.container.id, 137, {oomKilled: true})
    })
    const error = result as MlshipError
    expect(error).toMatchObject({code: 'CONTAINER_EXITED', details: {exitCode: 137, oomKilled: true}, exitCode: 5})
    expect(error.message).toBe(
      'The container of iris:1.0.0 stopped on its own (exit code 137, out of memory).\nLast log lines:\n  | allocating',
    )
    expect(engine.containers.ids()).toEqual([])
  })
})
