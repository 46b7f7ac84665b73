import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {TemplateDelegate} from 'handlebars'

import {imageReferenceSchema, PLATFORMS} from '../config/schema.js'
import {ConfigError} from '../errors.js'
import {templatesDir} from '../util/paths.js'

export type Platform = (typeof PLATFORMS)[number]

/** Everything that reaches the Dockerfile. Each value is validated by validateDockerfileValues() before rendering. */
export interface DockerfileValues {
  mlshipVersion: string
  name: string
  version: string
  /** The image the runtime stage starts FROM (the CUDA base for a GPU build). */
  baseImage: string
  /** GPU builds only: the Node.js image node itself is copied from. */
  nodeImage?: string
  platform: Platform
  gpu: boolean
  port: number
  /** Extra environment variables baked into the image (build.env in model.yaml). */
  env: Record<string, string>
  /** Image labels: keys and values are encoded by encodeLabels(), which accepts any text. */
  labels: Record<string, string>
  /** The variants of model.yaml's experiment bundled beside the model (not the model itself), in model.yaml's order. */
  variants?: string[]
  /**
   * Have the image's node write V8's code cache of the HTTP processes' code (serving/code-cache.ts): a RUN step, so
   * only where the image's platform is the engine's own (no emulator needed).
   */
  codeCache?: boolean
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
// An ENV value is written between double quotes: no quote, backslash, dollar (variable expansion), backtick, or
// control character (a newline would start a new instruction) can be in it.
// eslint-disable-next-line no-control-regex -- the control characters are what this pattern refuses
const ENV_VALUE = /^[^\u0000-\u001f\u007f"\\$`]*$/
const LABEL_KEY = /^[a-z0-9]+(?:[.-][a-z0-9]+)*$/
const RESERVED_ENV = new Set(['NODE_ENV', 'MLSHIP_MODEL_DIR', 'MLSHIP_VARIANTS_DIR', 'HOST', 'PORT', 'MLSHIP_DEVICE'])
// A variant name becomes a folder of the context and of the image (config/experiment.ts checks it the same way).
const VARIANT_NAME = /^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$/

export interface ValueProblem {
  /** Where the value came from: a model.yaml key path or a flag. */
  key: string
  value: string
  message: string
}

/**
 * Checks every value that reaches the Dockerfile. A model.yaml (or a flag) cannot inject an instruction: a value
 * that could end a line, close a quote or expand a variable is refused here, before anything is rendered.
 */
export function dockerfileValueProblems(values: DockerfileValues): ValueProblem[] {
  const problems: ValueProblem[] = []
  const image = (key: string, value: string | undefined) => {
    if (value === undefined) return
    const result = imageReferenceSchema.safeParse(value)
    if (!result.success)
      problems.push({key, message: result.error.issues[0]?.message ?? 'not an image reference', value})
  }
  image('build.base_image', values.baseImage)
  image('build.base_image (node stage)', values.nodeImage)
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(values.name)) {
    problems.push({key: 'name', message: 'lowercase letters, digits and . _ - separators', value: values.name})
  }
  if (!/^[0-9A-Za-z.+-]{1,128}$/.test(values.version)) {
    problems.push({key: 'version', message: 'a semantic version such as "1.0.0"', value: values.version})
  }
  if (!(PLATFORMS as readonly string[]).includes(values.platform)) {
    problems.push({key: 'build.platform', message: `one of ${PLATFORMS.join(', ')}`, value: values.platform})
  }
  if (!Number.isInteger(values.port) || values.port < 1 || values.port > 65_535) {
    problems.push({key: 'serving.port', message: 'a port number from 1 to 65535', value: String(values.port)})
  }
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(values.mlshipVersion)) {
    problems.push({key: 'mlship version', message: 'a version', value: values.mlshipVersion})
  }
  for (const [name, value] of Object.entries(values.env)) {
    if (!ENV_NAME.test(name))
      problems.push({
        key: `build.env.${name}`,
        message: 'an environment variable name such as "LOG_LEVEL"',
        value: name,
      })
    else if (RESERVED_ENV.has(name))
      problems.push({
        key: `build.env.${name}`,
        message: `${name} is set by mlship (use serving.* in model.yaml)`,
        value,
      })
    if (!ENV_VALUE.test(value)) {
      problems.push({
        key: `build.env.${name}`,
        message: 'a single line without " \\ $ ` or control characters (it is written into the Dockerfile)',
        value,
      })
    }
  }
  for (const name of values.variants ?? []) {
    if (!VARIANT_NAME.test(name))
      problems.push({
        key: 'experiment.variants',
        message: 'a variant name of lowercase letters and digits',
        value: name,
      })
  }
  for (const key of Object.keys(values.labels)) {
    if (!LABEL_KEY.test(key))
      problems.push({key: `label ${key}`, message: 'a label key such as "org.example.team"', value: key})
  }
  return problems
}

export function assertDockerfileValues(values: DockerfileValues, configFile?: string): void {
  const problems = dockerfileValueProblems(values)
  if (problems.length === 0) return
  const where = configFile ? `${configFile}: ` : ''
  const lines = problems.map((p) => `  [${p.key}] ${JSON.stringify(p.value)}: expected ${p.message}`)
  throw new ConfigError(
    `${where}values that would be written into the Dockerfile are not allowed:\n${lines.join('\n')}`,
    {
      code: 'BUILD_VALUE_INVALID',
      details: {file: configFile, problems},
      suggestions: ['Fix the values named above in model.yaml (or the flag that set them); nothing was built.'],
    },
  )
}

