/**
 * The import graph that test-support/trace-imports.mjs records, and the questions the start-up test asks of it: which
 * packages a process loaded, and through which chain of imports.
 */

/** `@scope/name` or `name` for a file inside node_modules (the innermost one); undefined for any other file. */
export function packageOf(file: string): string | undefined {
  const at = file.lastIndexOf('/node_modules/')
  if (at < 0) return undefined
  const [first, second] = file.slice(at + '/node_modules/'.length).split('/')
  return first?.startsWith('@') ? `${first}/${second}` : first
}

export class ImportGraph {
  /** importer -> what it imported, in the order first seen. */
  private readonly edges = new Map<string, Set<string>>()
  /** Modules loaded with no importer: the entry point of each thread. */
  readonly entries: string[] = []
  /** module -> the threads that loaded it. */
  private readonly threads = new Map<string, Set<string>>()

  /** Parses the lines `<thread> TAB <importer> TAB <imported>` of a trace file. */
  static parse(text: string): ImportGraph {
    const graph = new ImportGraph()
    for (const line of text.split('\n')) {
      const [thread = '', importer, imported] = line.split('\t')
      if (imported === undefined) continue
      let threads = graph.threads.get(imported)
      if (!threads) graph.threads.set(imported, (threads = new Set()))
      threads.add(thread)
      if (importer) graph.add(importer, imported)
      else if (!graph.entries.includes(imported)) graph.entries.push(imported)
    }
    return graph
  }

  add(importer: string, imported: string): void {
    let imports = this.edges.get(importer)
    if (!imports) this.edges.set(importer, (imports = new Set()))
    imports.add(imported)
  }

  /** The threads (by id) that loaded any file of a package. */
  threadsLoading(pkg: string): Set<string> {
    const threads = new Set<string>()
    for (const [module, loadedBy] of this.threads)
      if (packageOf(module) === pkg) for (const t of loadedBy) threads.add(t)
    return threads
  }

  importsOf(module: string): ReadonlySet<string> {
    return this.edges.get(module) ?? new Set()
  }

  /**
   * Every module reachable from `starts` (default: the entry points), each with the shortest chain of imports that
   * leads to it, start first.
   */
  chains(starts: readonly string[] = this.entries): Map<string, string[]> {
    const chains = new Map<string, string[]>(starts.map((start) => [start, [start]]))
    const queue = [...starts]
    for (let module = queue.shift(); module !== undefined; module = queue.shift()) {
      for (const imported of this.importsOf(module)) {
        if (chains.has(imported)) continue
        chains.set(imported, [...chains.get(module)!, imported])
        queue.push(imported)
      }
    }
    return chains
  }
}

export interface UnwantedImport {
  /** The package, or the file of mlship's own code, that should not have been loaded. */
  what: string
  /** How it was reached: start first, the first file of `what` last. */
  chain: string[]
}

export interface ImportPolicy {
  /** Packages that mlship's own code may import (any package: anything a package imports itself is its own affair). */
  packages: ReadonlySet<string>
  /** Whether a file of mlship's own code (outside node_modules) may be loaded at all; default: all may. */
  ownModule?: (file: string) => boolean
}

/**
 * What was loaded from `starts` against the policy: each package that mlship's own code (or the entry script) imported
 * directly without the policy allowing it, and each of mlship's own files the policy does not allow, once each, with
 * the shortest chain that reached it.
 */
export function unwantedImports(
  graph: ImportGraph,
  policy: ImportPolicy,
  starts?: readonly string[],
): UnwantedImport[] {
  const found = new Map<string, string[]>()
  // Breadth first, so the chain kept for each is a shortest one.
  for (const [module, chain] of graph.chains(starts)) {
    if (packageOf(module) !== undefined) continue
    if (policy.ownModule && !policy.ownModule(module) && !found.has(module)) found.set(module, chain)
    for (const imported of graph.importsOf(module)) {
      const pkg = packageOf(imported)
      if (pkg !== undefined && !policy.packages.has(pkg) && !found.has(pkg)) found.set(pkg, [...chain, imported])
    }
  }
  return [...found].map(([what, chain]) => ({chain, what}))
}
