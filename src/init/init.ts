import {copyFile, mkdir, readdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {parseConfigText} from '../config/load.js'
import {
  imageNameSchema,
  type InputSpec,
  type ModelConfigInput,
  registrySchema,
  semverSchema,
  type Signature,
} from '../config/schema.js'
import {renderModelYaml, schemaReferenceFor} from '../config/write.js'
import {ConfigError, MlshipError, ExitCode} from '../errors.js'
import {readModelSignature} from '../model/signature.js'
import {examplesDir, packageRoot, templatesDir} from '../util/paths.js'
import {
  classifierOutput,
  exampleRow,
  type ImageLikeInput,
  imageLikeInput,
  parseLabels,
  TOKENIZER_FILLED,
  tokenIdsInput,
} from './signature-extras.js'

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
  /** Labels of the classes of the first output that looks like class scores ([batch, K] floats). */
  labels?: string[]
  /**
   * Declare preprocess.image for the input that looks like an image (4-D floats, 1 or 3 channels): clients send a
   * picture. Undefined: asked on a terminal, else not declared.
   */
  imagePreprocess?: boolean
  /** With imagePreprocess, normalise 3 channels with ImageNet's mean and std (the default) or not at all. */
  imageNormalize?: 'imagenet' | 'none'
  /** A tokenizer.json for the input that looks like token ids: declares preprocess.text (clients send text). */
  tokenizer?: string
  /** Where `mlship push` pushes, host/repository; default: ghcr.io/OWNER/NAME for a GitHub origin of DIR. */
  registry?: string
  /** What the workflow installs as mlship (an npm install spec); default: where this mlship came from. */
  mlshipPackage?: string
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
  /** host/repository of the registry: section written, if one was. */
  registry?: string
  /** What the workflow installs as mlship ('' when it needs the MLSHIP_PACKAGE repository variable). */
  mlshipPackage: string
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
  const files = options.example ? await exampleFiles(options.example, dir) : await ownModelFiles(dir, options)
  const configText = files.find((f) => f.relativePath === 'model.yaml')!.content!
  const summary = await summarize(dir, configText, files)
  const mlshipPackage = options.mlshipPackage ?? (await installedMlshipPackage(options.mlshipVersion))
  if (!validPackageSpec(mlshipPackage)) {
    throw new ConfigError(
      `--mlship-package "${mlshipPackage}": expected an npm install spec without spaces or quotes`,
      {
        code: 'INVALID_FLAG',
        suggestions: ['For example github:OWNER/mlship#v0.1.0, or mlship@0.1.0 once it is published.'],
      },
    )
  }
  const smokeInput = await smokeInputFor(summary.signature, dir, files)
  const workflow = {mlshipPackage, name: summary.name, smokeInput}
  const withCommon = [...files, ...commonFiles(workflow, await readInitTemplates())]

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

  return {contents, dir, dryRun: Boolean(options.dryRun), files: planned, mlshipPackage, ...summary}
}

async function summarize(dir: string, configText: string, files: FileToWrite[]) {
  const config = parseConfigText(configText, path.join(dir, 'model.yaml'))
  const modelFile = files.find((f) => f.relativePath === config.model.file)
  const signature =
    config.signature ?? (await readModelSignature(modelFile?.copyFrom ?? path.join(dir, config.model.file)))
  const registry = config.registry ? `${config.registry.host}/${config.registry.repository}` : undefined
  return {model: config.model.file, name: config.name, registry, signature, version: config.version}
}

