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

describe('bundleServer code splitting', () => {
  it('puts what an entry loads only on demand in a chunk of its own, beside the entries, and caches the chunks too', async () => {
    const shared = path.join(work, 'shared.ts')
    const heavy = path.join(work, 'heavy.ts')
    const child = path.join(work, 'child.ts')
    await writeFile(shared, 'export const greeting = "hello from shared"\n')
    await writeFile(heavy, 'export const heavy = "HEAVY_".repeat(2) + "SERVER"\n')
    await writeFile(
      entry,
      'import {greeting} from "./shared.js"\nconsole.log(greeting)\n' +
        'if (process.env.LOAD_HEAVY) console.log((await import("./heavy.js")).heavy)\n',
    )
    await writeFile(
      child,
      'import {greeting} from "./shared.js"\nimport {heavy} from "./heavy.js"\n' + 'console.log(greeting, heavy)\n',
    )
    for (const file of [entry, shared, heavy, child]) await utimes(file, HOUR_AGO, HOUR_AGO)
    const bundle = (outDir: string) => bundleServer({cacheDir, entryPoints: {child, main: entry}, outDir})

    const firstDir = path.join(work, 'first')
    const names = await bundle(firstDir)
    const chunks = names.filter((name) => name.startsWith('chunk-'))
    // The shared module and the one main.js imports on demand: in chunks, not copied into each entry.
    expect(chunks.length).toBeGreaterThanOrEqual(2)
    expect(names).toEqual(expect.arrayContaining(['main.js', 'child.js', 'package.json']))
    expect(await readFile(path.join(firstDir, 'main.js'), 'utf8')).not.toContain('HEAVY_')
    expect(await readFile(path.join(firstDir, 'child.js'), 'utf8')).not.toContain('hello from shared')

    const secondDir = path.join(work, 'second')
    expect(await bundle(secondDir)).toEqual(names)
    for (const name of names) {
      expect(await readFile(path.join(secondDir, name), 'utf8')).toBe(await readFile(path.join(firstDir, name), 'utf8'))
    }
  })
})
