import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import Module from 'node:module'
import os from 'node:os'
import path from 'node:path'
import vm from 'node:vm'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {
  checkCodeCache,
  codeCacheFile,
  readSource,
  removeCodeCache,
  runWithCodeCache,
  writeCodeCache,
  writeRehearsedCodeCache,
} from './code-cache.js'

let work: string
let file: string

// A CommonJS file as the bundle's server-code.cjs is one: functions that run only when called (V8 compiles those
// on their first call), and a side effect that says it ran, with its own require and file name.
const SOURCE = `
function answer(x) { return [1, 2, 3].map((n) => n * x).reduce((a, b) => a + b, 0) }
class Greeter { greet(name) { return 'hello ' + name + ' ' + answer(2) } }
globalThis.__codeCacheTest = {file: require('node:path').basename(__filename), greeting: new Greeter().greet('cache')}
module.exports = {answer}
`

beforeEach(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'mlship-code-cache-'))
  file = path.join(work, 'child.cjs')
  writeFileSync(file, SOURCE)
  delete (globalThis as {__codeCacheTest?: unknown}).__codeCacheTest
})

afterEach(() => rmSync(work, {force: true, recursive: true}))

/** Runs a script in a fresh node process (no flags, as the HTTP processes start) and returns what it prints. */
function inFreshNode(script: string, ...args: string[]): string {
  return execFileSync(process.execPath, ['-e', script, ...args], {encoding: 'utf8', env: {PATH: process.env.PATH}})
}

const FRESH_TAKES =
  "const [vm, fs, M] = [require('node:vm'), require('node:fs'), require('node:module')]; const f = process.argv[1];" +
  "const s = new vm.Script(M.wrap(fs.readFileSync(f, 'utf8')), {filename: f, cachedData: fs.readFileSync(f + '.cache')});" +
  'process.stdout.write(String(!s.cachedDataRejected))'
const FRESH_COMPILE_ONLY =
  "const [vm, fs, M] = [require('node:vm'), require('node:fs'), require('node:module')]; const f = process.argv[1];" +
  "process.stdout.write(String(new vm.Script(M.wrap(fs.readFileSync(f, 'utf8')), {filename: f}).createCachedData().length))"

/**
 * The file and its cache under another name: V8 keeps what this process compiled by source and name, and would answer
 * a second compile of the same file from there without reading the cache at all.
 */
function copied(name: string): string {
  const copy = path.join(work, name)
  writeFileSync(copy, readFileSync(file))
  if (existsSync(codeCacheFile(file))) writeFileSync(codeCacheFile(copy), readFileSync(codeCacheFile(file)))
  return copy
}

describe('writeCodeCache', () => {
  it('writes a cache that a fresh node process takes', () => {
    const bytes = writeCodeCache(file)
    expect(statSync(codeCacheFile(file)).size).toBe(bytes)
    expect(inFreshNode(FRESH_TAKES, file)).toBe('true')
    expect(checkCodeCache(copied('other.cjs'))).toBe('accepted')
  })

  it('holds every function compiled, not only what V8 compiles as it loads the file, and leaves V8 lazy again', () => {
    const compileOnly = (name: string) => {
      const copy = copied(name)
      return new vm.Script(Module.wrap(readFileSync(copy, 'utf8')), {filename: copy}).createCachedData().length
    }
    const before = compileOnly('before.cjs')
    expect(writeCodeCache(file)).toBeGreaterThan(before)
    expect(writeCodeCache(file)).toBeGreaterThan(Number(inFreshNode(FRESH_COMPILE_ONLY, file)))
    // --no-lazy held only while the cache was made: the same code compiles as lazily as before.
    expect(compileOnly('after.cjs')).toBe(before)
  })
})

describe('writeRehearsedCodeCache', () => {
  it('caches what the file ran and the rehearsal called, which a fresh node process takes', async () => {
    const compileOnly = Number(inFreshNode(FRESH_COMPILE_ONLY, file))
    const bytes = await writeRehearsedCodeCache(file, async (exports) => {
      expect((exports.answer as (x: number) => number)(3)).toBe(18)
    })
    // More than the file as loaded: the functions its run and the rehearsal compiled.
    expect(bytes).toBeGreaterThan(compileOnly)
    expect(inFreshNode(FRESH_TAKES, file)).toBe('true')
  })

  it('writes nothing when the rehearsal fails', async () => {
    await expect(
      writeRehearsedCodeCache(file, () => Promise.reject(new Error('the model would not open'))),
    ).rejects.toThrow('the model would not open')
    expect(existsSync(codeCacheFile(file))).toBe(false)
  })
})

describe('runWithCodeCache', () => {
  it('runs the file as require would (its require, __filename, module.exports), with the cache where there is one', () => {
    expect(runWithCodeCache(file).use).toBe('none')
    expect((globalThis as {__codeCacheTest?: unknown}).__codeCacheTest).toEqual({
      file: 'child.cjs',
      greeting: 'hello cache 12',
    })

    writeCodeCache(file)
    delete (globalThis as {__codeCacheTest?: unknown}).__codeCacheTest
    expect(runWithCodeCache(copied('cached.cjs')).use).toBe('accepted')
    expect((globalThis as {__codeCacheTest?: unknown}).__codeCacheTest).toEqual({
      file: 'cached.cjs',
      greeting: 'hello cache 12',
    })
  })

  it('runs the file all the same when V8 refuses the cache (another node made it, or it is damaged)', () => {
    writeFileSync(codeCacheFile(file), Buffer.from('not a code cache of this node'))
    expect(checkCodeCache(copied('checked.cjs'))).toBe('rejected')
    expect(runWithCodeCache(file).use).toBe('rejected')
    expect((globalThis as {__codeCacheTest?: unknown}).__codeCacheTest).toMatchObject({greeting: 'hello cache 12'})
  })

  it('compiles without a cache that was removed', () => {
    writeCodeCache(file)
    removeCodeCache(file)
    expect(existsSync(codeCacheFile(file))).toBe(false)
    expect(checkCodeCache(file)).toBe('none')
    expect(runWithCodeCache(file).use).toBe('none')
  })
})

describe('readSource', () => {
  it('reads an ASCII file and a UTF-8 one as node reads them', () => {
    const ascii = path.join(work, 'ascii.cjs')
    const utf8 = path.join(work, 'utf8.cjs')
    writeFileSync(ascii, SOURCE)
    writeFileSync(utf8, "module.exports = 'na\u00efve \u2014 \u{1F600}'\n")
    expect(readSource(ascii)).toBe(readFileSync(ascii, 'utf8'))
    expect(readSource(utf8)).toBe(readFileSync(utf8, 'utf8'))
    expect(readSource(utf8)).toContain('\u2014')
  })
})
