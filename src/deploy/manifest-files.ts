import {mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {parseAllDocuments, stringify} from 'yaml'

import type {KubernetesObject} from './objects.js'

/** The first line of every file mlship writes: only files that start with it are ever read back or removed. */
export const MANIFEST_HEADER = "# Written by `mlship deploy`: edit model.yaml's deploy: section and run it again."

export function manifestFileName(object: KubernetesObject): string {
  return `${object.metadata?.name ?? 'unnamed'}.${object.kind.toLowerCase()}.yaml`
}

function toYaml(object: KubernetesObject): string {
  // lineWidth 0: long values (images, commands) stay on one line, as people write them.
  return stringify(object, {aliasDuplicateObjects: false, lineWidth: 0})
}

/** One multi-document YAML stream, for `kubectl apply -f -`. */
export function yamlStream(objects: KubernetesObject[]): string {
  return `${MANIFEST_HEADER}\n${objects.map((o) => `---\n${toYaml(o)}`).join('')}`
}

export interface WrittenManifests {
  dir: string
  written: string[]
  /** Files an earlier run wrote for objects that no longer exist (the canary after --promote or --abort). */
  removed: string[]
}

/**
 * Writes one file per object and removes the files an earlier run wrote for objects that are gone. Files without
 * mlship's header are the user's and are never touched. The same objects give the same bytes: re-running changes
 * nothing, and the folder diffs cleanly in git.
 */
export async function writeManifests(dir: string, objects: KubernetesObject[]): Promise<WrittenManifests> {
  await mkdir(dir, {recursive: true})
  const names = new Set<string>()
  const written: string[] = []
  for (const object of objects) {
    const name = manifestFileName(object)
    names.add(name)
    await writeFile(path.join(dir, name), `${MANIFEST_HEADER}\n${toYaml(object)}`)
    written.push(name)
  }
  const removed: string[] = []
  for (const file of await ownManifestFiles(dir)) {
    if (names.has(file.name)) continue
    await rm(file.path, {force: true})
    removed.push(file.name)
  }
  return {dir, removed: removed.sort(), written}
}

/** The objects in the files mlship wrote to `dir` before; none when the folder does not exist. */
export async function readManifests(dir: string): Promise<KubernetesObject[]> {
  const objects: KubernetesObject[] = []
  for (const file of await ownManifestFiles(dir)) {
    for (const document of parseAllDocuments(file.text)) {
      if ('errors' in document && document.errors.length === 0) {
        const value = document.toJS() as unknown
        if (value && typeof value === 'object' && 'kind' in value) objects.push(value as KubernetesObject)
      }
    }
  }
  return objects
}

async function ownManifestFiles(dir: string): Promise<Array<{name: string; path: string; text: string}>> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const files = []
  for (const name of entries.filter((entry) => /\.ya?ml$/.test(entry)).sort()) {
    const file = path.join(dir, name)
    const text = await readFile(file, 'utf8').catch(() => '')
    if (text.startsWith(MANIFEST_HEADER)) files.push({name, path: file, text})
  }
  return files
}
