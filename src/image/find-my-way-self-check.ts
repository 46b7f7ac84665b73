import type {Plugin} from 'esbuild'

/**
 * The regular expressions find-my-way (fastify's router) checks with safe-regex2 as it loads, to test itself: constants
 * of its own, known safe. Checking them loads and runs safe-regex2 and its parser (ret) in every serving process, some
 * 2% of the instructions a cluster process runs to warm (issue 19), for an answer that never changes.
 */
export const FIND_MY_WAY_OWN_REGEXPS: readonly RegExp[] = [/(\/:[^/()]*?)\?(\/?)/, /[.*+?^${}()|[\]\\]/g, /\/\/+/g]

/** The namespace of the module the plugin makes: its path in esbuild's metafile starts with it (no file on disk). */
export const SELF_CHECK_NAMESPACE = 'mlship-find-my-way-self-check'

/**
 * The safe-regex2 that find-my-way gets in the image's bundle: its own three constants are answered safe at once
 * (they are: find-my-way-self-check.test.ts asks safe-regex2 itself), and any other regular expression (a route's
 * regex parameter) is checked by safe-regex2, loaded on that first use.
 */
export function selfCheckModule(): string {
  const own = JSON.stringify(FIND_MY_WAY_OWN_REGEXPS.map(String))
  return `const own = new Set(${own})
let check
module.exports = function isRegexSafe(re, options) {
  if (re instanceof RegExp && own.has(String(re))) return true
  check ??= require('safe-regex2')
  return check(re, options)
}
`
}

/** esbuild plugin: find-my-way's `require('safe-regex2')` gets selfCheckModule; everyone else the package itself. */
export function findMyWaySelfCheck(): Plugin {
  return {
    name: 'find-my-way-self-check',
    setup(build) {
      build.onResolve({filter: /^safe-regex2$/}, (args) =>
        /[\\/]find-my-way[\\/]index\.js$/.test(args.importer)
          ? {namespace: SELF_CHECK_NAMESPACE, path: 'safe-regex2', pluginData: {resolveDir: args.resolveDir}}
          : undefined,
      )
      build.onLoad({filter: /.*/, namespace: SELF_CHECK_NAMESPACE}, (args) => ({
        contents: selfCheckModule(),
        loader: 'js',
        // The package itself, for the other regular expressions: resolved from find-my-way's folder, as it would be.
        resolveDir: (args.pluginData as {resolveDir: string}).resolveDir,
      }))
    },
  }
}
