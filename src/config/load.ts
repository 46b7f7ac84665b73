import {closest, distance} from 'fastest-levenshtein'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode, type Document} from 'yaml'
import type * as z from 'zod'

import {ConfigError, errorMessage} from '../errors.js'
import {type ModelConfig, modelConfigJsonSchema, modelConfigSchema} from './schema.js'

import {resolveConfigFile} from './config-file.js'

export {CONFIG_FILE_NAME, resolveConfigFile} from './config-file.js'

export interface LoadedConfig {
  /** The directory that holds model.yaml; relative paths in it resolve from here. */
  dir: string
  /** Absolute path of model.yaml. */
  file: string
  config: ModelConfig
  /** Absolute path of the model file. */
  modelPath: string
}

export interface ConfigProblem {
  file: string
  line?: number
  column?: number
  /** Dotted key path, e.g. serving.batching.max_delay_ms or signature.inputs[0].dtype. */
  keyPath: string
  message: string
  hint?: string
}

export async function loadConfig(dirOrFile = '.'): Promise<LoadedConfig> {
  const file = resolveConfigFile(dirOrFile)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ConfigError(
      code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot be read (${errorMessage(error)})`,
      {
        code: 'CONFIG_NOT_FOUND',
        details: {file},
        suggestions: [
          'Run `mlship init` in the model directory to create model.yaml, or pass the directory that has one.',
        ],
      },
    )
  }

  const config = parseConfigText(text, file)
  const dir = path.dirname(file)
  return {config, dir, file, modelPath: path.resolve(dir, config.model.file)}
}

/** Parses and validates the text of a model.yaml; `file` is only used in messages. */
export function parseConfigText(text: string, file: string): ModelConfig {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true})

  if (doc.errors.length > 0) {
    const first = doc.errors[0]!
    const pos = lineCounter.linePos(first.pos[0])
    const problem: ConfigProblem = {
      column: pos.col,
      file,
      keyPath: '',
      line: pos.line,
      message: first.message.split('\n')[0]!,
    }
    throw problemsError([problem], 'is not valid YAML')
  }

  const data = doc.toJS({maxAliasCount: 100}) as unknown
  if (data === null || data === undefined || typeof data !== 'object' || Array.isArray(data)) {
    throw problemsError([
      {file, keyPath: '', line: 1, column: 1, message: 'expected a mapping of keys (name, version, model, ...)'},
    ])
  }

  const result = modelConfigSchema.safeParse(data)
  if (result.success) return result.data

  const problems = result.error.issues.flatMap((issue) => issueToProblems(issue, doc, lineCounter, file))
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  throw problemsError(problems)
}

function problemsError(problems: ConfigProblem[], summary = 'is not a valid mlship model.yaml'): ConfigError {
  const first = problems[0]!
  const lines = problems.map((p) => `  ${formatProblem(p)}`)
  const message = `${first.file} ${summary}:\n${lines.join('\n')}`
  const suggestions = [
    ...new Set(problems.flatMap((p) => (p.hint ? [p.hint] : []))),
    'The schema is in schema/model.schema.json; editors with the YAML language server validate model.yaml as you type.',
  ]
  return new ConfigError(message, {details: {file: first.file, problems}, suggestions})
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`
  const key = p.keyPath ? ` [${p.keyPath}]` : ''
  const hint = p.hint ? ` (${p.hint})` : ''
  return `${where}${key}: ${p.message}${hint}`
}

type PathKey = string | number

function formatKeyPath(keys: readonly PathKey[]): string {
  let out = ''
  for (const key of keys) out += typeof key === 'number' ? `[${key}]` : out ? `.${key}` : key
  return out
}

function issueToProblems(
  issue: z.core.$ZodIssue,
  doc: Document,
  lineCounter: LineCounter,
  file: string,
): ConfigProblem[] {
  const issuePath = issue.path.filter((k): k is PathKey => typeof k === 'string' || typeof k === 'number')

  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issuePath)
    return issue.keys.map((key) => {
      const keyNode = findKeyNode(doc, issuePath, key)
      const pos = keyNode?.range ? lineCounter.linePos(keyNode.range[0]) : positionOf(doc, issuePath, lineCounter)
      const suggestion = known.length > 0 ? closest(key, known) : undefined
      const keysInConfig =
        formatKeyPath(issuePath) === 'serving.auth' && /^(api_?)?(keys?|tokens?|secrets?)$/i.test(key)
      const hint = keysInConfig
        ? 'API keys never go in model.yaml: it ends up in the image and in version control. Put them in the ' +
          'variable serving.auth.keys_env names (MLSHIP_API_KEYS by default) or in the file serving.auth.keys_file names'
        : suggestion && similarEnough(key, suggestion)
          ? `did you mean "${suggestion}"?`
          : known.length > 0
            ? `known keys here: ${known.join(', ')}`
            : undefined
      return {
        column: pos?.col,
        file,
        hint,
        keyPath: formatKeyPath([...issuePath, key]),
        line: pos?.line,
        message: `unknown key "${key}"`,
      }
    })
  }

  const pos = positionOf(doc, issuePath, lineCounter)
  return [
    {
      column: pos?.col,
      file,
      keyPath: formatKeyPath(issuePath),
      line: pos?.line,
      message: describeIssue(issue, doc, issuePath),
    },
  ]
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, issuePath: PathKey[]): string {
  const present = doc.hasIn(issuePath)
  switch (issue.code) {
    case 'invalid_type': {
      if (!present) return `missing required key (expected ${issue.expected})`
      const got = doc.getIn(issuePath, true)
      // `version: 1.0` is the number 1 to YAML: say what was written and how to make it text.
      if (
        issue.expected === 'string' &&
        isScalar(got) &&
        typeof got.value !== 'string' &&
        typeof got.source === 'string'
      )
        return `expected a string, got ${got.source} (YAML reads it as a ${typeof got.value}: write "${got.source}" in quotes)`
      return `expected ${issue.expected}, got ${describeValue(got)}`
    }
    case 'invalid_value': {
      const got = doc.getIn(issuePath)
      const allowed = issue.values.map((v) => JSON.stringify(v)).join(', ')
      return `expected one of ${allowed}, got ${describeValue(got)}`
    }
    case 'invalid_union': {
      const got = doc.getIn(issuePath)
      return `${issue.message.replace(/^Invalid input$/, 'not an accepted value')}, got ${describeValue(got)}`
    }
    case 'invalid_format':
      return `expected ${issue.message}, got ${describeValue(doc.getIn(issuePath))}`
    default:
      return issue.message
  }
}

