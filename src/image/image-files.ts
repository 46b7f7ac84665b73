import {existsSync} from 'node:fs'
import dockerignore from '@balena/dockerignore'
import {realpath, stat} from 'node:fs/promises'
import path from 'node:path'

import {ConfigError, errorMessage, ModelError} from '../errors.js'
import type {ResolvedModel} from '../model/load-model.js'
import {formatBytes} from '../util/bytes.js'
import {externalDataLocations} from './onnx-external-data.js'

/** Where the server finds the model in the image (MLSHIP_MODEL_DIR of the Dockerfile template). */
export const IMAGE_MODEL_DIR = '/app/model'

/**
 * Where the server finds the other variants of model.yaml's experiment in the image (MLSHIP_VARIANTS_DIR), a folder
 * per variant name: the relative paths of model.yaml (`model: ../iris-v2`) lead nowhere there.
 */
export const IMAGE_VARIANTS_DIR = '/app/variants'

/** A file of the model directory that goes into the image. */
export interface ImageFile {
  /** What it is to the server. */
  role: 'model' | 'external-data' | 'tokenizer' | 'config'
  /** Where it is in the image. */
  path: string
  /** The file it is copied from (a link inside the model directory resolved to its target). */
  source: string
  /** Where it is in the build context (the layout the COPY steps of the Dockerfile template expect). */
  contextPath: string
  sizeBytes: number
}

/**
 * Names that hold credentials, keys or infrastructure state. None of them is ever part of a model, so one among the
 * files that would go into an image (say an external-data location a model names) stops the build. Matched against
 * the path relative to the model directory, lowercased, with .dockerignore's syntax (a folder pattern covers what is
 * under it).
 */
export const SECRET_PATTERNS = [
  '**/.aws',
  '**/.azure',
  '**/.config/gcloud',
  '**/.docker',
  '**/.git-credentials',
  '**/.gnupg',
  '**/.htpasswd',
  '**/.kube',
  '**/.netrc',
  '**/_netrc',
  '**/.npmrc',
  '**/.pgpass',
  '**/.pypirc',
  '**/.ssh',
  '**/.vault-token',
  '**/.env',
  '**/.env.*',
  '**/credentials',
  '**/credentials.*',
  '**/*credentials*.json',
  '**/id_rsa*',
  '**/id_dsa*',
  '**/id_ecdsa*',
  '**/id_ed25519*',
  '**/kubeconfig',
  '**/*.kubeconfig',
  '**/service-account*.json',
  '**/terraform.tfstate*',
  '**/*.tfvars',
  '**/*.pem',
  '**/*.key',
  '**/*.p12',
  '**/*.pfx',
  '**/*.jks',
  '**/*.keystore',
  '**/*.ovpn',
] as const

/** The pattern of SECRET_PATTERNS that a path (relative to the model directory) matches, if any. */
export function secretPatternOf(relativePath: string): string | undefined {
  const normalized = relativePath.split(path.sep).join('/').toLowerCase()
  return SECRET_PATTERNS.find((pattern) => createIgnore().add(pattern).ignores(normalized))
}

/**
 * What of the model directory goes into the image: the model file, the external data files the model references,
 * and model.yaml. Nothing else of the directory is copied, whatever it holds (data, notebooks, keys) and whatever a
 * .dockerignore says: the server reads nothing else. Every file must be inside the model directory, also after
 * symbolic links are followed, and none may look like a secret.
 */
export async function imageFiles(project: ResolvedModel): Promise<ImageFile[]> {
  const realDir = await realpath(project.dir)
  const model = await imageFile(project, realDir, project.modelPath, 'model', 'model.file')
  const files = [model]
  for (const location of await externalDataLocations(project.modelPath)) {
    const file = path.resolve(path.dirname(project.modelPath), location)
    files.push(await imageFile(project, realDir, file, 'external-data', `external data "${location}" of the model`))
  }
  // A text input's tokenizer.json (and the tokenizer_config.json beside it, when there is one): the server reads them.
  for (const input of project.signature.inputs) {
    const tokenizer = input.preprocess?.text?.tokenizer
    if (tokenizer === undefined) continue
    const file = path.resolve(project.dir, tokenizer)
    const what = `the tokenizer of input "${input.name}" (preprocess.text.tokenizer)`
    files.push(await imageFile(project, realDir, file, 'tokenizer', what))
    const beside = path.join(path.dirname(file), 'tokenizer_config.json')
    if (existsSync(beside)) files.push(await imageFile(project, realDir, beside, 'tokenizer', `${what}'s config`))
  }
  const config = await stat(project.file)
  files.push({
    contextPath: 'config/model.yaml',
    path: `${IMAGE_MODEL_DIR}/model.yaml`,
    role: 'config',
    sizeBytes: config.size,
    source: project.file,
  })
  return files
}

