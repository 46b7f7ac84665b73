import {execa} from 'execa'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {gitInfo, stripCredentials} from './git.js'

describe('stripCredentials', () => {
  it.each([
    ['https://github.com/org/repo.git?access_token=ghp_secret', 'https://github.com/org/repo.git'],
    [
      'https://user:ghp_secret@github.com/org/repo.git?private_token=x&a=b#t=ghp_secret',
      'https://github.com/org/repo.git',
    ],
    ['https://oauth2:glpat-secret@gitlab.example/org/repo', 'https://gitlab.example/org/repo'],
    ['ssh://git@host:2222/org/repo.git?key=secret', 'ssh://host:2222/org/repo.git'],
    ['git@github.com:org/repo.git', 'github.com:org/repo.git'],
    ['token@github.com:org/repo.git?x=secret', 'github.com:org/repo.git'],
  ])('%s -> %s', (remote, source) => {
    expect(stripCredentials(remote)).toBe(source)
  })
})

describe('gitInfo', () => {
  let dir: string | undefined
  afterEach(async () => {
    if (dir) await rm(dir, {force: true, recursive: true})
  })

  it('gives the origin remote without user, password, query or fragment', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-git-'))
    const git = (...args: string[]) => execa('git', ['-C', dir!, ...args])
    await git('init', '-q')
    await git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'x')
    await git('remote', 'add', 'origin', 'https://ci:ghp_secret@github.com/org/repo.git?access_token=ghp_secret2')
    const info = await gitInfo(dir)
    expect(info.source).toBe('https://github.com/org/repo.git')
    expect(info.revision).toMatch(/^[0-9a-f]{40}$/)
  })
})