export function dockerfileTemplatePath(): string {
  return path.join(templatesDir(), 'image', 'Dockerfile.hbs')
}

/** Validates the values, then renders the Dockerfile template (templates/image/Dockerfile.hbs unless `template`). */
export async function renderDockerfile(
  values: DockerfileValues,
  options: {template?: string; configFile?: string} = {},
): Promise<string> {
  assertDockerfileValues(values, options.configFile)
  const source = await readFile(options.template ?? dockerfileTemplatePath(), 'utf8')
  const template = (await precompiledTemplate(source)) ?? (await compileTemplate(source))
  const rendered = template({
    arch: platformArch(values.platform),
    baseImage: values.baseImage,
    codeCache: values.codeCache ?? false,
    device: values.gpu ? 'cuda' : 'cpu',
    env: Object.entries(values.env).map(([name, value]) => ({name, value})),
    gpu: values.gpu,
    labels: encodeLabels(values.labels),
    mlshipVersion: values.mlshipVersion,
    name: values.name,
    nodeImage: values.nodeImage ?? '',
    platform: values.platform,
    port: values.port,
    variants: values.variants ?? [],
    version: values.version,
  })
  // Blank lines left by {{#if}} blocks carry no meaning; keep the file tidy for --print.
  return rendered.replace(/\n{3,}/g, '\n\n')
}

const TEMPLATE_OPTIONS = {noEscape: true, strict: true} as const

type DockerfileTemplate = TemplateDelegate<Record<string, unknown>>

async function compileTemplate(source: string): Promise<DockerfileTemplate> {
  const {default: Handlebars} = await import('handlebars')
  return Handlebars.compile(source, TEMPLATE_OPTIONS)
}

/**
 * The module `npm run build` writes beside this one (scripts/lib/precompile-templates.ts): the default template
 * precompiled, with the SHA-256 of its source. Compiling it here costs ~90 ms of CPU, most of `build --print`'s own.
 */
export async function precompiledTemplateModule(source: string): Promise<string> {
  const {default: Handlebars} = await import('handlebars')
  // JavaScript source text: @types/handlebars calls it a TemplateSpecification, what it becomes once evaluated.
  const spec = Handlebars.precompile(source, TEMPLATE_OPTIONS) as unknown as string
  return (
    '// Generated by `npm run build` (scripts/lib/precompile-templates.ts) from templates/image/Dockerfile.hbs.\n' +
    `export const sourceSha256 = ${JSON.stringify(sha256(source))}\n` +
    `export const spec = ${spec}\n`
  )
}

/** The precompiled template when there is one (the built CLI) and it was compiled from this very source. */
async function precompiledTemplate(source: string): Promise<DockerfileTemplate | undefined> {
  const file = fileURLToPath(new URL('dockerfile-template.js', import.meta.url))
  // Under tsx and vitest (src/image/) there is none.
  if (!existsSync(file)) return undefined
  const precompiled = (await import(file)) as {
    sourceSha256: string
    spec: Parameters<(typeof import('handlebars'))['template']>[0]
  }
  if (precompiled.sourceSha256 !== sha256(source)) return undefined
  // The runtime alone: loading the compiler as well cost ~15 ms more.
  const {default: Handlebars} = await import('handlebars/runtime')
  return Handlebars.template(precompiled.spec)
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** onnxruntime-node's folder name for a Docker platform. */
export function platformArch(platform: Platform): 'x64' | 'arm64' {
  return platform === 'linux/arm64' ? 'arm64' : 'x64'
}

// Physical lines of a LABEL stay well under the 64 KiB line limit of the Dockerfile parser (bufio.Scanner).
const LABEL_CHUNK = 2000

/**
 * Encodes labels as the arguments of one LABEL instruction: `key="value"` pairs, one per line. Label values are
 * documents mlship generates (JSON of the signature, the OpenAPI document): inside double quotes the parser gives
 * `\\`, `\"` and `\$` their literal meaning; control characters cannot appear (JSON escapes them, others are
 * replaced by spaces). Long values are split over continuation lines at points the parser joins back exactly.
 */
export function encodeLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}="${splitLong(quoteInner(value))}"`)
    .join(' \\\n      ')
}

function quoteInner(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[\\"$]/g, (c) => `\\${c}`)
}

function splitLong(text: string): string {
  if (text.length <= LABEL_CHUNK) return text
  const parts: string[] = []
  let start = 0
  while (text.length - start > LABEL_CHUNK) {
    let cut = start + LABEL_CHUNK
    // A continuation line loses leading whitespace and is dropped whole if it starts with '#'; a cut right after a
    // backslash would split an escape. Move the cut back until none of that can happen.
    while (
      cut > start + 1 &&
      (text[cut - 1] === '\\' || /[\s#]/.test(text[cut] ?? '') || /\s/.test(text[cut - 1] ?? ''))
    )
      cut--
    if (cut <= start + 1) cut = start + LABEL_CHUNK
    parts.push(text.slice(start, cut))
    start = cut
  }
  parts.push(text.slice(start))
  return parts.join('\\\n')
}
