import {readFile} from 'node:fs/promises'
import {LineCounter, parseDocument, type Node as YamlNode} from 'yaml'

import {type ConfigProblem, formatProblem} from '../config/load.js'
import {ConfigError, type MlshipErrorOptions} from '../errors.js'

export type KeyPath = ReadonlyArray<string | number>

/**
 * Where a key of a model.yaml is (line and column, from 1), for problems found after the file was loaded and checked
 * (the variants of an experiment live in other files). The deepest node of the path that exists: a missing key points
 * at its parent.
 */
export async function locateKey(file: string, keyPath: KeyPath): Promise<{line: number; column: number} | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return undefined
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter})
  for (let depth = keyPath.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : (doc.getIn(keyPath.slice(0, depth), true) as YamlNode | undefined)
    if (node && typeof node === 'object' && 'range' in node && node.range) {
      const position = lineCounter.linePos(node.range[0])
      return {column: position.col, line: position.line}
    }
  }
  return undefined
}

export function formatKeyPath(keys: KeyPath): string {
  let out = ''
  for (const key of keys) out += typeof key === 'number' ? `[${key}]` : out ? `.${key}` : key
  return out
}

/**
 * A ConfigError (exit 2) about a key of model.yaml found after loading it, in the loader's format:
 * `model.yaml:14:14 [experiment.variants[1].model]: message`.
 */
export async function configErrorAt(
  file: string,
  keyPath: KeyPath,
  message: string,
  options: Omit<MlshipErrorOptions, 'exitCode'> & {hint?: string} = {},
): Promise<ConfigError> {
  const position = await locateKey(file, keyPath)
  const problem: ConfigProblem = {
    column: position?.column,
    file,
    keyPath: formatKeyPath(keyPath),
    line: position?.line,
    message,
    ...(options.hint ? {hint: options.hint} : {}),
  }
  return new ConfigError(`${file} is not a valid mlship model.yaml:\n  ${formatProblem(problem)}`, {
    code: options.code ?? 'EXPERIMENT_INVALID',
    details: {file, problems: [problem], ...options.details},
    suggestions: options.suggestions ?? [],
    ...(options.cause === undefined ? {} : {cause: options.cause}),
  })
}
