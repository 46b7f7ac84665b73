import {mkdtemp, readdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {bundleServer} from './bundle.js'

let work: string
let entry: string
let extra: string
let cacheDir: string
const HOUR_AGO = new Date(Date.now() - 3_600_000)

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bundle-test-'))
  entry = path.join(work, 'server.ts')
  extra = path.join(work, 'healthcheck.cjs')
  cacheDir = path.join(work, 'cache')
  await writeFile(entry, 'console.log("serving")\n')
  await writeFile(extra, 'process.exit(0)\n')
  // Sources older than the cache's 2 s racy window, so that the bundle is kept.
  await utimes(entry, HOUR_AGO, HOUR_AGO)
})

afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

async function bundleInto(name: string, link: boolean): Promise<string> {
  const outDir = path.join(work, name)
  await bundleServer({cacheDir, entryPoints: {main: entry}, extraFiles: {'healthcheck.cjs': extra}, link, outDir})
  return outDir
}

async function cachedEntry(): Promise<string> {
  const [key] = await readdir(path.join(cacheDir, 'server-bundle'))
  return path.join(cacheDir, 'server-bundle', key!)
}

describe('bundleServer with a cache', () => {
  it('links the cached bundle and the extra files into a temporary context: the same inodes, no copies', async () => {
    const first = await bundleInto('first', true)
    const second = await bundleInto('second', true)

    const cached = await cachedEntry()
    expect((await stat(path.join(second, 'main.js'))).ino).toBe((await stat(path.join(cached, 'main.js'))).ino)
    expect((await stat(path.join(second, 'healthcheck.cjs'))).ino).toBe((await stat(extra)).ino)
    expect(await readFile(path.join(second, 'main.js'), 'utf8')).toBe(
      await readFile(path.join(first, 'main.js'), 'utf8'),
    )
    expect(await readFile(path.join(second, 'main.js'), 'utf8')).toContain('serving')
  })

  it('copies them into a context the user keeps, so that editing it cannot change the cache', async () => {
    await bundleInto('first', false)
    const kept = await bundleInto('kept', false)

    const cached = await cachedEntry()
    expect((await stat(path.join(kept, 'main.js'))).ino).not.toBe((await stat(path.join(cached, 'main.js'))).ino)
    expect((await stat(path.join(kept, 'healthcheck.cjs'))).ino).not.toBe((await stat(extra)).ino)
    expect(await readFile(path.join(kept, 'main.js'), 'utf8')).toBe(
      await readFile(path.join(cached, 'main.js'), 'utf8'),
    )
  })
})
