/**
 * V8's code cache for the image's server processes (issue 19). Compiling their code is a third of what a process does
 * before it is ready, and each does it again: `mlship build` bundles the image's server (image-server.ts) as one
 * CommonJS file (server-code.cjs) and, in the image, has the image's own node write V8's code cache beside it
 * (write-code-cache.ts), because V8 takes a cache only from the V8 version and flags that made it. Each process then
 * runs the file through vm.Script with that cache (image-server-loader.ts). A cache V8 refuses (made by another node,
 * or NODE_OPTIONS sets other V8 flags) costs the compile that would have happened anyway.
 */
import {isAscii} from 'node:buffer'
import {existsSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import path from 'node:path'
import {setFlagsFromString} from 'node:v8'
import vm from 'node:vm'

/** How a file was compiled: with its cache, with a cache V8 refused, or without one (none beside it). */
export type CodeCacheUse = 'accepted' | 'rejected' | 'none'

export function codeCacheFile(file: string): string {
  return `${file}.cache`
}

function compile(file: string, cachedData?: Buffer): vm.Script {
  // Module.wrap: the function node wraps a CommonJS file in (exports, require, module, __filename, __dirname).
  return new vm.Script(Module.wrap(readSource(file)), {cachedData, filename: file})
}

/**
 * The text of a file. esbuild writes ASCII (it escapes the rest), which latin1 decodes to the same string as UTF-8
 * does, in a third less time: some 1 ms for the server's bundle, in every serving process's start (issue 19).
 */
export function readSource(file: string): string {
  const bytes = readFileSync(file)
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8')
}

function readCache(file: string): Buffer | undefined {
  const cache = codeCacheFile(file)
  return existsSync(cache) ? readFileSync(cache) : undefined
}

/** Runs a compiled CommonJS file as `require` would; returns its exports. */
function run(script: vm.Script, file: string): Record<string, unknown> {
  const module = {exports: {}}
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file))
  return module.exports
}

/**
 * Runs a CommonJS file as `require` would, compiled with the code cache beside it where there is one: its exports, and
 * how it was compiled.
 */
export function runWithCodeCache(file: string): {exports: Record<string, unknown>; use: CodeCacheUse} {
  const cachedData = readCache(file)
  const script = compile(file, cachedData)
  const exports = run(script, file)
  return {exports, use: cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted'}
}

/** Whether this node takes the cache beside `file` (compiles it with the cache; runs nothing). */
export function checkCodeCache(file: string): CodeCacheUse {
  const cachedData = readCache(file)
  if (cachedData === undefined) return 'none'
  return compile(file, cachedData).cachedDataRejected ? 'rejected' : 'accepted'
}

/**
 * Writes the code cache of a CommonJS file beside it, with every function compiled: V8 compiles a function on its first
 * call, and a cache holds only what was compiled, so a cache of the file as loaded would leave out nearly all of what a
 * process compiles while it starts. `--no-lazy` holds only while compiling: the flag is part of what V8 checks a cache
 * against, and the processes run without it. Returns the cache's size in bytes.
 */
export function writeCodeCache(file: string): number {
  setFlagsFromString('--no-lazy')
  let script: vm.Script
  try {
    script = compile(file)
  } finally {
    setFlagsFromString('--lazy')
  }
  // After the flag is back: the cache records the flags it was made under.
  return writeCache(file, script.createCachedData())
}

/**
 * Runs a CommonJS file, then `rehearse` with its exports (what a process does as it starts and answers), and writes
 * the code cache of what V8 compiled by then beside the file: the functions a process needs, and not the rest, which
 * a cache of every function (writeCodeCache) holds too and each process would read. Returns the cache's size in bytes.
 */
export async function writeRehearsedCodeCache(
  file: string,
  rehearse: (exports: Record<string, unknown>) => Promise<void>,
): Promise<number> {
  const script = compile(file)
  await rehearse(run(script, file))
  return writeCache(file, script.createCachedData())
}

function writeCache(file: string, data: Buffer): number {
  const cache = codeCacheFile(file)
  const temporary = `${cache}.${process.pid}`
  writeFileSync(temporary, data)
  renameSync(temporary, cache)
  return data.length
}

export function removeCodeCache(file: string): void {
  rmSync(codeCacheFile(file), {force: true})
}
