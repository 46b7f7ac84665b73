import type {Interfaces} from '@oclif/core'

import {readFileSync} from 'node:fs'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The command manifest's file name: oclif reads it from its root, before any command is imported. */
export const MANIFEST_FILE = 'oclif.manifest.json'

export interface CompiledCliOptions {
  /** dist/: the compiled CLI's oclif root, where its manifest lives. */
  root: string
  /** package.json, with the commands folder given relative to dist/. */
  pjson: Interfaces.PJSON
}

/**
 * How bin/run.js loads oclif: rooted at dist/ (package.json given to it in memory), so the command manifest that
 * `npm run build` writes (dist/oclif.manifest.json) sits beside the code it describes and is rebuilt with it. With a
 * manifest oclif answers `--version` and `--help` and finds a command without importing any command module.
 *
 * Why not the package root, where oclif looks by default: oclif reads a manifest from its root without comparing it
 * with the commands. At the package root, the manifest of the last build would also be read by bin/dev.js and by
 * @oclif/test (tests), which run the TypeScript sources: a command added since the build would be missing and the
 * others would be imported from dist/ instead of src/. Rooted at dist/, sources never see a manifest.
 */
export function compiledCliOptions(distDir: string | URL): CompiledCliOptions {
  const root = path.resolve(typeof distDir === 'string' ? distDir : fileURLToPath(distDir))
  const packageRoot = path.dirname(root)
  const pjson = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as Interfaces.PJSON
  const {commands, helpClass, hooks} = pjson.oclif
  if (typeof commands !== 'string') throw new Error('package.json: oclif.commands must be the commands folder')
  // package.json names files from the package root; oclif resolves them from its root, dist/.
  const fromDist = (file: string) => `./${path.relative(root, path.join(packageRoot, file))}`
  const relocate = <T extends {target: string}>(entry: string | T) =>
    typeof entry === 'string' ? fromDist(entry) : {...entry, target: fromDist(entry.target)}
  const hooksFromDist = Object.fromEntries(
    Object.entries(hooks ?? {}).map(([event, hook]) => [event, (Array.isArray(hook) ? hook : [hook]).map(relocate)]),
  )
  return {
    pjson: {
      ...pjson,
      oclif: {
        ...pjson.oclif,
        commands: fromDist(commands),
        ...(helpClass ? {helpClass: relocate(helpClass)} : {}),
        hooks: hooksFromDist,
      },
    },
    root,
  }
}

/**
 * Writes dist/oclif.manifest.json from the compiled commands, as `oclif manifest` does (every command imported once,
 * its flags, args and help cached), failing if any command cannot be loaded. `npm run build` calls it after tsc, so
 * the manifest always describes the dist/ it sits in. Returns the command ids.
 */
export async function writeCommandManifest(distDir: string | URL): Promise<string[]> {
  const {Plugin} = await import('@oclif/core')
  const options = compiledCliOptions(distDir)
  const plugin = new Plugin({
    ...options,
    errorOnManifestCreate: true,
    ignoreManifest: true,
    isRoot: true,
    respectNoCacheDefault: true,
    type: 'core',
  })
  await plugin.load()
  await writeFile(path.join(options.root, MANIFEST_FILE), `${JSON.stringify(plugin.manifest, null, 2)}\n`)
  return Object.keys(plugin.manifest.commands).sort()
}