async function exampleFiles(example: string, dir: string): Promise<FileToWrite[]> {
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
      // The schema line points at the schema of this mlship, relative to where the copy goes.
      const text = (await readFile(from, 'utf8')).replace(
        /^# yaml-language-server: \$schema=.*$/m,
        `# yaml-language-server: $schema=${schemaReferenceFor(dir)}`,
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
  const extras = includeSignature ? await signatureExtras(signature, dir, options) : {files: [], signature}
  const written = extras.signature
  const registry = await askRegistry(dir, name, options)

  // The model travels with model.yaml: a model outside DIR is copied in, so the directory is a complete build context.
  const inside = !path.relative(dir, modelSource).startsWith('..') && !path.isAbsolute(path.relative(dir, modelSource))
  const modelRelative = inside ? path.relative(dir, modelSource).split(path.sep).join('/') : path.basename(modelSource)

  const config: ModelConfigInput = {
    name,
    version,
    ...(description ? {description} : {}),
    model: {file: modelRelative, format: 'onnx'},
    ...(includeSignature ? {signature: written} : {}),
    serving: {port: 8080},
    ...(registry ? {registry} : {}),
  }
  const files: FileToWrite[] = [
    {content: renderModelYaml(config, {schema: schemaReferenceFor(dir)}), relativePath: 'model.yaml'},
  ]
  if (!inside) files.push({copyFrom: modelSource, relativePath: modelRelative})
  return [...files, ...extras.files]
}

// No .dockerignore: `mlship build` copies only the model, its external data and model.yaml into the image.
function commonFiles(
  values: {name: string; mlshipPackage: string; smokeInput: string},
  templates: InitTemplates,
): FileToWrite[] {
  return [{content: templates.workflow({dir: '.', ...values}), relativePath: '.github/workflows/mlship.yml'}]
}

/**
 * What a model.yaml can say beyond the model's own signature: labels for an output of class scores (a flag, or asked
 * on a terminal) and a row of zeros as the example of each input whose shape allows one (docs, `predict --example`,
 * the workflow's smoke test).
 */
async function signatureExtras(
  signature: Signature,
  dir: string,
  options: InitOptions,
): Promise<{signature: Signature; files: FileToWrite[]}> {
  const preprocessing = await preprocessingFor(signature, dir, options)
  const inputs = signature.inputs.map((input, index) => {
    const preprocess = preprocessing.inputs.get(index)
    // An input the server fills from a picture or a text has no tensor example (clients do not send one).
    if (preprocess) return {...input, preprocess}
    if (preprocessing.text && TOKENIZER_FILLED.includes(input.name)) return input
    const example = input.example ?? exampleRow(input)
    return example === undefined ? input : {...input, example}
  })
  const classifier = classifierOutput(signature)
  let labels = options.labels
  if (labels !== undefined) {
    const parsed = classifier ? parseLabels(labels.join(','), classifier.classes) : 'no output looks like class scores'
    if (typeof parsed === 'string') throw new ConfigError(`--labels: ${parsed}`, {code: 'INVALID_FLAG'})
    labels = parsed
  } else if (classifier && !classifier.output.labels && options.prompter) {
    const {output, classes} = classifier
    const answer = await options.prompter.input({
      default: '',
      message: `Output "${output.name}" [${output.shape.join(', ')}] looks like scores of ${classes} classes: their labels, comma-separated (empty: none)`,
      validate: (value) => {
        if (value.trim() === '') return true
        const parsed = parseLabels(value, classes)
        return typeof parsed === 'string' ? parsed : true
      },
    })
    if (answer.trim() !== '') labels = parseLabels(answer, classes) as string[]
  }
  const outputs = signature.outputs.map((output, index) =>
    labels && index === classifier?.index ? {...output, labels} : output,
  )
  return {files: preprocessing.files, signature: {inputs, outputs}}
}

const IMAGENET = {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}

/**
 * preprocess: for an input that looks like an image (offered on a terminal, or --image-preprocess) and one that looks
 * like token ids (--tokenizer, or asked on a terminal for its tokenizer.json, copied in when it is outside DIR).
 */
async function preprocessingFor(
  signature: Signature,
  dir: string,
  options: InitOptions,
): Promise<{inputs: Map<number, InputSpec['preprocess']>; files: FileToWrite[]; text: boolean}> {
  const inputs = new Map<number, InputSpec['preprocess']>()
  const files: FileToWrite[] = []
  const {prompter} = options
  const image = imageLikeInput(signature)
  if (options.imagePreprocess && !image)
    throw new ConfigError('--image-preprocess: no input looks like an image ([batch, 3, H, W] or [batch, H, W, 3])', {
      code: 'INVALID_FLAG',
    })
  if (image) {
    const wanted =
      options.imagePreprocess ??
      (prompter
        ? await prompter.confirm({
            default: true,
            message: `Input "${image.input.name}" [${image.input.shape.join(', ')}] looks like an image: let clients send a picture (JPEG, PNG, WebP), resized and normalised by the server?`,
          })
        : false)
    if (wanted) {
      let normalize = options.imageNormalize
      if (normalize === undefined && image.channels === 3)
        normalize =
          prompter && options.imagePreprocess === undefined
            ? (await prompter.confirm({default: true, message: "Normalise with ImageNet's mean and std?"}))
              ? 'imagenet'
              : 'none'
            : 'imagenet'
      inputs.set(image.index, {image: imagePreprocessFor(image, normalize === 'imagenet')})
    }
  }
  const ids = tokenIdsInput(signature)
  if (options.tokenizer !== undefined && !ids)
    throw new ConfigError('--tokenizer: no input looks like token ids (int64 [batch, sequence])', {
      code: 'INVALID_FLAG',
    })
  let tokenizer = options.tokenizer
  if (ids && tokenizer === undefined && prompter) {
    tokenizer = await prompter.input({
      default: '',
      message: `Input "${ids.input.name}" [${ids.input.shape.join(', ')}] looks like token ids: the tokenizer.json that makes them from text (empty: clients send ids)`,
    })
  }
  if (ids && tokenizer?.trim()) {
    const source = path.resolve(tokenizer.trim())
    if (!(await pathExists(source)))
      throw new ConfigError(`tokenizer ${source} does not exist`, {
        code: 'INVALID_FLAG',
        suggestions: ["Pass the model's tokenizer.json (Hugging Face tokenizers format)."],
      })
    const relative = path.relative(dir, source)
    const inside = !relative.startsWith('..') && !path.isAbsolute(relative)
    const name = inside ? relative.split(path.sep).join('/') : path.basename(source)
    if (!inside) {
      files.push({copyFrom: source, relativePath: name})
      const config = path.join(path.dirname(source), 'tokenizer_config.json')
      if (await pathExists(config)) files.push({copyFrom: config, relativePath: 'tokenizer_config.json'})
    }
    inputs.set(ids.index, {text: {tokenizer: name}} as InputSpec['preprocess'])
  }
  return {files, inputs, text: [...inputs.values()].some((p) => p?.text)}
}

/** torchvision's classic pipeline for the input's size: shorter side to 256/224 of the crop, centre crop, bilinear. */
function imagePreprocessFor(image: ImageLikeInput, imagenet: boolean): NonNullable<InputSpec['preprocess']>['image'] {
  const crop = Math.max(image.height, image.width)
  return {
    color: image.channels === 1 ? 'grayscale' : 'rgb',
    interpolation: 'bilinear',
    resize: 'shorter_side',
    shorter_side: Math.round((crop * 256) / 224),
    ...(imagenet && image.channels === 3 ? IMAGENET : {}),
  } as NonNullable<InputSpec['preprocess']>['image']
}

const SAMPLE_IMAGE = /^[A-Za-z0-9][A-Za-z0-9._-]*\.(?:jpe?g|png|webp)$/i
const SMOKE_TEXT = 'mlship smoke test'

/**
 * What the workflow's smoke test passes to `mlship predict`: the examples of model.yaml for tensor inputs; for an
 * input the server fills from a picture, the first sample image (JPEG, PNG, WebP) in DIR, which the workflow's
 * checkout holds too; for a text, a fixed sentence; both for a model with both (predict fills the inputs still sent
 * as tensors from their examples). A picture model without a sample image fails here, not in CI.
 */
async function smokeInputFor(signature: Signature, dir: string, files: FileToWrite[]): Promise<string> {
  const preprocessed = signature.inputs.map((input) => input.preprocess)
  const text = preprocessed.some((p) => p?.text) ? `--text '${SMOKE_TEXT}'` : undefined
  if (preprocessed.some((p) => p?.image)) {
    const names = new Set(files.map((f) => f.relativePath))
    for (const entry of await readdir(dir, {withFileTypes: true}).catch(() => [])) {
      if (entry.isFile()) names.add(entry.name)
    }
    const sample = [...names].filter((name) => SAMPLE_IMAGE.test(name)).sort()[0]
    if (!sample) {
      throw new ConfigError(
        `${dir}: no sample image (.jpg, .jpeg, .png, .webp) for the smoke test of the GitHub workflow; nothing was written`,
        {
          code: 'INIT_NO_SAMPLE_IMAGE',
          suggestions: [
            `Put a picture the model should classify in ${dir} (its name letters, digits, ".", "_", "-"), commit it ` +
              'with model.yaml, and run init again; the workflow sends it with `mlship predict --image`.',
          ],
        },
      )
    }
    return text ? `--image '${sample}' ${text}` : `--image '${sample}'`
  }
  return text ?? '--example'
}

/** --registry, else asked on a terminal, else ghcr.io/OWNER/NAME where DIR's origin is on GitHub, else none. */
async function askRegistry(
  dir: string,
  name: string,
  options: InitOptions,
): Promise<{host: string; repository: string} | undefined> {
  if (options.registry !== undefined) {
    const parsed = parseRegistry(options.registry)
    if (typeof parsed === 'string') throw new ConfigError(`--registry: ${parsed}`, {code: 'INVALID_FLAG'})
    return parsed
  }
  const detected = await githubRegistry(dir, name)
  if (!options.prompter) return detected ? (parseRegistry(detected) as {host: string; repository: string}) : undefined
  const answer = await options.prompter.input({
    default: detected ?? '',
    message: 'Registry that `mlship push` pushes to, host/repository (empty: none)',
    validate: (value) => {
      if (value.trim() === '') return true
      const parsed = parseRegistry(value)
      return typeof parsed === 'string' ? parsed : true
    },
  })
  return answer.trim() === '' ? undefined : (parseRegistry(answer) as {host: string; repository: string})
}

/** "ghcr.io/acme/iris" -> {host: "ghcr.io", repository: "acme/iris"}, or what is wrong with it. */
function parseRegistry(value: string): {host: string; repository: string} | string {
  const trimmed = value.trim().replace(/\/+$/, '')
  const slash = trimmed.indexOf('/')
  if (slash === -1) return `"${value}" is not host/repository, e.g. ghcr.io/acme/iris-classifier`
  const parsed = registrySchema.safeParse({host: trimmed.slice(0, slash), repository: trimmed.slice(slash + 1)})
  return parsed.success
    ? parsed.data
    : `"${value}" is not host/repository (${parsed.error.issues.map((issue) => issue.message).join('; ')})`
}

/** ghcr.io/OWNER/NAME when DIR is in a git work tree whose origin is on github.com. */
async function githubRegistry(dir: string, name: string): Promise<string | undefined> {
  const remote = await gitOutput(dir, 'config', '--get', 'remote.origin.url')
  const owner = remote ? /github\.com[:/]([A-Za-z0-9-]+)\//.exec(remote)?.[1] : undefined
  return owner ? `ghcr.io/${owner.toLowerCase()}/${name}` : undefined
}

/**
 * What `npm install --global` should install in CI to get this mlship: mlship@VERSION when it was installed from a
 * registry; the commit (or tag) of its GitHub origin when it runs from a clone; '' when neither is known.
 */
async function installedMlshipPackage(version: string): Promise<string> {
  const root = packageRoot()
  if (root.split(path.sep).includes('node_modules')) return `mlship@${version}`
  const remote = await gitOutput(root, 'config', '--get', 'remote.origin.url')
  const github = remote ? /github\.com[:/]([A-Za-z0-9-]+\/[A-Za-z0-9._-]+?)(?:\.git)?$/.exec(remote)?.[1] : undefined
  if (!github) return ''
  const ref =
    (await gitOutput(root, 'describe', '--tags', '--exact-match', 'HEAD')) ??
    (await gitOutput(root, 'rev-parse', 'HEAD'))
  return ref ? `github:${github}#${ref}` : ''
}

/** The spec goes between single quotes in the workflow and to npm: nothing that could end either. */
function validPackageSpec(spec: string): boolean {
  return spec === '' || /^[A-Za-z0-9@:/._#+~=-]+$/.test(spec)
}

async function gitOutput(dir: string, ...args: string[]): Promise<string | undefined> {
  const {execa} = await import('execa')
  const result = await execa('git', ['-C', dir, ...args], {reject: false, timeout: 5000})
  const output = result.exitCode === 0 ? result.stdout.trim() : ''
  return output || undefined
}

interface InitTemplates {
  workflow: (values: {dir: string; name: string; mlshipPackage: string; smokeInput: string}) => string
}

async function readInitTemplates(): Promise<InitTemplates> {
  const source = await readFile(path.join(templatesDir(), 'init', 'github-workflow.yml.hbs'), 'utf8')
  const {default: Handlebars} = await import('handlebars')
  return {workflow: Handlebars.compile(source, {noEscape: true, strict: true})}
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
