import type {Plugin} from 'esbuild'

/** Modules an importer requires as it loads but uses later, if ever: its `require()` of them is made lazy. */
export interface LazyModules {
  /** The importer, as esbuild names it (its path). */
  importer: RegExp
  /** Node built-in modules and packages, as the importer names them. */
  modules: readonly string[]
}

/**
 * What packages of the server require as they load but use only on a path the server never takes, or takes after it
 * is ready (issue 19: some 7 ms of CPU in each serving process's start):
 * - fastify's server.js loads node:https and node:http2 (and through them tls and crypto) for HTTPS and HTTP/2 servers;
 * - fastify's plugin-utils.js loads semver (all of it: some 1 ms) to check a plugin's `fastify` version range, which
 *   none of the server's plugins has (@fastify/multipart does, loaded only by models that take files);
 * - prom-client's pushgateway.js loads https to push to a gateway, which the server never does;
 * - prom-client's process metrics load v8 (heap spaces) and @opentelemetry/api (exemplars, which the server does not
 *   turn on), and start after the first answer (processMetrics: 'later').
 */
export const LAZY_MODULES: readonly LazyModules[] = [
  {importer: /[\\/]fastify[\\/]lib[\\/]server\.js$/, modules: ['node:https', 'node:http2']},
  {importer: /[\\/]fastify[\\/]lib[\\/]plugin-utils\.js$/, modules: ['semver']},
  {importer: /[\\/]prom-client[\\/]lib[\\/]pushgateway\.js$/, modules: ['https']},
  {importer: /[\\/]prom-client[\\/]lib[\\/]metrics[\\/]heapSpacesSizeAndUsed\.js$/, modules: ['v8']},
  {importer: /[\\/]prom-client[\\/]lib[\\/]metrics[\\/]processCpuTotal\.js$/, modules: ['@opentelemetry/api']},
]

/** The namespace of the modules the plugin makes: their paths in esbuild's metafile start with it (no file on disk). */
export const LAZY_MODULES_NAMESPACE = 'mlship-lazy-module'

/**
 * What such an importer gets for `name`: the module itself, loaded on the first use of any of its properties (or on
 * its first call, for a module that is a function). A package is still bundled: esbuild runs its code only then. The
 * target is an arrow function: callable, and without the non-configurable `prototype` that the ownKeys trap would
 * have to report.
 */
export function lazyModule(name: string): string {
  const id = JSON.stringify(name)
  return `let loaded
const load = () => (loaded ??= require(${id}))
module.exports = new Proxy(() => {}, {
  apply: (_, self, args) => Reflect.apply(load(), self, args),
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

/** esbuild plugin: the importers of `lazy` get lazyModule for those modules, everyone else the module. */
export function lazyModules(lazy: readonly LazyModules[] = LAZY_MODULES): () => Plugin {
  return () => ({
    name: 'lazy-modules',
    setup(build) {
      const names = new Set(lazy.flatMap(({modules}) => modules))
      const escaped = [...names].map((name) => name.replaceAll(/[.*+?^${}()|[\]\\/]/g, String.raw`\$&`))
      build.onResolve({filter: new RegExp(`^(${escaped.join('|')})$`)}, (args) => {
        if (args.namespace === LAZY_MODULES_NAMESPACE) return undefined
        const isLazy = lazy.some(({importer, modules}) => importer.test(args.importer) && modules.includes(args.path))
        // resolveDir: the module's own require() then finds a package from the importer's folder, as it would.
        return isLazy
          ? {namespace: LAZY_MODULES_NAMESPACE, path: args.path, pluginData: {resolveDir: args.resolveDir}}
          : undefined
      })
      build.onLoad({filter: /.*/, namespace: LAZY_MODULES_NAMESPACE}, (args) => ({
        contents: lazyModule(args.path),
        loader: 'js',
        resolveDir: (args.pluginData as {resolveDir: string}).resolveDir,
      }))
    },
  })
}
