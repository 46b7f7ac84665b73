import {describe, expect, it} from 'vitest'

import {containerHostConfig, demuxBuffer} from './dockerode-engine.js'

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text)
  const header = Buffer.alloc(8)
  header[0] = stream
  header.writeUInt32BE(body.length, 4)
  return Buffer.concat([header, body])
}

describe('demuxBuffer', () => {
  it('joins the frames of stdout and stderr in order', () => {
    expect(demuxBuffer(Buffer.concat([frame(1, 'listening\n'), frame(2, 'warn\n'), frame(1, 'ready\n')]))).toBe(
      'listening\nwarn\nready\n',
    )
  })
  it('passes raw TTY output through', () => {
    expect(demuxBuffer(Buffer.from('plain'))).toBe('plain')
  })
})

describe('containerHostConfig', () => {
  it('publishes on the address given and lets the engine pick the port for 0', () => {
    expect(containerHostConfig({publish: {containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0}})).toEqual({
      PortBindings: {'8080/tcp': [{HostIp: '127.0.0.1', HostPort: ''}]},
    })
    expect(containerHostConfig({publish: {containerPort: 8080, hostIp: '0.0.0.0', hostPort: 9000}})).toEqual({
      PortBindings: {'8080/tcp': [{HostIp: '0.0.0.0', HostPort: '9000'}]},
    })
  })
  it('makes the root file system read-only when asked (docker run --read-only)', () => {
    expect(containerHostConfig({readOnlyRootFilesystem: true}).ReadonlyRootfs).toBe(true)
    expect(containerHostConfig({}).ReadonlyRootfs).toBeUndefined()
  })
  it('passes GPUs as DeviceRequests, as docker run --gpus does', () => {
    expect(containerHostConfig({gpus: 'all'}).DeviceRequests).toEqual([
      {Capabilities: [['gpu']], Count: -1, Driver: ''},
    ])
    expect(containerHostConfig({gpus: 2}).DeviceRequests?.[0]?.Count).toBe(2)
  })
})
