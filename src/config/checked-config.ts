import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {CONFIG_FILE_NAME, resolveConfigFile} from './config-file.js'
import type {LoadedConfig} from './load.js'
import type {ModelConfig} from './schema.js'

/**
 * model.yaml as `mlship build` read and checked it, written beside it in the image. The server's first process reads
 * it instead of parsing and validating model.yaml again (the YAML parser and zod are most of the code it would load
 * before the cluster's processes can start: issue 19, cold start), and only while model.yaml is byte for byte the one
 * it was made from: a model.yaml mounted over the image's, or a model directory of one's own (MLSHIP_MODEL_DIR), is
 * read and checked as ever.
 */
export const CHECKED_CONFIG_FILE = '.model.yaml.checked.json'

/** Bumped whenever what the file holds changes meaning: a file of another format is not read. */
const FORMAT = 2

interface CheckedConfigDocument {
  format: number
  /**
   * The model.yaml bytes the config was parsed from (base64), compared byte for byte: a digest would load node:crypto
   * in the server's first process, some 6 ms before it can start the cluster's processes.
   */
  modelYaml: string
  config: ModelConfig
}

/** The file's text for model.yaml's bytes and what they parsed to (config/load.ts, parseConfigText). */
export function checkedConfigText(modelYaml: Buffer, config: ModelConfig): string {
  const document: CheckedConfigDocument = {config, format: FORMAT, modelYaml: modelYaml.toString('base64')}
  return `${JSON.stringify(document)}\n`
}

/**
 * model.yaml of `dirOrFile` as the checked file beside it holds it, or undefined where there is none, it cannot be
 * read, or it was made from other bytes: the caller then loads model.yaml itself (loadConfig), with its messages.
 */
export async function readCheckedConfig(dirOrFile: string): Promise<LoadedConfig | undefined> {
  const file = resolveConfigFile(dirOrFile)
  if (path.basename(file) !== CONFIG_FILE_NAME) return undefined
  const dir = path.dirname(file)
  try {
    const [yaml, checked] = await Promise.all([readFile(file), readFile(path.join(dir, CHECKED_CONFIG_FILE), 'utf8')])
    const document = JSON.parse(checked) as Partial<CheckedConfigDocument>
    if (document.format !== FORMAT || typeof document.modelYaml !== 'string' || !document.config) return undefined
    if (!Buffer.from(document.modelYaml, 'base64').equals(yaml)) return undefined
    const config = document.config
    return {config, dir, file, modelPath: path.resolve(dir, config.model.file)}
  } catch {
    return undefined
  }
}
