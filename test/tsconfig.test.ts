/**
 * The TypeScript projects agree: tsconfig.json (the editor's, `tsc --noEmit -p .` and `npm run typecheck`) holds every
 * file its files import, and tsconfig.build.json emits src/X.ts as dist/X.js and nothing of the
 * tests. Read from the configs and the import statements, without compiling (which `npm run typecheck` does).
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import {describe, expect, it} from 'vitest'

const root = path.resolve(import.meta.dirname, '..')

function parseProject(file: string): ts.ParsedCommandLine {
  const configFile = ts.readConfigFile(path.join(root, file), (name) => ts.sys.readFile(name))
  if (configFile.error) throw new Error(ts.flattenDiagnosticMessageText(configFile.error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root)
  expect(parsed.errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, '\n'))).toEqual([])
  return parsed
}

const RELATIVE_IMPORT = /(?:from|import)\s*\(?\s*'(\.\.?\/[^']+)'/g

/** The TypeScript file a relative import names (`./x.js` is ./x.ts), or undefined for one that is not TypeScript. */
function importedFile(from: string, specifier: string): string | undefined {
  const target = path.resolve(path.dirname(from), specifier)
  const typescript = target.replace(/\.js$/, '.ts')
  return typescript !== target && existsSync(typescript) ? typescript : undefined
}

/** The project's files and every TypeScript file they import, directly or not, through relative imports. */
function programFiles(parsed: ts.ParsedCommandLine): string[] {
  const seen = new Set(parsed.fileNames.map((f) => path.resolve(f)))
  const queue = [...seen]
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    for (const match of readFileSync(file, 'utf8').matchAll(RELATIVE_IMPORT)) {
      const imported = importedFile(file, match[1]!)
      if (imported && !seen.has(imported)) {
        seen.add(imported)
        queue.push(imported)
      }
    }
  }
  return [...seen]
}

function outside(dir: string, files: string[]): string[] {
  return files.filter((f) => path.relative(dir, f).startsWith('..')).map((f) => path.relative(root, f))
}

describe('tsconfig.json', () => {
  it('holds the tests, scripts and what they import, with no rootDir to leave them out of (TS6059), emitting nothing', () => {
    const parsed = parseProject('tsconfig.json')
    expect(parsed.options.noEmit).toBe(true)
    expect(parsed.options.rootDir).toBeUndefined()
    const files = programFiles(parsed)
    expect(files).toContain(path.join(root, 'test/test-support/cli-copy.ts'))
    expect(outside(root, files)).toEqual([])
  })

  it("maps dist/ to src/ for oclif's development mode, so that bin/dev.js runs the TypeScript sources", () => {
    // @oclif/core (config/ts-path.js) reads this file: the sources are in rootDir, else rootDirs[0], else baseUrl, of
    // what is compiled into outDir; without both it runs dist/commands, compiled by the last `npm run build`.
    const parsed = parseProject('tsconfig.json')
    const options = parsed.options
    expect(options.rootDir ?? options.rootDirs?.[0] ?? options.baseUrl).toBe(path.join(root, 'src'))
    expect(options.outDir).toBe(path.join(root, 'dist'))
  })
})

describe('tsconfig.build.json', () => {
  it('emits src/X.ts as dist/X.js, and no test or test support file', () => {
    const parsed = parseProject('tsconfig.build.json')
    expect(parsed.options.noEmit).toBeFalsy()
    expect(parsed.options.rootDir).toBe(path.join(root, 'src'))
    expect(parsed.options.outDir).toBe(path.join(root, 'dist'))
    const files = programFiles(parsed)
    expect(files).toContain(path.join(root, 'src/cli-root.ts'))
    expect(files.filter((f) => f.endsWith('.test.ts') || f.includes('/test-support/'))).toEqual([])
    expect(outside(parsed.options.rootDir!, files)).toEqual([])
  })
})
