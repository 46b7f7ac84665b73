import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'

import type {Plugin} from 'esbuild'

/** The module that loads onnxruntime-node (model/onnxruntime-loader.ts), from the sources or dist/. */
const LOADER = /[\\/]model[\\/]onnxruntime-loader\.(ts|js)$/

/** A file of onnxruntime-node or onnxruntime-common. */
const ONNXRUNTIME_FILE = /[\\/]node_modules[\\/]onnxruntime-(node|common)[\\/]/

/** onnxruntime-node's binding.js, which loads the native addon. */
const BINDING = /[\\/]onnxruntime-node[\\/]dist[\\/]binding\.js$/

/** How binding.js loads its native addon: from a path relative to its own file, which in a bundle is the bundle's. */
export const NATIVE_ADDON_REQUIRE = 'require(`../bin/'

/** Where the bundle finds the native addon instead: in onnxruntime-node's folder, which the image still carries. */
const NATIVE_ADDON_FROM_PACKAGE =
  'require(require("node:path").dirname(require.resolve("onnxruntime-node/package.json")) + `/bin/'

/** What the plugin adds to the bundle cache's key: a change to either string makes another bundle. */
export const ONNXRUNTIME_BUNDLE_KEY = `onnxruntime-in-bundle ${NATIVE_ADDON_REQUIRE} ${NATIVE_ADDON_FROM_PACKAGE}`

/**
 * esbuild plugin: onnxruntime's JavaScript (onnxruntime-node's and onnxruntime-common's, some 25 files) goes into the
 * server bundle, compiled with the rest from V8's code cache, rather than be resolved and compiled file by file from
 * node_modules as each process starts (some 8 ms of its start, issue 19). Only the native addon stays in
 * node_modules. The loader module gets a plain require() of onnxruntime-node, which esbuild bundles; binding.js gets
 * the addon's path from the package's folder.
 */
export function onnxruntimeInBundle(): Plugin {
  return {
    name: 'onnxruntime-in-bundle',
    setup(build) {
      // onnxruntime-node and onnxruntime-common stay external (BUNDLE_EXTERNAL) but where the loader and their own
      // files require them: those get the files themselves.
      build.onResolve({filter: /^onnxruntime-(node|common)$/}, (args) =>
        LOADER.test(args.importer) || ONNXRUNTIME_FILE.test(args.importer)
          ? {path: createRequire(args.importer).resolve(args.path)}
          : undefined,
      )
      build.onLoad({filter: LOADER}, () => ({
        // An ES module, as the loader is (its package's type): require() where esbuild sees it, still on first use.
        contents: "export function loadOnnxruntime() {\n  return require('onnxruntime-node')\n}\n",
        loader: 'js',
      }))
      build.onLoad({filter: BINDING}, async (args) => {
        const source = await readFile(args.path, 'utf8')
        if (!source.includes(NATIVE_ADDON_REQUIRE)) {
          throw new Error(
            `${args.path} no longer loads its native addon with ${NATIVE_ADDON_REQUIRE}...: ` +
              'image/onnxruntime-bundle.ts must learn how this onnxruntime-node version does',
          )
        }
        return {contents: source.replace(NATIVE_ADDON_REQUIRE, NATIVE_ADDON_FROM_PACKAGE), loader: 'js'}
      })
    },
  }
}
