import {Readable} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {EngineError, engineMessage, engineStatus} from './engine.js'
import {engineEvents, EngineStreamError, followEngineStream} from './stream.js'

function chunks(...parts: string[]): Readable {
  return Readable.from(parts.map((p) => Buffer.from(p)))
}

describe('followEngineStream', () => {
  it('parses JSON lines split anywhere across chunks', async () => {
    const events = await followEngineStream(
      engineEvents(
        chunks(
          '{"stream":"Step 1/2 : FROM x\\n"}\n{"str',
          'eam":" ---> Using cache\\n"}\n\n{"aux":{"ID":"sha256:ab"}}',
        ),
      ),
    )
    expect(events.map((e) => e.stream ?? e.aux)).toEqual([
      'Step 1/2 : FROM x\n',
      ' ---> Using cache\n',
      {ID: 'sha256:ab'},
    ])
  })

  it('rejects at the first {error, errorDetail} event with the engine message and what came before', async () => {
    const seen: unknown[] = []
    const error = await followEngineStream(
      engineEvents(
        chunks(
          '{"stream":"Step 2/3 : RUN exit 7\\n"}\n',
          '{"errorDetail":{"code":7,"message":"The command \'/bin/sh -c exit 7\' returned a non-zero code: 7"},"error":"The command \'/bin/sh -c exit 7\' returned a non-zero code: 7"}\n',
          '{"stream":"never seen"}\n',
        ),
      ),
      (event) => seen.push(event),
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EngineStreamError)
    expect((error as EngineStreamError).message).toBe("The command '/bin/sh -c exit 7' returned a non-zero code: 7")
    expect((error as EngineStreamError).events).toHaveLength(1)
    expect(seen).toHaveLength(1)
  })

  it('treats an event with only errorDetail as an error too', async () => {
    await expect(
      followEngineStream(
        engineEvents(chunks('{"errorDetail":{"message":"denied: requested access to the resource is denied"}}\n')),
      ),
    ).rejects.toThrow('denied: requested access')
  })
})

describe('EngineError', () => {
  it('carries what a dockerode error means and the engine message, whatever it was thrown from', () => {
    const conflict = EngineError.from(
      Object.assign(new Error('(HTTP code 409) unexpected - Conflict. The container name "/x" is already in use'), {
        json: {message: 'Conflict. The container name "/x" is already in use'},
        statusCode: 409,
      }),
    )
    expect(conflict).toBeInstanceOf(EngineError)
    expect(conflict.status).toBe('conflict')
    expect(conflict.message).toBe('Conflict. The container name "/x" is already in use')
    expect(engineStatus(conflict)).toBe('conflict')
    expect(engineMessage(conflict)).toBe(conflict.message)
    expect(EngineError.from(conflict)).toBe(conflict)
  })
})

describe('engine status codes', () => {
  it('maps 404, 304 and 409 and strips the dockerode prefix from messages', () => {
    const notFound = Object.assign(new Error('(HTTP code 404) no such container - No such container: abc'), {
      json: {message: 'No such container: abc'},
      statusCode: 404,
    })
    expect(engineStatus(notFound)).toBe('not-found')
    expect(engineStatus({statusCode: 304})).toBe('not-modified')
    expect(engineStatus({statusCode: 409})).toBe('conflict')
    expect(engineStatus({statusCode: 500})).toBe('error')
    expect(engineMessage(notFound)).toBe('No such container: abc')
    expect(engineMessage(new Error('(HTTP code 500) server error - boom'))).toBe('boom')
  })
})
