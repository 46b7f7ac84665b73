/**
 * Start-up stays fast (issue 22): the built CLI answers `--version` and `--help` from its command manifest without
 * loading any of mlship's code, importing a command module loads nothing heavy (heavy packages are imported inside the
 * code path that uses them), and the commands that open the model load onnxruntime and nothing else heavy.
 *
 * Not timed: it looks at which modules each process loaded (test-support/trace-imports.mjs), which a busy machine does
 * not change. The times are measured by `npm run bench:startup` (BENCHMARKS.md).
 *
 * When it fails it names the package and the chain of imports that loaded it. Make the last import of mlship's code in
 * that chain lazy, where the package is used, and keep the types static:
 *
 *   import type {KubeConfig} from '@kubernetes/client-node'
 *   ...
 *   const {KubeConfig} = await import('@kubernetes/client-node')
 *
 * A package that costs next to nothing to import can join EAGER_PACKAGES instead, with its measured cost.
 */
import {spawnSync} from 'node:child_process'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {VENDORED_PACKAGES} from '../scripts/lib/vendor-bundles.js'
import {builtCli, type CliCopy, productionEnv} from './test-support/cli-copy.js'
import {ImportGraph, type ImportPolicy, unwantedImports, type UnwantedImport} from './test-support/import-graph.js'

const repo = path.resolve(import.meta.dirname, '..')
const tracer = path.join(import.meta.dirname, 'test-support', 'trace-imports.mjs')
const iris = path.join(repo, 'examples', 'iris')

/**
 * The packages a command module may load as it is imported, and why. Milliseconds: CPU time to import each alone on
 * the development machine (`node -e 0` takes 40).
 */
const EAGER_PACKAGES = new Map([
  ['@oclif/core', 'the CLI framework (90 ms; it is loaded before any command)'],
  ['@oclif/plugin-help', 'the CLI framework: `mlship help`'],
  ['yaml', 'reading model.yaml, the first thing almost every command does (dist/vendor/yaml.js once built: 9 ms)'],
  ['zod', 'checking model.yaml against its schema (dist/vendor/zod.js once built: 27 ms)'],
  ['fastest-levenshtein', "model.yaml's did-you-mean suggestions (4 ms)"],
  ['@balena/dockerignore', "the image's secret-file patterns, matched synchronously (6 ms)"],
  ['asciichart', "the bench report's charts (4 ms)"],
  ['lru-cache', "the serving app's prediction cache (4 ms)"],
])

/** What a process that answers from the manifest alone may load: oclif, and the module that points it at dist/. */
function manifestOnly(cli: CliCopy): ImportPolicy {
  const own = new Set([cli.bin, path.join(cli.root, 'dist', 'cli-root.js')])
  return {ownModule: (file) => own.has(file), packages: new Set(['@oclif/core', '@oclif/plugin-help'])}
}

const eagerOnly = (...more: string[]): ImportPolicy => ({packages: new Set([...EAGER_PACKAGES.keys(), ...more])})

