/**
 * What `npm ci` on a fresh machine relies on: the Node.js versions package.json promises are the ones every runtime
 * dependency supports, and those its devEngines name (a checkout, where `npm ci` installs the development tools too)
 * the ones every development dependency supports (no EBADENGINE either way), and the project's .npmrc keeps
 * dependency install scripts (onnxruntime-node's CUDA download) from running with keys npm knows (no "Unknown project
 * config" warning, npm 10 and 11 alike).
 */
import {execa} from 'execa'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import semver from 'semver'
import {describe, expect, it} from 'vitest'

const root = path.resolve(import.meta.dirname, '..')

interface LockPackage {
  version?: string
  dev?: boolean
  engines?: {node?: string} | string[]
  /**
   * npm checks no engines of an optional package (arborist's #checkEngineAndPlatform skips them: one that cannot run
   * is left out), e.g. sharp's @img/sharp-win32-ia32, built for Node 20 only: it never causes an EBADENGINE.
   */
  optional?: boolean
}

/** The lowest version of each range of a `||` list: where a range is most likely to leave a dependency behind. */
function lowestOfEach(ranges: string): string[] {
  return ranges.split('||').map((range) => semver.minVersion(range.trim())!.version)
}

async function readLock(): Promise<Record<string, LockPackage>> {
  const lock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>
  }
  return lock.packages
}

describe('package.json engines', () => {
  it('is supported by every runtime dependency, at the lowest version of each range it names', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {engines: {node: string}}
    const lowest = lowestOfEach(pkg.engines.node)
    expect(lowest.length).toBeGreaterThan(0)
    const unsupported: string[] = []
    for (const [where, entry] of Object.entries(await readLock())) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
      if (where === '' || entry.dev || entry.optional || !range) continue
      for (const node of lowest) {
        if (!semver.satisfies(node, range))
          unsupported.push(`${where}@${entry.version} needs node ${range}, not ${node}`)
      }
    }
    expect(unsupported).toEqual([])
  })
})

describe('package.json devEngines', () => {
  it('is supported by every dependency a checkout installs, development tools included', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
      devEngines?: {runtime?: {name: string; version: string}}
    }
    expect(pkg.devEngines?.runtime?.name).toBe('node')
    const lowest = lowestOfEach(pkg.devEngines!.runtime!.version)
    // The Node.js running this (CI's) is one of them: npm checks engines against it.
    expect(semver.satisfies(process.version, pkg.devEngines!.runtime!.version)).toBe(true)
    const unsupported: string[] = []
    for (const [where, entry] of Object.entries(await readLock())) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
      if (where === '' || entry.optional || !range) continue
      for (const node of [...lowest, process.version]) {
        if (!semver.satisfies(node, range))
          unsupported.push(`${where}@${entry.version} needs node ${range}, not ${node}`)
      }
    }
    // Before: kubernetes-models 5 and @kubernetes-models/* 5-6 (>=22), and npm ci warned EBADENGINE on Node 20.
    expect(unsupported).toEqual([])
  })
})

describe('.npmrc', () => {
  it('turns dependency install scripts off with a key npm knows, so npm says nothing about it', async () => {
    const {stderr, stdout} = await execa('npm', ['config', 'get', 'ignore-scripts'], {cwd: root})
    expect(stdout.trim()).toBe('true')
    expect(stderr).not.toMatch(/Unknown (project|env|user|cli) config/)
  })
})

describe('package.json entry points', () => {
  it('names no file the build does not make: each bin exists, and main and types come from a source file', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
      bin?: Record<string, string>
      main?: string
      types?: string
    }
    for (const file of Object.values(pkg.bin ?? {})) expect(existsSync(path.join(root, file)), file).toBe(true)
    // dist/X.js and dist/X.d.ts are what tsc makes of src/X.ts (tsconfig.build.json).
    for (const file of [pkg.main, pkg.types].filter((f): f is string => f !== undefined)) {
      const source = path.join(root, file.replace(/^(\.\/)?dist\//, 'src/').replace(/(\.d)?\.js$|\.d\.ts$/, '.ts'))
      expect(existsSync(source), `${file} (from ${path.relative(root, source)})`).toBe(true)
    }
  })
})
