import {execa} from 'execa'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {packageRoot} from '../util/paths.js'
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

describe('bundleServer CommonJS entries', () => {
  it('bundles each into one .cjs file with everything it imports, finding its siblings from its own URL', async () => {
    const shared = path.join(work, 'shared.ts')
    const child = path.join(work, 'child.ts')
    await writeFile(shared, 'export const greeting = "hello from shared"\n')
    await writeFile(
      child,
      'import {greeting} from "./shared.js"\nexport const sibling = new URL("./worker.js", import.meta.url).href\n' +
        'globalThis.__bundledChild = {greeting, sibling}\n',
    )
    await writeFile(entry, 'import {greeting} from "./shared.js"\nconsole.log(greeting)\n')
    for (const file of [entry, shared, child]) await utimes(file, HOUR_AGO, HOUR_AGO)
    const bundle = (outDir: string) =>
      bundleServer({cacheDir, commonJsEntryPoints: {child}, entryPoints: {main: entry}, outDir})

    const outDir = path.join(work, 'first')
    const names = await bundle(outDir)
    expect(names).toEqual(expect.arrayContaining(['main.js', 'child.cjs']))
    const text = await readFile(path.join(outDir, 'child.cjs'), 'utf8')
    // One file: the shared module copied in, no chunk required, no import() that vm.Script could not run.
    expect(text).toContain('hello from shared')
    expect(text).not.toMatch(/chunk-|\bimport\(/)
    const {runWithCodeCache} = await import('../serving/code-cache.js')
    runWithCodeCache(path.join(outDir, 'child.cjs'))
    expect((globalThis as {__bundledChild?: unknown}).__bundledChild).toEqual({
      greeting: 'hello from shared',
      sibling: pathToFileURL(path.join(outDir, 'worker.js')).href,
    })
    // Kept by the cache with the rest.
    expect(await bundle(path.join(work, 'second'))).toEqual(names)
  })
})

describe('bundleServer from compiled mlship', () => {
  it("bundles yaml from the package, not from dist/vendor's one-file bundle of it", async () => {
    // Under the package root, so that the package resolves as it does for dist/.
    const dist = await mkdtemp(path.join(packageRoot(), 'node_modules', '.mlship-bundle-test-'))
    try {
      await mkdir(path.join(dist, 'vendor'))
      await writeFile(path.join(dist, 'vendor', 'yaml.js'), 'throw new Error("the vendor bundle was bundled")\n')
      const main = path.join(dist, 'main.js')
      await writeFile(main, 'import {parse} from "./vendor/yaml.js"\nconsole.log(JSON.stringify(parse("a: 1")))\n')
      const outDir = path.join(work, 'out')
      await bundleServer({entryPoints: {main}, outDir})
      const {stdout} = await execa(process.execPath, [path.join(outDir, 'main.js')])
      expect(stdout).toBe('{"a":1}')
    } finally {
      await rm(dist, {force: true, recursive: true})
    }
  })
})
