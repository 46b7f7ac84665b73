import {createHash} from 'node:crypto'
import {constants as fsConstants, existsSync, lstatSync, readFileSync} from 'node:fs'
import {copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type {Readable} from 'node:stream'

import {CHECKED_CONFIG_FILE, checkedConfigText} from '../config/checked-config.js'
import {CONFIG_FILE_NAME, parseConfigText} from '../config/load.js'
import {ConfigError, errorMessage} from '../errors.js'
import {resolveExperiment} from '../experiment/resolve.js'
import {loadModelProject, type ResolvedModel} from '../model/load-model.js'
import {cacheDir} from '../util/cache-dir.js'
import {FileDigests} from '../util/file-digests.js'
import {packageRoot, templatesDir} from '../util/paths.js'
import {openApiDocument} from '../serving/openapi.js'
import {bundleServer} from './bundle.js'
import {type DockerfileValues, type Platform, renderDockerfile} from './dockerfile.js'
import {gitInfo} from './git.js'
import {createIgnore, type ImageFile, imageFiles, variantImageFiles} from './image-files.js'
import {imageLabels, LABELS} from './labels.js'
import {type ContextFile, imageRuntimeFiles, runtimeFiles} from './runtime-files.js'
import {serverBundleInput} from './server-entry.js'

export interface BuildPlanOptions {
  /** The model directory (or its model.yaml). */
  dir: string
  baseImage?: string
  platform?: Platform
  gpu?: boolean
  /** An alternative Dockerfile template (Handlebars); templates/image/Dockerfile.hbs when absent. */
  template?: string
  /** Where onnxruntime-node's CUDA provider files are, when not in onnxruntime-node's own bin folder. */
  cudaProviderDir?: string
  /**
   * Where file digests and the bundled serving app are kept between builds (src/util/cache-dir.ts decides by
   * default); false keeps nothing.
   */
  cacheDir?: string | false
  /**
   * The platform the engine builds for without emulation (`linux/amd64`): an image for it gets V8's code cache, which
   * a RUN step writes (DockerfileValues.codeCache). Default: this machine's; false: no code cache.
   */
  nativePlatform?: string | false
}

/** `linux/amd64` on x64, `linux/arm64` on arm64: this machine's platform in Docker's terms. */
function hostPlatform(): string {
  return `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`
}

function cacheFolder(options: Pick<BuildPlanOptions, 'cacheDir'>): string | undefined {
  return options.cacheDir === false ? undefined : (options.cacheDir ?? cacheDir())
}

function openDigests(options: BuildPlanOptions): Promise<FileDigests> {
  return FileDigests.open({dir: cacheFolder(options)})
}

/** What a build will do: the resolved project, the values and the rendered Dockerfile. Nothing is written yet. */
export interface BuildPlan {
  project: ResolvedModel
  values: DockerfileValues
  dockerfile: string
  /** What of the model directory goes into the image (model, external data, model.yaml), and where. */
  files: ImageFile[]
  modelSha256: string
  /** Image name and version tag: `name:version` (and `name:latest`) by default. */
  name: string
  version: string
}

export async function planBuild(options: BuildPlanOptions): Promise<BuildPlan> {
  const digests = await openDigests(options)
  const plan = await planWith(options, digests)
  await digests.save()
  return plan
}

async function planWith(options: BuildPlanOptions, digests: FileDigests): Promise<BuildPlan> {
  const project = await loadModelProject(options.dir)
  const {config} = project
  const gpu = options.gpu ?? config.build.gpu
  const platform = options.platform ?? config.build.platform
  const baseImage = options.baseImage ?? (gpu ? config.build.gpu_base_image : config.build.base_image)
  const [files, variants, modelSha256, git, mlshipVersion] = await Promise.all([
    imageFiles(project),
    experimentFiles(project),
    digests.sha256(project.modelPath),
    gitInfo(project.dir, {dirty: false}),
    packageVersion(),
  ])
  const values: DockerfileValues = {
    baseImage,
    env: config.build.env,
    gpu,
    labels: await imageLabels({
      baseImage,
      config,
      git,
      gpu,
      mlshipVersion,
      modelSha256,
      // The same document the server answers on /openapi.json, so a registry client can read it without pulling.
      openapi: openApiDocument({
        auth: config.serving.auth,
        description: config.description,
        maxBatchSize: config.serving.max_batch_size,
        name: config.name,
        signature: project.signature,
        version: config.version,
      }),
      platform,
      signature: project.signature,
    }),
    mlshipVersion,
    name: config.name,
    codeCache: platform === (options.nativePlatform ?? hostPlatform()),
    nodeImage: gpu ? config.build.base_image : undefined,
    platform,
    port: config.serving.port,
    ...(variants.names.length > 0 ? {variants: variants.names} : {}),
    version: config.version,
  }
  const dockerfile = await renderDockerfile(values, {configFile: project.file, template: options.template})
  return {
    dockerfile,
    files: [...files, ...variants.files],
    modelSha256,
    name: config.name,
    project,
    values,
    version: config.version,
  }
}

/**
 * The other variants of model.yaml's experiment, loaded and checked against the model as `mlship validate` does (a
 * variant that cannot answer its requests stops the build, exit 2), with the files each puts into the image. The
 * model itself (model: ".") is already there.
 */
async function experimentFiles(project: ResolvedModel): Promise<{names: string[]; files: ImageFile[]}> {
  const resolved = await resolveExperiment(project)
  const names: string[] = []
  const files: ImageFile[] = []
  for (const variant of resolved?.variants ?? []) {
    if (variant.primary) continue
    names.push(variant.name)
    files.push(...(await variantImageFiles(variant.project, variant.name)))
  }
  return {files, names}
}

export interface WriteContextOptions extends BuildPlanOptions {
  /** Write the context here (it must not exist or be empty); a temporary folder when absent. */
  outputDir?: string
  /** The serving app's entry points, output name -> source; the real serving app when absent (tests override). */
  entryPoints?: Record<string, string>
  /** The time written into org.opencontainers.image.created; now when absent. */
  created?: Date
}

export interface BuildContext extends BuildPlan {
  /** The context folder: the Dockerfile and everything it copies. */
  contextDir: string
  /** True when contextDir is a temporary folder that dispose() removes. */
  temporary: boolean
  sizeBytes: number
  fileCount: number
  /** sha256 over the Dockerfile and every file of the context (path, mode, content): equal digests, equal images. */
  inputDigest: string
  /** Each file of the context but the Dockerfile: path (posix, relative) -> "x" or "-" (executable), NUL, sha256. */
  fileDigests: Map<string, string>
  onnxruntimeVersion: string
  dispose(): Promise<void>
}

/**
 * Writes the build context: the Dockerfile, onnxruntime-node for the target platform, the bundled serving app, the
 * model file with its external data, and model.yaml; nothing else of the model directory (see imageFiles()). The
 * layout matches the COPY steps of the template: runtime/, model/, config/.
 */
export async function writeBuildContext(options: WriteContextOptions): Promise<BuildContext> {
  const digests = await openDigests(options)
  // A test's own entry points have no write-code-cache.js for the RUN step to run.
  const plan = await planWith(options.entryPoints ? {...options, nativePlatform: false} : options, digests)
  const {project} = plan
  const temporary = options.outputDir === undefined
  const contextDir = temporary
    ? await mkdtemp(path.join(os.tmpdir(), 'mlship-context-'))
    : path.resolve(options.outputDir!)
  if (!temporary) await prepareOutputDir(contextDir)

  const dispose = async () => {
    if (temporary) await rm(contextDir, {force: true, recursive: true})
  }
  try {
    const runtime = await runtimeFiles({
      cudaProviderDir: options.cudaProviderDir ?? process.env.MLSHIP_ONNXRUNTIME_CUDA_DIR,
      gpu: plan.values.gpu,
      platform: plan.values.platform,
    })
    const images = project.signature.inputs.some((input) => input.preprocess?.image !== undefined)
    const files: ContextFile[] = [
      ...runtime.files,
      ...(images ? await imageRuntimeFiles(plan.values.platform, {cacheDir: cacheFolder(options)}) : []),
      ...plan.files.map((file) => ({from: file.source, to: file.contextPath})),
    ]
    // Hard links are instant and a temporary context is removed after the build; a context the user asked for gets
    // copies, so that editing it cannot change node_modules or the model directory.
    for (const file of files) await placeFile(file.from, path.join(contextDir, file.to), temporary)
    // model.yaml as this build checked it, beside it (config/checked-config.ts): the server's first process need not
    // load the YAML parser and zod to read it. Parsed from the bytes that go into the image, so the two agree.
    const modelYaml = await readFile(path.join(contextDir, 'config', CONFIG_FILE_NAME))
    await writeFile(
      path.join(contextDir, 'config', CHECKED_CONFIG_FILE),
      checkedConfigText(modelYaml, parseConfigText(modelYaml.toString('utf8'), project.file)),
    )
    // The template copies this empty folder to /var/lib/mlship, owned by the server's user (MLSHIP_DATA_DIR).
    await mkdir(path.join(contextDir, 'data'), {recursive: true})

    const serverDir = path.join(contextDir, 'runtime', 'server')
    const server = options.entryPoints
      ? {commonJsEntryPoints: {}, entryPoints: options.entryPoints, extraFiles: {}}
      : serverBundleInput()
    const cache = cacheFolder(options)
    await bundleServer({
      ...(cache ? {cacheDir: cache} : {}),
      commonJsEntryPoints: server.commonJsEntryPoints,
      entryPoints: server.entryPoints,
      extraFiles: {...server.extraFiles, 'healthcheck.cjs': path.join(templatesDir(), 'image', 'healthcheck.cjs')},
      // As the other files of a temporary context: hard links, so their digests are remembered.
      link: temporary,
      outDir: serverDir,
    })
    await writeFile(path.join(contextDir, 'Dockerfile'), plan.dockerfile)

    // The digest covers every input; it and the build time then go into the same LABEL instruction as the other
    // labels (one build step rather than one per label the engine API would add).
    const {digest, fileCount, fileDigests, sizeBytes} = await digestContext(contextDir, digests)
    await digests.save()
    fileDigests.delete('Dockerfile')
    const values = {
      ...plan.values,
      labels: {
        ...plan.values.labels,
        [LABELS.created]: (options.created ?? new Date()).toISOString(),
        [LABELS.inputDigest]: digest,
      },
    }
    const dockerfile = await renderDockerfile(values, {configFile: project.file, template: options.template})
    await writeFile(path.join(contextDir, 'Dockerfile'), dockerfile)
    return {
      ...plan,
      dockerfile,
      values,
      contextDir,
      dispose,
      fileCount,
      fileDigests,
      inputDigest: digest,
      onnxruntimeVersion: runtime.onnxruntimeVersion,
      sizeBytes,
      temporary,
    }
  } catch (error) {
    await dispose()
    throw error
  }
}

async function prepareOutputDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const info = await stat(dir)
    if (!info.isDirectory() || (await readdir(dir)).length > 0) {
      throw new ConfigError(`${dir}: the --output folder must not exist or be empty.`, {
        code: 'OUTPUT_NOT_EMPTY',
        suggestions: ['Pass a new folder, or remove this one first.'],
      })
    }
  }
  await mkdir(dir, {recursive: true})
}

