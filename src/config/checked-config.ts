import {createHash} from 'node:crypto'
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
const FORMAT = 1

interface CheckedConfigDocument {
  format: number
  /** sha256 (hex) of the model.yaml bytes the config was parsed from. */
  modelYamlSha256: string
  config: ModelConfig
}

/** The file's text for model.yaml's bytes and what they parsed to (config/load.ts, parseConfigText). */
export function checkedConfigText(modelYaml: Buffer, config: ModelConfig): string {
  const document: CheckedConfigDocument = {config, format: FORMAT, modelYamlSha256: sha256(modelYaml)}
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
    if (document.format !== FORMAT || document.modelYamlSha256 !== sha256(yaml) || !document.config) return undefined
    const config = document.config
    return {config, dir, file, modelPath: path.resolve(dir, config.model.file)}
  } catch {
    return undefined
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
