/**
 * docs/ARCHITECTURE.md stays true: every folder and top-level module of src/ has a row in its table, and every import
 * between them (in the shipped code: tests and test-support aside) is one that its row allows.
 */
import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import {describe, expect, it} from 'vitest'

const root = path.resolve(import.meta.dirname, '..')
const src = path.join(root, 'src')

interface Layer {
  /** `config`, `errors` (for src/errors.ts), ... */
  name: string
  /** What the "may import" cell allows (row names). */
  mayImport: Set<string>
}

/** `src/config/` -> config, `` `errors.ts` `` -> errors: how the table names rows in both columns. */
function layerName(text: string): string {
  return text
    .replaceAll('`', '')
    .trim()
    .replace(/^src\//, '')
    .replace(/\/$/, '')
    .replace(/\.ts$/, '')
}

/**
 * The table's rows, and the shared modules (the line "... importable from anywhere: `src/errors.ts`, ..."). A "may
 * import" cell lists row names, each with an optional note in parentheses; "nothing" allows none, "any row above"
 * every row above it.
 */
function parseArchitecture(markdown: string): {layers: Map<string, Layer>; shared: Set<string>} {
  const layers = new Map<string, Layer>()
  const order: string[] = []
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim())
    if (cells.length < 5 || !cells[1]!.startsWith('`src/')) continue
    const name = layerName(cells[1]!)
    const allowed = cells[3]!.replaceAll(/\([^)]*\)/g, '')
    const mayImport = new Set<string>()
    if (/^any row above\b/.test(allowed)) for (const above of order) mayImport.add(above)
    for (const entry of allowed.replace(/^any row above\b/, '').split(',')) {
      const target = layerName(entry)
      if (target && target !== 'nothing') mayImport.add(target)
    }
    layers.set(name, {mayImport, name})
    order.push(name)
  }
  const sharedLine = /importable from anywhere: (.*)$/m.exec(markdown)?.[1] ?? ''
  const shared = new Set([...sharedLine.matchAll(/`([^`]+)`/g)].map((match) => layerName(match[1]!)))
  return {layers, shared}
}

/** The row a file of src/ belongs to: its top folder, or its own name for a module at the top. */
function layerOf(relative: string): string {
  const [first, ...rest] = relative.split('/')
  return rest.length > 0 ? first! : first!.replace(/\.ts$/, '')
}

const isTest = (file: string) => file.endsWith('.test.ts') || file.split('/').includes('test-support')

interface Edge {
  from: string
  to: string
  file: string
  specifier: string
}

/** Every relative import (static, dynamic and type-only) between two rows, from the shipped code of src/. */
function importEdges(): Edge[] {
  const edges: Edge[] = []
  const files = readdirSync(src, {recursive: true})
    .map(String)
    .filter((file) => file.endsWith('.ts') && !isTest(file))
  for (const file of files) {
    const text = readFileSync(path.join(src, file), 'utf8')
    for (const {fileName: specifier} of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith('.')) continue
      const target = path.relative(src, path.resolve(src, path.dirname(file), specifier))
      if (target.startsWith('..')) {
        edges.push({file, from: layerOf(file), specifier, to: `outside src/ (${target})`})
        continue
      }
      const from = layerOf(file)
      const to = layerOf(target.replace(/\.js$/, '.ts'))
      if (isTest(target)) edges.push({file, from, specifier, to: `test support (${target})`})
      else if (from !== to) edges.push({file, from, specifier, to})
    }
  }
  return edges
}

describe('docs/ARCHITECTURE.md', () => {
  const {layers, shared} = parseArchitecture(readFileSync(path.join(root, 'docs/ARCHITECTURE.md'), 'utf8'))

  it('has a row for every folder and top-level module of src/, and names only rows in its "may import" column', () => {
    const entries = readdirSync(src)
      .filter((entry) => statSync(path.join(src, entry)).isDirectory() || (entry.endsWith('.ts') && !isTest(entry)))
      .map((entry) => layerName(entry))
    expect(
      entries.filter((entry) => !layers.has(entry)),
      'src/ entries without a row',
    ).toEqual([])
    expect(
      [...layers.keys()].filter((name) => !entries.includes(name)),
      'rows of nothing in src/',
    ).toEqual([])
    const unknown = [...layers.values()].flatMap((layer) =>
      [...layer.mayImport].filter((target) => !layers.has(target)).map((target) => `${layer.name} -> ${target}`),
    )
    expect(unknown, '"may import" entries that name no row').toEqual([])
    expect(shared.size, 'the line naming the modules importable from anywhere').toBeGreaterThan(0)
    expect([...shared].filter((name) => !layers.has(name))).toEqual([])
  })

  it('allows every import between rows that the code makes', () => {
    const refused = importEdges()
      .filter(({from, to}) => !shared.has(to) && !layers.get(from)?.mayImport.has(to))
      .map(({file, from, specifier, to}) => `src/${file} imports ${specifier}: ${from} -> ${to}`)
    expect(refused, 'imports the table does not allow (fix the import, or the table if the design changed)').toEqual([])
  })

  it('keeps the shared modules leaves: they import nothing of mlship', () => {
    const fromShared = importEdges().filter(({from}) => shared.has(from))
    expect(fromShared.map(({file, specifier}) => `src/${file} imports ${specifier}`)).toEqual([])
  })
})

describe('parseArchitecture', () => {
  it('reads rows, notes in parentheses, "nothing", "any row above" and the shared modules', () => {
    const {layers, shared} = parseArchitecture(
      [
        '| folder | what | may import |',
        '| --- | --- | --- |',
        '| `src/config/` | model.yaml | nothing |',
        '| `src/model/` | sessions | config |',
        '| `src/image/` | images | config, model (load-model), `worker-thread.ts` |',
        '| `src/commands/` | oclif | any row above, `flags/` |',
        '',
        'Shared leaves, importable from anywhere: `src/errors.ts`, `src/util/`.',
      ].join('\n'),
    )
    expect(Object.fromEntries([...layers].map(([name, layer]) => [name, [...layer.mayImport].sort()]))).toEqual({
      commands: ['config', 'flags', 'image', 'model'],
      config: [],
      image: ['config', 'model', 'worker-thread'],
      model: ['config'],
    })
    expect([...shared]).toEqual(['errors', 'util'])
  })
})