function describeValue(value: unknown): string {
  if (isScalar(value)) value = value.value
  if (value === null || value === undefined) return 'nothing'
  if (typeof value === 'string') return `"${value}" (a string)`
  if (typeof value === 'number' || typeof value === 'boolean') return `${value} (a ${typeof value})`
  if (isMap(value)) return 'a mapping'
  return 'a list'
}

function similarEnough(a: string, b: string): boolean {
  // A typo is a few edits away; anything further is a different key, and the list of known keys helps more.
  return distance(a.toLowerCase(), b.toLowerCase()) <= Math.max(2, Math.floor(b.length / 3))
}

function positionOf(doc: Document, keys: PathKey[], lineCounter: LineCounter): {line: number; col: number} | undefined {
  // The deepest node that exists: for a missing key that is its parent mapping.
  for (let depth = keys.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : (doc.getIn(keys.slice(0, depth), true) as YamlNode | undefined)
    if (node && typeof node === 'object' && 'range' in node && node.range) return lineCounter.linePos(node.range[0])
  }
  return undefined
}

function findKeyNode(doc: Document, parentPath: PathKey[], key: string): YamlNode | undefined {
  const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true)
  if (!isMap(parent)) return undefined
  const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === key)
  return pair && isScalar(pair.key) ? pair.key : undefined
}

interface JsonSchemaNode {
  properties?: Record<string, JsonSchemaNode>
  items?: JsonSchemaNode
  anyOf?: JsonSchemaNode[]
  oneOf?: JsonSchemaNode[]
  allOf?: JsonSchemaNode[]
}

/** The keys the schema allows at a path, for "did you mean" hints. */
function knownKeysAt(keys: PathKey[]): string[] {
  let nodes: JsonSchemaNode[] = [modelConfigJsonSchema()]
  for (const key of keys) {
    nodes = nodes.flatMap(expand).flatMap((node) => {
      if (typeof key === 'number') return node.items ? [node.items] : []
      const child = node.properties?.[key]
      return child ? [child] : []
    })
  }
  return [...new Set(nodes.flatMap(expand).flatMap((node) => Object.keys(node.properties ?? {})))]
}

function expand(node: JsonSchemaNode): JsonSchemaNode[] {
  const alternatives = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]
  return [node, ...alternatives.flatMap(expand)]
}