export async function placeFile(from: string, to: string, preferLink: boolean): Promise<void> {
  await mkdir(path.dirname(to), {recursive: true})
  if (preferLink) {
    try {
      await link(from, to)
      return
    } catch {
      // Another file system, or links not allowed: copy instead.
    }
  }
  await copyFile(from, to, fsConstants.COPYFILE_FICLONE)
}

async function digestContext(
  contextDir: string,
  digests: FileDigests,
): Promise<{digest: string; fileCount: number; fileDigests: Map<string, string>; sizeBytes: number}> {
  const hash = createHash('sha256')
  const fileDigests = new Map<string, string>()
  let fileCount = 0
  let sizeBytes = 0
  const files = (await readdir(contextDir, {recursive: true, withFileTypes: true}))
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort()
  for (const file of files) {
    const info = lstatSync(file)
    const relative = toPosix(path.relative(contextDir, file))
    const content = `${info.mode & 0o111 ? 'x' : '-'}\0${await digests.sha256(file)}`
    hash.update(`${relative}\0${content}\n`)
    fileDigests.set(relative, content)
    fileCount++
    sizeBytes += info.size
  }
  return {digest: `sha256:${hash.digest('hex')}`, fileCount, fileDigests, sizeBytes}
}

/**
 * Streams a context folder as a tar archive (tar-fs), honouring a .dockerignore at its root the way `docker build`
 * does. Owners and modes are normalised: files are root's and world-readable, so the non-root user of the image can
 * read them and builds on different machines give the same layers.
 */
export async function packContext(contextDir: string, patterns?: string): Promise<Readable> {
  const {default: tar} = await import('tar-fs')
  const ignoreFile = path.join(contextDir, '.dockerignore')
  const text = patterns ?? (existsSync(ignoreFile) ? readFileSyncSafe(ignoreFile) : '')
  const matcher = createIgnore().add(text.split(/\r?\n/))
  return tar.pack(contextDir, {
    ignore: (name) => {
      const relative = toPosix(path.relative(contextDir, name))
      // The Dockerfile is always sent, as docker build does, even if .dockerignore names it.
      return relative !== 'Dockerfile' && relative !== '' && matcher.ignores(relative)
    },
    map: (header) => {
      header.uid = 0
      header.gid = 0
      header.mode = header.type === 'directory' || (header.mode ?? 0) & 0o111 ? 0o755 : 0o644
      return header
    },
  }) as unknown as Readable
}

function readFileSyncSafe(file: string): string {
  try {
    // .dockerignore is a few lines.
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`${file}: cannot be read (${errorMessage(error)})`)
  }
}

async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(packageRoot(), 'package.json'), 'utf8')) as {version: string}
  return pkg.version
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/')
}
