import {existsSync} from 'node:fs'
import {chmod, mkdir, readdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {writeBuildContext} from '../image/context.js'
import type {Platform} from '../image/dockerfile.js'
import {ConfigError} from '../errors.js'

/** Written last into every node folder: what it is, so a rebuild may replace it. */
export const NODE_FOLDER_MANIFEST = 'mlship-node.json'

export interface BuildNodeFolderOptions {
  /** The model directory (or its model.yaml). */
  dir: string
  /** The folder to write: new, empty, or an earlier node folder (replaced). Default ./NAME-node. */
  outputDir?: string
  /** The device's platform (default: build.platform of model.yaml). */
  platform?: Platform
}

/** The --json shape of `mlship build --target node`. */
export interface BuildNodeFolderResult {
  target: 'node'
  outputDir: string
  name: string
  version: string
  platform: Platform
  onnxruntimeVersion: string
  /** Relative paths, sorted. */
  files: string[]
  sizeBytes: number
  /** How to start it on the device. */
  start: string
}

/**
 * `mlship build --target node`: the image's contents as a plain folder, for a device with Node.js and no Docker (a
 * Raspberry Pi class board). It is the same build context `mlship build` makes (the same bundled server,
 * onnxruntime-node with the native files of one platform only, the model and model.yaml), laid out to run in place:
 *   start.sh        sets MLSHIP_MODEL_DIR and runs node server/main.js (PORT, HOST as in the image)
 *   server/         the bundled serving app
 *   node_modules/   onnxruntime-node for linux/<arch> only, onnxruntime-common
 *   model/          the model, model.yaml and the rest of the model directory (.dockerignore applies)
 *   variants/       with an experiment: the other variants' model directories, one folder each
 */
export async function buildNodeFolder(options: BuildNodeFolderOptions): Promise<BuildNodeFolderResult> {
  const staging = await mkdirStaging(options.outputDir)
  try {
    const context = await writeBuildContext({
      dir: options.dir,
      gpu: false,
      outputDir: staging,
      platform: options.platform,
    })
    const outputDir = path.resolve(options.outputDir ?? `${context.name}-node`)
    await prepareFolder(outputDir)
    await rename(path.join(staging, 'runtime', 'server'), path.join(outputDir, 'server'))
    await rename(path.join(staging, 'runtime', 'node_modules'), path.join(outputDir, 'node_modules'))
    await rename(path.join(staging, 'model'), path.join(outputDir, 'model'))
    // config/ holds model.yaml and the rest of the model directory: in the image it is copied over /app/model too.
    for (const entry of await readdir(path.join(staging, 'config'))) {
      await rename(path.join(staging, 'config', entry), path.join(outputDir, 'model', entry))
    }
    // An experiment's other variants, each in a folder of its own (MLSHIP_VARIANTS_DIR, as in the image).
    const variants = (context.values.variants ?? []).length > 0
    if (variants) await rename(path.join(staging, 'variants'), path.join(outputDir, 'variants'))
    const {port} = context.project.config.serving
    await writeFile(path.join(outputDir, 'start.sh'), startScript(context.name, context.version, port, variants), {
      mode: 0o755,
    })
    await chmod(path.join(outputDir, 'start.sh'), 0o755)
    const files = await listFiles(outputDir)
    let sizeBytes = 0
    for (const file of files) sizeBytes += (await stat(path.join(outputDir, file))).size
    const result: BuildNodeFolderResult = {
      files,
      name: context.name,
      onnxruntimeVersion: context.onnxruntimeVersion,
      outputDir,
      platform: context.values.platform,
      sizeBytes,
      start: `${outputDir}/start.sh`,
      target: 'node',
      version: context.version,
    }
    await writeFile(path.join(outputDir, NODE_FOLDER_MANIFEST), `${JSON.stringify(result, null, 2)}\n`)
    return result
  } finally {
    await rm(staging, {force: true, recursive: true})
  }
}

function startScript(name: string, version: string, port: number, variants: boolean): string {
  return `#!/bin/sh
# ${name}@${version}, served by mlship's bundled server with plain Node.js (20.12 or later; no Docker, no npm).
#   ./start.sh                      listens on 0.0.0.0:${port}
#   PORT=9000 HOST=127.0.0.1 ./start.sh
# SIGTERM or Ctrl-C: requests in flight finish, then it exits (as in the image). LOG_LEVEL sets the log level.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 20 ]; then
  echo "${name}: needs Node.js 20.12 or later on PATH (found: $(node -v 2>/dev/null || echo none))" >&2
  exit 2
fi
export MLSHIP_MODEL_DIR="$here/model"
${variants ? 'export MLSHIP_VARIANTS_DIR="$here/variants"\n' : ''}export NODE_ENV=production
export HOST="\${HOST:-0.0.0.0}"
export PORT="\${PORT:-${port}}"
exec node "$here/server/main.js"
`
}

/** A sibling of the output folder (same file system, so the moves are renames); a temporary one when unknown. */
async function mkdirStaging(outputDir: string | undefined): Promise<string> {
  const parent = path.dirname(path.resolve(outputDir ?? 'x'))
  const staging = path.join(parent, `.mlship-node-staging-${process.pid}-${Date.now().toString(36)}`)
  await mkdir(parent, {recursive: true})
  return staging
}

async function prepareFolder(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const info = await stat(dir)
    const entries = info.isDirectory() ? await readdir(dir) : []
    if (!info.isDirectory() || (entries.length > 0 && !entries.includes(NODE_FOLDER_MANIFEST))) {
      throw new ConfigError(`${dir}: the --output folder must be new, empty, or an earlier node folder.`, {
        code: 'OUTPUT_NOT_EMPTY',
        suggestions: ['Pass a new folder, or remove this one first.'],
      })
    }
    await rm(dir, {force: true, recursive: true})
  }
  await mkdir(dir, {recursive: true})
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort()
}
