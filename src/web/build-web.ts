import {existsSync} from 'node:fs'
import {copyFile, mkdir, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {ConfigError} from '../errors.js'
import {loadModelProject, type ResolvedModel} from '../model/load-model.js'
import {planPreprocessing} from '../preprocess/plan.js'
import {bundlePageScript, bundlePredictModule} from './bundle-page.js'
import type {WebBackend, WebBundleConfig} from './config.js'
import {pageHtml} from './page-html.js'
import {predictModuleTypes} from './predict-types.js'
import {webRuntime} from './runtime-files.js'
import {checkWebRuntime} from './web-check.js'

/** Written last into every bundle: what it is, so that serve and bench can recognise one, and a rebuild replace it. */
export const BUNDLE_MANIFEST = 'mlship-web.json'

export interface BuildWebOptions {
  /** The model directory (or its model.yaml). */
  dir: string
  /** The bundle's folder: new, empty, or an earlier bundle (replaced). Default ./NAME-web. */
  outputDir?: string
  /** 'wasm' (default) or 'webgpu' (WebGPU first, WebAssembly as its loud fallback). */
  backend?: WebBackend
  /** An already loaded project (saves loading it twice). */
  project?: ResolvedModel
}

export interface BundleFile {
  /** Relative to the bundle's folder, with / separators. */
  path: string
  bytes: number
  kind: 'page' | 'model' | 'runtime'
}

/** The --json shape of `mlship build --target web`. */
export interface BuildWebResult {
  target: 'web'
  outputDir: string
  name: string
  version: string
  backend: WebBackend
  onnxruntimeWeb: string
  files: BundleFile[]
  /** What a browser downloads: the runtime (onnxruntime-web), the model, the page (index.html, predict.js). */
  sizes: {runtimeBytes: number; modelBytes: number; pageBytes: number; totalBytes: number}
  /** The build's own load of the model in onnxruntime-web (WebAssembly, one thread, in Node). */
  check: {loadMs: number}
}

/**
 * `mlship build --target web`: a static folder that runs the model in a browser, offline. The model is loaded once in
 * onnxruntime-web first (a model the browser cannot run is refused here, exit 2). Layout:
 *   index.html   the page generated from the signature (form or JSON box, example, labels, latency)
 *   predict.js   ES module: ready, predict(body) -> the /predict answer   (+ predict.d.ts)
 *   model.onnx   the model
 *   tokenizers/  the tokenizer.json (and tokenizer_config.json) of each text input, when the model has any
 *   runtime/     onnxruntime-web's files for the chosen backend only
 */
export async function buildWebBundle(options: BuildWebOptions): Promise<BuildWebResult> {
  const project = options.project ?? (await loadModelProject(options.dir))
  const {config} = project
  const backend = options.backend ?? 'wasm'
  for (const suffix of ['.data', '_data']) {
    if (existsSync(`${project.modelPath}${suffix}`)) {
      throw new ConfigError(
        `${project.modelPath}: the model keeps its weights in ${path.basename(project.modelPath)}${suffix} (external data), which the web target does not bundle.`,
        {
          code: 'WEB_EXTERNAL_DATA',
          details: {file: project.modelPath},
          suggestions: [
            'Save the model with its weights inside the .onnx file (onnx.save(model, path) with save_as_external_data=False).',
          ],
        },
      )
    }
  }
  const runtime = await webRuntime(backend)
  const tokenizerFiles = tokenizersOf(project)
  const webConfig = webBundleConfig(project, {
    backend,
    onnxruntimeWeb: runtime.version,
    ...(tokenizerFiles.length > 0 && {tokenizers: tokenizerBundlePaths(tokenizerFiles)}),
  })
  const sourceOf = new Map(tokenizerFiles.map((file) => [file.bundlePath, file.source]))
  const check = await checkWebRuntime({
    config: webConfig,
    loadText: (file) => readFile(sourceOf.get(file) ?? file, 'utf8'),
    modelPath: project.modelPath,
  })

  const outputDir = outputDirOf(options, config.name)
  await prepareBundleDir(outputDir)
  await mkdir(path.join(outputDir, 'runtime'), {recursive: true})
  const [predictJs, script] = await Promise.all([bundlePredictModule(webConfig, runtime.module), bundlePageScript()])
  await writeFile(path.join(outputDir, 'predict.js'), predictJs)
  await writeFile(
    path.join(outputDir, 'predict.d.ts'),
    predictModuleTypes({name: config.name, signature: project.signature, version: config.version}),
  )
  await writeFile(path.join(outputDir, 'index.html'), pageHtml({config: webConfig, script}))
  await copyFile(project.modelPath, path.join(outputDir, webConfig.modelFile))
  for (const file of runtime.files) await copyFile(file, path.join(outputDir, 'runtime', path.basename(file)))
  for (const file of tokenizerFiles) {
    await mkdir(path.dirname(path.join(outputDir, file.bundlePath)), {recursive: true})
    await copyFile(file.source, path.join(outputDir, file.bundlePath))
  }

  const files: BundleFile[] = []
  for (const name of ['index.html', 'predict.js', 'predict.d.ts']) files.push(await describe(outputDir, name, 'page'))
  files.push(await describe(outputDir, webConfig.modelFile, 'model'))
  for (const file of tokenizerFiles) files.push(await describe(outputDir, file.bundlePath, 'model'))
  for (const file of runtime.files) files.push(await describe(outputDir, `runtime/${path.basename(file)}`, 'runtime'))
  // predict.d.ts is for the developer's editor; a browser never downloads it.
  const downloaded = files.filter((f) => f.path !== 'predict.d.ts')
  const sum = (kind: BundleFile['kind']) =>
    downloaded.filter((f) => f.kind === kind).reduce((total, f) => total + f.bytes, 0)
  const sizes = {modelBytes: sum('model'), pageBytes: sum('page'), runtimeBytes: sum('runtime'), totalBytes: 0}
  sizes.totalBytes = sizes.modelBytes + sizes.pageBytes + sizes.runtimeBytes
  const result: BuildWebResult = {
    backend,
    check,
    files,
    name: config.name,
    onnxruntimeWeb: runtime.version,
    outputDir,
    sizes,
    target: 'web',
    version: config.version,
  }
  await writeFile(path.join(outputDir, BUNDLE_MANIFEST), `${JSON.stringify(result, null, 2)}\n`)
  return result
}

function outputDirOf(options: BuildWebOptions, name: string): string {
  return path.resolve(options.outputDir ?? `${name}-web`)
}

interface TokenizerFile {
  input: string
  role: 'json' | 'config'
  source: string
  bundlePath: string
}

/**
 * What predict.js knows of `project` (written into it at build time): the model file beside it, and the tokenizer
 * files where `tokenizers` says (relative to predict.js in a bundle).
 */
export function webBundleConfig(
  project: ResolvedModel,
  options: Pick<WebBundleConfig, 'backend' | 'onnxruntimeWeb' | 'tokenizers'>,
): WebBundleConfig {
  const {config} = project
  return {
    backend: options.backend,
    description: config.description,
    maxBatchSize: config.serving.max_batch_size,
    modelFile: 'model.onnx',
    name: config.name,
    onnxruntimeWeb: options.onnxruntimeWeb,
    signature: project.signature,
    version: config.version,
    ...(options.tokenizers && {tokenizers: options.tokenizers}),
  }
}

/**
 * The tokenizer files of the text inputs: tokenizer.json as model.yaml names it, and the tokenizer_config.json beside
 * it where there is one (the server reads both). In the bundle under tokenizers/<the input's position>/.
 */
function tokenizersOf(project: ResolvedModel): TokenizerFile[] {
  const plan = planPreprocessing(project.signature, project.file)
  const files: TokenizerFile[] = []
  for (const text of plan?.texts ?? []) {
    const index = project.signature.inputs.findIndex((input) => input.name === text.input)
    const source = path.resolve(project.dir, text.options.tokenizer)
    const folder = `tokenizers/${index}`
    files.push({bundlePath: `${folder}/tokenizer.json`, input: text.input, role: 'json', source})
    const beside = path.join(path.dirname(source), 'tokenizer_config.json')
    if (existsSync(beside))
      files.push({bundlePath: `${folder}/tokenizer_config.json`, input: text.input, role: 'config', source: beside})
  }
  return files
}

function tokenizerBundlePaths(files: TokenizerFile[]): NonNullable<WebBundleConfig['tokenizers']> {
  const out: NonNullable<WebBundleConfig['tokenizers']> = {}
  for (const file of files) {
    if (file.role === 'json') out[file.input] = {...out[file.input], json: file.bundlePath}
    else out[file.input] = {...out[file.input]!, config: file.bundlePath}
  }
  return out
}

/** Reads the manifest of a built bundle; undefined when the folder is not one. */
export async function readBundleManifest(dir: string): Promise<BuildWebResult | undefined> {
  const file = path.join(dir, BUNDLE_MANIFEST)
  if (!existsSync(file)) return undefined
  return JSON.parse(await readFile(file, 'utf8')) as BuildWebResult
}

/** A new or empty folder, or an earlier bundle (whose files are removed first). Anything else is refused. */
async function prepareBundleDir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const info = await stat(dir)
    const entries = info.isDirectory() ? await readdir(dir) : []
    if (!info.isDirectory() || (entries.length > 0 && !entries.includes(BUNDLE_MANIFEST))) {
      throw new ConfigError(`${dir}: the --output folder must be new, empty, or an earlier web bundle.`, {
        code: 'OUTPUT_NOT_EMPTY',
        suggestions: ['Pass a new folder, or remove this one first.'],
      })
    }
    await rm(dir, {force: true, recursive: true})
  }
  await mkdir(dir, {recursive: true})
}

async function describe(dir: string, name: string, kind: BundleFile['kind']): Promise<BundleFile> {
  return {bytes: (await stat(path.join(dir, name))).size, kind, path: name}
}
