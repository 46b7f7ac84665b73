import {mkdtemp, readFile, rm, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {FileDigests} from './file-digests.js'
import {sha256File} from './hash.js'

let work: string
let cache: string
let file: string
const HOUR_AGO = new Date(Date.now() - 3_600_000)

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-file-digests-test-'))
  cache = path.join(work, 'cache')
  file = path.join(work, 'model.onnx')
  await writeFile(file, 'first')
  await utimes(file, HOUR_AGO, HOUR_AGO)
})

afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

describe('FileDigests', () => {
  it('remembers a digest across runs by inode, size and mtime, and hashes a changed file again', async () => {
    const first = await FileDigests.open({dir: cache})
    expect(await first.sha256(file)).toBe(await sha256File(file))
    await first.save()
    expect(Object.values(JSON.parse(await readFile(path.join(cache, 'file-digests.json'), 'utf8')))).toHaveLength(1)

    // The stored digest is what a later run answers while the file looks the same: prove it by planting another one.
    const stored = JSON.parse(await readFile(path.join(cache, 'file-digests.json'), 'utf8')) as Record<
      string,
      {sha256: string; used: number}
    >
    for (const entry of Object.values(stored)) entry.sha256 = 'planted'
    await writeFile(path.join(cache, 'file-digests.json'), JSON.stringify(stored))
    expect(await (await FileDigests.open({dir: cache})).sha256(file)).toBe('planted')

    // Other content of the same size, another mtime: hashed again.
    await writeFile(file, 'other')
    await utimes(file, HOUR_AGO, new Date(HOUR_AGO.getTime() + 1000))
    expect(await (await FileDigests.open({dir: cache})).sha256(file)).toBe(await sha256File(file))
  })

  it('keeps no digest of a file modified within the last 2 s (it could change again unseen)', async () => {
    const digests = await FileDigests.open({dir: cache, now: () => HOUR_AGO.getTime() + 1500})
    await digests.sha256(file)
    await digests.save()
    await expect(readFile(path.join(cache, 'file-digests.json'), 'utf8')).rejects.toThrow(/ENOENT/)
  })

  it('keeps the most recently used entries only, and nothing at all without a folder', async () => {
    const other = path.join(work, 'other.onnx')
    await writeFile(other, 'second')
    await utimes(other, HOUR_AGO, HOUR_AGO)
    let clock = Date.now()
    const digests = await FileDigests.open({dir: cache, maxEntries: 1, now: () => clock++})
    await digests.sha256(file)
    await digests.sha256(other)
    await digests.save()
    const kept = Object.keys(JSON.parse(await readFile(path.join(cache, 'file-digests.json'), 'utf8')) as object)
    expect(kept).toHaveLength(1)
    expect(kept[0]).toMatch(/:6:\d+$/) // "second": 6 bytes

    const none = await FileDigests.open({dir: undefined})
    expect(await none.sha256(file)).toBe(await sha256File(file))
    await none.save()
  })

  it('treats a cache file cut short as an empty cache', async () => {
    const digests = await FileDigests.open({dir: cache})
    await digests.sha256(file)
    await digests.save()
    await writeFile(path.join(cache, 'file-digests.json'), '{"1:2:3')
    expect(await (await FileDigests.open({dir: cache})).sha256(file)).toBe(await sha256File(file))
  })
})
