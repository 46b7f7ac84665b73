import {describe, expect, it} from 'vitest'

import {splitReference} from '../build/build-image.js'
import {stripCredentials} from '../build/git.js'
import {containerHostConfig, demuxBuffer} from './container.js'

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

describe('splitReference', () => {
  it.each([
    ['iris:1.0.0', 'iris', '1.0.0'],
    ['127.0.0.1:5000/team/iris:2.0.0', '127.0.0.1:5000/team/iris', '2.0.0'],
    ['127.0.0.1:5000/iris', '127.0.0.1:5000/iris', 'latest'],
  ])('%s', (reference, repo, tag) => {
    expect(splitReference(reference)).toEqual({repo, tag})
  })
})

describe('stripCredentials', () => {
  it('never lets a token from a remote URL into a label', () => {
    expect(stripCredentials('https://user:ghp_secret@github.com/org/repo.git')).toBe('https://github.com/org/repo.git')
    expect(stripCredentials('git@github.com:org/repo.git')).toBe('github.com:org/repo.git')
  })
})

describe('containerHostConfig', () => {
  it('publishes on 127.0.0.1 by default and lets the engine pick the port for 0', () => {
    expect(containerHostConfig({containerPort: 8080, hostPort: 0})).toEqual({
      PortBindings: {'8080/tcp': [{HostIp: '127.0.0.1', HostPort: ''}]},
    })
  })
  it('passes GPUs as DeviceRequests, as docker run --gpus does', () => {
    expect(containerHostConfig({containerPort: 8080, gpus: 'all', hostPort: 9000}).DeviceRequests).toEqual([
      {Capabilities: [['gpu']], Count: -1, Driver: ''},
    ])
    expect(containerHostConfig({containerPort: 8080, gpus: 2, hostPort: 9000}).DeviceRequests?.[0]?.Count).toBe(2)
  })
})
