import {copyFile, mkdir, readdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import Handlebars from 'handlebars'

import {parseConfigText} from '../config/load.js'
import {imageNameSchema, type ModelConfigInput, semverSchema, type Signature} from '../config/schema.js'
import {renderModelYaml, schemaUrlFor} from '../config/write.js'
import {ConfigError, MlshipError, ExitCode} from '../errors.js'
import {readModelSignature} from '../model/signature.js'
import {examplesDir, templatesDir} from '../util/paths.js'

/** Asks the user; an implementation with @inquirer/prompts is used on a TTY, tests inject their own. */
export interface Prompter {
  input(options: {message: string; default?: string; validate?: (value: string) => true | string}): Promise<string>
  confirm(options: {message: string; default?: boolean}): Promise<boolean>
}

export interface InitOptions {
  dir: string
  model?: string
  name?: string
  version?: string
  description?: string
  /** Scaffold a bundled example (e.g. "iris") instead of an own model. */
  example?: string
  force?: boolean
  dryRun?: boolean
  /** Present only when the user can be asked (a TTY without --yes). */
  prompter?: Prompter
  mlshipVersion: string
}

export interface PlannedFile {
  path: string
  action: 'create' | 'overwrite' | 'copy'
  bytes: number
}

export interface InitResult {
  dir: string
  dryRun: boolean
  name: string
  version: string
  model: string
  signature: Signature
  files: PlannedFile[]
  /** The contents of the text files, for --dry-run. */
  contents: Record<string, string>
}

interface FileToWrite {
  relativePath: string
  content?: string
  copyFrom?: string
}

export const EXAMPLES = ['iris', 'digits-mlp'] as const

/** Validators shared by the flags and the prompts. */
export function validateName(value: string): true | string {
  const result = imageNameSchema.safeParse(value)
  return result.success || `"${value}" is not a valid name: ${result.error.issues[0]?.message}`
}

export function validateVersion(value: string): true | string {
  const result = semverSchema.safeParse(value)
  return result.success || `"${value}" is not a valid version: expected ${result.error.issues[0]?.message}`
}

export function defaultNameFor(dir: string): string {
  const slug = path
    .basename(path.resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
  return slug && validateName(slug) === true ? slug : 'model'
}

export async function initProject(options: InitOptions): Promise<InitResult> {
  const dir = path.resolve(options.dir)
  const files = options.example
    ? await exampleFiles(options.example, options.mlshipVersion)
    : await ownModelFiles(dir, options)
  const configText = files.find((f) => f.relativePath === 'model.yaml')!.content!
  const summary = await summarize(dir, configText, files)
  const withCommon = [...files, ...commonFiles(summary.name, options.mlshipVersion, await readInitTemplates())]

  const planned: PlannedFile[] = []
  const existing: string[] = []
  for (const file of withCommon) {
    const target = path.join(dir, file.relativePath)
    const exists = await pathExists(target)
    if (exists) existing.push(file.relativePath)
    const bytes = file.content === undefined ? (await stat(file.copyFrom!)).size : Buffer.byteLength(file.content)
    planned.push({action: file.copyFrom ? 'copy' : exists ? 'overwrite' : 'create', bytes, path: file.relativePath})
  }

  if (existing.length > 0 && !options.force && !options.dryRun) {
    throw new MlshipError(
      `${dir}: ${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; nothing was written`,
      {
        code: 'INIT_WOULD_OVERWRITE',
        details: {dir, existing},
        exitCode: ExitCode.usage,
        suggestions: ['Run again with --force to overwrite, or with --dry-run to see what would be written.'],
      },
    )
  }

  const contents = Object.fromEntries(
    withCommon.flatMap((f) => (f.content === undefined ? [] : [[f.relativePath, f.content]])),
  )

  if (!options.dryRun) {
    for (const file of withCommon) {
      const target = path.join(dir, file.relativePath)
      await mkdir(path.dirname(target), {recursive: true})
      if (file.copyFrom) {
        if (path.resolve(file.copyFrom) !== target) await copyFile(file.copyFrom, target)
      } else {
        await writeFile(target, file.content!)
      }
    }
  }

  return {contents, dir, dryRun: Boolean(options.dryRun), files: planned, ...summary}
}

async function summarize(dir: string, configText: string, files: FileToWrite[]) {
  const config = parseConfigText(configText, path.join(dir, 'model.yaml'))
  const modelFile = files.find((f) => f.relativePath === config.model.file)
  const signature =
    config.signature ?? (await readModelSignature(modelFile?.copyFrom ?? path.join(dir, config.model.file)))
  return {model: config.model.file, name: config.name, signature, version: config.version}
}

async function exampleFiles(example: string, mlshipVersion: string): Promise<FileToWrite[]> {
  if (!(EXAMPLES as readonly string[]).includes(example)) {
    throw new ConfigError(`unknown example "${example}"`, {
      code: 'UNKNOWN_EXAMPLE',
      suggestions: [`Known examples: ${EXAMPLES.join(', ')}.`],
    })
  }
  const source = path.join(examplesDir(), example)
  const entries = await readdir(source, {withFileTypes: true})
  // model.pkl is the sklearn original, kept only for the side-by-side benchmark with the seed's Flask app.
  const files = entries.filter((entry) => entry.isFile() && !entry.name.endsWith('.pkl'))
  return Promise.all(
    files.map(async (entry): Promise<FileToWrite> => {
      const from = path.join(source, entry.name)
      if (entry.name !== 'model.yaml') return {copyFrom: from, relativePath: entry.name}
      // In the repository the schema line points at the checked-out schema; in the user's copy, at the published one.
      const text = (await readFile(from, 'utf8')).replace(
        /^# yaml-language-server: \$schema=.*$/m,
        `# yaml-language-server: $schema=${schemaUrlFor(mlshipVersion)}`,
      )
      return {content: text, relativePath: entry.name}
    }),
  )
}

async function ownModelFiles(dir: string, options: InitOptions): Promise<FileToWrite[]> {
  const prompter = options.prompter
  const modelArg =
    options.model ??
    (prompter
      ? await prompter.input({
          default: await findOnnxFile(dir),
          message: 'Model file (ONNX)',
          validate: (v) => (v.trim() ? true : 'a path to an .onnx file'),
        })
      : await findOnnxFile(dir))
  if (!modelArg) {
    throw new ConfigError(`${dir}: no model given and no .onnx file found there`, {
      code: 'INIT_NO_MODEL',
      suggestions: [
        'Pass --model path/to/model.onnx, or run `mlship init --example iris` to start from the teaching example.',
      ],
    })
  }
  const modelSource = path.resolve(modelArg)
  const signature = await readModelSignature(modelSource)

  const name = await ask(
    options.name,
    defaultNameFor(dir),
    'Model name (also the image name)',
    validateName,
    prompter,
    'name',
  )
  const version = await ask(options.version, '1.0.0', 'Version (semver)', validateVersion, prompter, 'version')
  const description =
    options.description ??
    (prompter ? await prompter.input({default: '', message: 'Description (optional)'}) : undefined)

  let includeSignature = true
  if (prompter) {
    includeSignature = await prompter.confirm({
      default: true,
      message: `${describeSignature(signature)}\nWrite this signature into model.yaml?`,
    })
  }

  // The model travels with model.yaml: a model outside DIR is copied in, so the directory is a complete build context.
  const inside = !path.relative(dir, modelSource).startsWith('..') && !path.isAbsolute(path.relative(dir, modelSource))
  const modelRelative = inside ? path.relative(dir, modelSource).split(path.sep).join('/') : path.basename(modelSource)

  const config: ModelConfigInput = {
    name,
    version,
    ...(description ? {description} : {}),
    model: {file: modelRelative, format: 'onnx'},
    ...(includeSignature ? {signature} : {}),
    serving: {port: 8080},
  }
  const files: FileToWrite[] = [
    {content: renderModelYaml(config, {mlshipVersion: options.mlshipVersion}), relativePath: 'model.yaml'},
  ]
  if (!inside) files.push({copyFrom: modelSource, relativePath: modelRelative})
  return files
}

// No .dockerignore: `mlship build` copies only the model, its external data and model.yaml into the image.
function commonFiles(name: string, mlshipVersion: string, templates: {workflow: string}): FileToWrite[] {
  const workflow = Handlebars.compile(templates.workflow, {noEscape: true, strict: true})
  return [{content: workflow({dir: '.', mlshipVersion, name}), relativePath: '.github/workflows/mlship.yml'}]
}

async function readInitTemplates(): Promise<{workflow: string}> {
  return {workflow: await readFile(path.join(templatesDir(), 'init', 'github-workflow.yml.hbs'), 'utf8')}
}

async function ask(
  given: string | undefined,
  fallback: string,
  message: string,
  validate: (value: string) => true | string,
  prompter: Prompter | undefined,
  flag: string,
): Promise<string> {
  if (given !== undefined) {
    const valid = validate(given)
    if (valid !== true) throw new ConfigError(`--${flag}: ${valid}`, {code: 'INVALID_FLAG'})
    return given
  }
  return prompter ? prompter.input({default: fallback, message, validate}) : fallback
}

async function findOnnxFile(dir: string): Promise<string | undefined> {
  try {
    const onnx = (await readdir(dir)).filter((f) => f.endsWith('.onnx'))
    return onnx.length === 1 ? path.relative(process.cwd(), path.join(dir, onnx[0]!)) || onnx[0] : undefined
  } catch {
    return undefined
  }
}

async function pathExists(file: string): Promise<boolean> {
  try {
    await stat(file)
    return true
  } catch {
    return false
  }
}

export function describeSignature(signature: Signature): string {
  const rows = [
    ...signature.inputs.map((t) => `  input   ${t.name}  ${t.dtype}  [${t.shape.join(', ')}]`),
    ...signature.outputs.map((t) => `  output  ${t.name}  ${t.dtype}  [${t.shape.join(', ')}]`),
  ]
  return `Detected signature:\n${rows.join('\n')}`
}