/**
 * What of a variant's model directory goes into the image, under IMAGE_VARIANTS_DIR/NAME: the same files as for the
 * model itself (its model, external data and model.yaml), under the same checks, in one folder of the context per
 * variant (one COPY, one layer each: a new candidate leaves the other variants' layers as they were).
 */
export async function variantImageFiles(project: ResolvedModel, variant: string): Promise<ImageFile[]> {
  return (await imageFiles(project)).map((file) => {
    const inside = file.role === 'config' ? 'model.yaml' : file.contextPath.slice('model/'.length)
    return {
      ...file,
      contextPath: `variants/${variant}/${inside}`,
      path: `${IMAGE_VARIANTS_DIR}/${variant}/${inside}`,
    }
  })
}

async function imageFile(
  project: ResolvedModel,
  realDir: string,
  file: string,
  role: ImageFile['role'],
  what: string,
): Promise<ImageFile> {
  const relative = path.relative(project.dir, file)
  if (isOutside(relative)) {
    throw new ConfigError(
      `${project.file}: ${what} (${file}) is outside the model directory ${project.dir}, so it cannot go into the image.`,
      {
        code: 'MODEL_OUTSIDE_CONTEXT',
        details: {file: project.file, keyPath: role === 'model' ? 'model.file' : undefined, path: file},
        suggestions: [
          role === 'model'
            ? 'Move the model file into the directory of model.yaml (or a folder below it) and update model.file.'
            : role === 'tokenizer'
              ? 'Copy tokenizer.json into the directory of model.yaml and update preprocess.text.tokenizer.'
              : 'Export the model with its external data beside it (a location relative to the model, without ..).',
        ],
      },
    )
  }
  let real: string
  try {
    real = await realpath(file)
  } catch (error) {
    throw new ModelError(`${file}: ${what} cannot be read (${errorMessage(error)})`, {
      cause: error,
      code: 'MODEL_NOT_FOUND',
      details: {file},
    })
  }
  if (isOutside(path.relative(realDir, real))) {
    throw new ConfigError(
      `${file}: ${what} is a symbolic link to ${real}, outside the model directory ${project.dir}; it is not copied into the image.`,
      {
        code: 'SYMLINK_OUTSIDE_MODEL_DIR',
        details: {file, target: real},
        suggestions: [
          'Copy the file into the model directory rather than linking to it (`cp --dereference`), if it really belongs to the model.',
        ],
      },
    )
  }
  const pattern = secretPatternOf(relative) ?? secretPatternOf(path.relative(realDir, real))
  if (pattern) {
    throw new ConfigError(
      `${file}: ${what} has the name of a secret (it matches "${pattern}"); mlship does not put such files into an image.`,
      {
        code: 'SECRET_IN_IMAGE',
        details: {file, pattern},
        suggestions: [
          'If it is not a secret, give it another name (and export the model again if the model names it).',
        ],
      },
    )
  }
  const info = await stat(real)
  if (!info.isFile()) {
    throw new ModelError(`${file}: ${what} is not a regular file`, {code: 'MODEL_NOT_FOUND', details: {file}})
  }
  const posix = relative.split(path.sep).join('/')
  return {contextPath: `model/${posix}`, path: `${IMAGE_MODEL_DIR}/${posix}`, role, sizeBytes: info.size, source: real}
}

function isOutside(relative: string): boolean {
  return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)
}

// @balena/dockerignore is CommonJS whose types declare an ES default export: take whichever shape arrives.
export function createIgnore(): ReturnType<typeof dockerignore.default> {
  const factory =
    (dockerignore as unknown as {default?: typeof dockerignore.default}).default ??
    (dockerignore as unknown as typeof dockerignore.default)
  return factory()
}

/** One line per file: where it goes in the image, its size and where it comes from (relative to `cwd`). */
export function describeImageFiles(
  files: ReadonlyArray<Pick<ImageFile, 'path' | 'sizeBytes' | 'source'>>,
  cwd = process.cwd(),
): string[] {
  const width = Math.max(...files.map((file) => file.path.length))
  return files.map(
    (file) =>
      `${file.path.padEnd(width)}  ${formatBytes(file.sizeBytes).padStart(8)}  from ${path.relative(cwd, file.source) || '.'}`,
  )
}

/** An ImageFile without the build context's internal layout. */
export interface ImageFileSummary {
  role: ImageFile['role']
  path: string
  source: string
  sizeBytes: number
}

export function summarizeImageFiles(files: ImageFile[]): ImageFileSummary[] {
  return files.map(({path, role, sizeBytes, source}) => ({path, role, sizeBytes, source}))
}
