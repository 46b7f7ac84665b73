import type {Plugin} from 'esbuild'

/**
 * Node built-in modules that a package requires as it loads but uses only on a path the server never takes, by
 * importer, as the importer names them: fastify's server.js loads node:https and node:http2 (and through them tls and
 * crypto) for HTTPS and HTTP/2 servers, and prom-client's pushgateway.js loads https to push to a gateway; the serving
 * app does neither. prom-client's heap-space metric loads v8 for the process metrics, which start after the first
 * answer (processMetrics: 'later'). Loading them is some 5 ms of CPU in each serving process's start (issue 19).
 */
export const LAZY_BUILTINS: readonly {importer: RegExp; modules: readonly string[]}[] = [
  {importer: /[\\/]fastify[\\/]lib[\\/]server\.js$/, modules: ['node:https', 'node:http2']},
  {importer: /[\\/]prom-client[\\/]lib[\\/]pushgateway\.js$/, modules: ['https']},
  {importer: /[\\/]prom-client[\\/]lib[\\/]metrics[\\/]heapSpacesSizeAndUsed\.js$/, modules: ['v8']},
]

/** The namespace of the modules the plugin makes: their paths in esbuild's metafile start with it (no file on disk). */
export const LAZY_BUILTINS_NAMESPACE = 'mlship-lazy-builtin'

/** What such an importer gets for `name`: the module itself, loaded on the first use of any of its properties. */
export function lazyBuiltinModule(name: string): string {
  const id = JSON.stringify(name)
  return `let loaded
const load = () => (loaded ??= require(${id}))
module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(load(), key)
    return descriptor && {...descriptor, configurable: true}
  },
})
`
}

/** esbuild plugin: LAZY_BUILTINS' importers get lazyBuiltinModule for those modules, everyone else the module. */
export function lazyBuiltins(): Plugin {
  return {
    name: 'lazy-builtins',
    setup(build) {
      const names = new Set(LAZY_BUILTINS.flatMap(({modules}) => modules))
      // Module names: letters, digits, colons and slashes, none of which a regular expression reads otherwise.
      build.onResolve({filter: new RegExp(`^(${[...names].join('|')})$`)}, (args) => {
        if (args.namespace === LAZY_BUILTINS_NAMESPACE) return undefined
        const lazy = LAZY_BUILTINS.some(
          ({importer, modules}) => importer.test(args.importer) && modules.includes(args.path),
        )
        return lazy ? {namespace: LAZY_BUILTINS_NAMESPACE, path: args.path} : undefined
      })
      build.onLoad({filter: /.*/, namespace: LAZY_BUILTINS_NAMESPACE}, (args) => ({
        contents: lazyBuiltinModule(args.path),
        loader: 'js',
      }))
    },
  }
}