describe('start-up of the built CLI', () => {
  let cli: CliCopy
  let traces: string

  beforeAll(async () => {
    cli = await builtCli()
    traces = await mkdtemp(path.join(tmpdir(), 'mlship-import-trace-'))
  }, 120_000)

  afterAll(async () => {
    await cli?.remove()
    if (traces) await rm(traces, {force: true, recursive: true})
  })

  /** The graph of each run so far: two tests that look at the same run (`build --print`) share one process. */
  const graphs = new Map<string, Promise<ImportGraph>>()

  /** Runs node with the tracer on `args`; fails with the process's output unless it exits with `exitCode`. */
  function traced(name: string, args: string[], exitCode = 0): Promise<ImportGraph> {
    const key = JSON.stringify([args, exitCode])
    if (!graphs.has(key)) graphs.set(key, trace(name, args, exitCode))
    return graphs.get(key)!
  }

  async function trace(name: string, args: string[], exitCode: number): Promise<ImportGraph> {
    const file = path.join(traces, `${name.replaceAll(/\W+/g, '-')}.tsv`)
    await writeFile(file, '')
    const child = spawnSync(process.execPath, ['--import', tracer, ...args], {
      cwd: repo,
      encoding: 'utf8',
      env: productionEnv({MLSHIP_TRACE_IMPORTS: file}),
    })
    if (child.status !== exitCode) {
      throw new Error(`${name} exited with ${child.status} (expected ${exitCode}):\n${child.stderr}${child.stdout}`)
    }
    return ImportGraph.parse(await readFile(file, 'utf8'))
  }

  function report(what: string, unwanted: UnwantedImport[]): string {
    if (unwanted.length === 0) return ''
    const lines = unwanted.map(
      ({chain, what: module}) =>
        `  ${module.startsWith('/') ? cli.describe(module) : module}, through\n` +
        chain.map((file, i) => `    ${i === 0 ? '' : '-> '}${cli.describe(file)}`).join('\n'),
    )
    return (
      `${what} loads what it should not:\n${lines.join('\n')}\n` +
      'Import it where it is used (`await import(...)`, types with `import type`); see test/startup.test.ts.'
    )
  }

  it('has a manifest that lists every command of src/commands', async () => {
    // A command in a folder is a topic's: src/commands/experiment/report.ts is `experiment:report`.
    const files = (await readdir(path.join(repo, 'src', 'commands'), {recursive: true}))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
      .map((file) => file.replace(/\.ts$/, '').replaceAll(path.sep, ':'))

    expect(cli.commands).toEqual(files.sort())
  })

  it('answers --version and --help, for itself and every command, from the manifest alone', async () => {
    const problems: string[] = []
    for (const args of [['--version'], ['--help']]) {
      const graph = await traced(args.join(' '), [cli.bin, ...args])
      problems.push(report(`\`mlship ${args.join(' ')}\``, unwantedImports(graph, manifestOnly(cli))))
    }
    // Every command's --help in one process (a process each cost 15 node start-ups), each run as bin/run.js runs it:
    // oclif's execute (@oclif/core/execute) with the options of dist/. What any of them loads is in the process's
    // graph, with the chain of imports that loaded it, so a command whose help loads what it should not is still named.
    const dist = pathToFileURL(path.join(cli.root, 'dist', path.sep))
    const execute = pathToFileURL(path.join(cli.root, 'node_modules', '@oclif', 'core', 'lib', 'execute.js'))
    const helpOfEach = path.join(traces, 'help-of-each-command.mjs')
    await writeFile(
      helpOfEach,
      `import {execute} from ${JSON.stringify(execute.href)}
      import {compiledCliOptions} from ${JSON.stringify(new URL('cli-root.js', dist).href)}
      for (const id of ${JSON.stringify(cli.commands)}) {
        await execute({args: [id, '--help'], loadOptions: compiledCliOptions(new URL(${JSON.stringify(dist.href)}))})
      }`,
    )
    const graph = await traced('COMMAND --help', [helpOfEach])
    const policy = manifestOnly(cli)
    const withHarness: ImportPolicy = {...policy, ownModule: (file) => file === helpOfEach || policy.ownModule!(file)}
    expect(graph.entries).toEqual([helpOfEach])
    problems.push(report('`mlship COMMAND --help`, for every command,', unwantedImports(graph, withHarness)))

    expect(problems.filter(Boolean).join('\n\n')).toBe('')
  })

  it('answers a mistyped command from the manifest and the command_not_found hook', async () => {
    const graph = await traced('buidl', [cli.bin, 'buidl'], 2)
    const hook = path.join(cli.root, 'dist', 'hooks', 'command-not-found.js')
    const policy = manifestOnly(cli)
    const withHook: ImportPolicy = {
      ownModule: (file) =>
        policy.ownModule!(file) || file === hook || file === path.join(cli.root, 'dist', 'errors.js'),
      packages: new Set([...policy.packages, 'fastest-levenshtein']),
    }

    expect(graph.chains().has(hook)).toBe(true)
    expect(report('`mlship buidl`', unwantedImports(graph, withHook))).toBe('')
  })

  it('imports nothing heavy when a command module loads', async () => {
    const modules = cli.commands.map((id) => path.join(cli.root, 'dist', 'commands', `${id.replaceAll(':', '/')}.js`))
    const importAll = `for (const module of ${JSON.stringify(modules)}) await import(module)`
    const graph = await traced('import every command', ['--input-type=module', '-e', importAll])
    const problems = cli.commands.map((id, i) =>
      report(`\`mlship ${id}\`, as its module loads,`, unwantedImports(graph, eagerOnly(), [modules[i]!])),
    )

    expect(problems.filter(Boolean).join('\n\n')).toBe('')
  })

  it.each([
    {args: ['validate', iris], more: ['onnxruntime-node'], name: 'validate examples/iris'},
    {args: ['predict', iris, '--example'], more: ['onnxruntime-node'], name: 'predict examples/iris --example'},
    {args: ['build', iris, '--print'], more: ['onnxruntime-node', 'handlebars'], name: 'build examples/iris --print'},
  ])('runs `mlship $name` loading only what it uses: $more', async ({args, more, name}) => {
    const graph = await traced(name, [cli.bin, ...args])

    expect(report(`\`mlship ${name}\``, unwantedImports(graph, eagerOnly(...more)))).toBe('')
    // The model is opened once: no worker thread loads onnxruntime (and the model) again for one prediction.
    expect(graph.threadsLoading('onnxruntime-node').size, 'threads that load onnxruntime-node').toBe(1)
    // yaml, zod and handlebars from their one-file bundles (scripts/lib/vendor-bundles.ts), never their packages.
    for (const pkg of VENDORED_PACKAGES) expect(graph.threadsLoading(pkg).size, `threads that load ${pkg}`).toBe(0)
    expect(graph.chains().has(path.join(cli.root, 'dist', 'vendor', 'yaml.js'))).toBe(true)
  })

  it('renders the Dockerfile from the template precompiled at build time, not compiled at run time', async () => {
    const graph = await traced('build examples/iris --print', [cli.bin, 'build', iris, '--print'])

    expect(graph.chains().has(path.join(cli.root, 'dist', 'image', 'dockerfile-template.js'))).toBe(true)
    // Handlebars' runtime alone renders it: its compiler (dist/vendor/handlebars.js) stays unloaded.
    expect(graph.chains().has(path.join(cli.root, 'dist', 'vendor', 'handlebars', 'runtime.js'))).toBe(true)
    expect(graph.chains().has(path.join(cli.root, 'dist', 'vendor', 'handlebars.js'))).toBe(false)
  })
})
