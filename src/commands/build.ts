import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import type {BuildImageResult} from '../image/build-image.js'
import {planBuild} from '../image/context.js'
import {buildContextText, builtImageText, imageFilesText, platformImagesText} from '../image/build-report.js'
import {type ImageFileSummary, summarizeImageFiles} from '../image/image-files.js'
import {baseImageFor, parseBaseImages, parsePlatforms, type PlatformImage} from '../image/platforms.js'
import type {BuildNodeFolderResult} from '../edge/node-folder.js'
import {nodeFolderText} from '../edge/report-text.js'
import {ExitCode, flagUsageError, MlshipError} from '../errors.js'
import {platformFlags} from '../flags/platform.js'
import {modelDirArg} from '../flags/model-dir.js'
import type {BuildWebResult} from '../web/build-web.js'
import {webBundleText} from '../web/report-text.js'

export type BuildCommandResult =
  | ({mode: 'build'} & BuildImageResult)
  | {mode: 'platforms'; images: PlatformImage[]}
  | {mode: 'print'; dockerfile: string; files: ImageFileSummary[]}
  | {
      mode: 'output'
      files: ImageFileSummary[]
      contextDir: string
      contextSizeBytes: number
      contextFiles: number
      inputDigest: string
      tags: string[]
    }
  | ({mode: 'web'} & BuildWebResult)
  | ({mode: 'node'} & BuildNodeFolderResult)

export default class Build extends BaseCommand<BuildCommandResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Builds a production image of the model: the bundled serving app, onnxruntime-node for the target platform only, the model and model.yaml, on a Node.js base image. The build needs no network: everything is in the build context.

Layers are ordered so that a new model re-uses the runtime layers and a new model.yaml re-uses the model layer; an image whose inputs did not change at all is not rebuilt. Tags name:version and name:latest unless --tag is given.

--target web writes a static folder that runs the model in a browser, offline (index.html, predict.js, the model, onnxruntime-web's WebAssembly runtime); the model is loaded once in onnxruntime-web first, and one the browser cannot run is refused with the operator named (exit 2). --target node writes the image's contents as a folder that runs with plain Node.js on a device without Docker (start.sh), with onnxruntime's native files for --platform only.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris',
      description: 'Build iris-classifier:1.0.0 and :latest.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --platform linux/arm64 --tag registry:5000/iris:1.0.0',
      description: 'An arm64 image under another name.',
    },
    {command: '<%= config.bin %> <%= command.id %> --print', description: 'Show the Dockerfile, build nothing.'},
    {
      command: '<%= config.bin %> <%= command.id %> --output ./context',
      description: 'Write the build context for `docker build ./context`.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --target web --output iris-web',
      description: 'A static folder that runs the model in the browser (serve it: mlship serve iris-web --target web).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --target node --platform linux/arm64',
      description: 'A folder for a Raspberry Pi class device: copy it over and run ./start.sh (Node.js 20.12+).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --gpu',
      description: 'The CUDA image (needs the onnxruntime CUDA provider files, see the error it gives otherwise).',
    },
  ]

  static override flags = {
    ...platformFlags(),
    gpu: Flags.boolean({allowNo: true, description: 'Build the CUDA variant (default: build.gpu in model.yaml).'}),
    'no-cache': Flags.boolean({description: 'Build every step again, even when an identical image exists.'}),
    output: Flags.string({
      char: 'o',
      description: 'Write the build context (Dockerfile included) to this new folder and build nothing.',
    }),
    print: Flags.boolean({description: 'Print the Dockerfile and build nothing.'}),
    target: Flags.option({
      default: 'image',
      description:
        'What to build: the Docker image, a static folder for the browser (web), or a folder for plain Node.js (node).',
      options: ['image', 'web', 'node'] as const,
    })(),
    tag: Flags.string({
      char: 't',
      description: 'Image reference to tag (repeatable). Default: name:version and name:latest.',
      multiple: true,
    }),
    verbose: Flags.boolean({description: 'Show the output of every build step.'}),
    webgpu: Flags.boolean({
      description: '--target web: carry the WebGPU runtime (tried first; WebAssembly is its fallback, said loudly).',
    }),
  }

  static override summary = 'Build the Docker image of a model, offline and fast.'

  async run(): Promise<BuildCommandResult> {
    const {args, flags} = await this.parse(Build)
    if (flags.target !== 'image') return this.buildEdge(args.dir, {...flags, target: flags.target})
    if (flags.webgpu) throw flagUsageError('--webgpu is for --target web')
    const platforms = flags.platform ? parsePlatforms(flags.platform) : undefined
    const baseImages = parseBaseImages(flags['base-image'])
    if (platforms && platforms.length > 1) return this.buildPlatforms(args.dir, platforms, baseImages, flags)
    const platform = platforms?.[0]
    const common = {
      baseImage: platform ? baseImageFor(baseImages, platform) : baseImages.all,
      dir: args.dir,
      gpu: flags.gpu,
      platform,
    }

    if (flags.print) {
      const plan = await planBuild(common)
      if (!this.jsonEnabled()) {
        process.stdout.write(plan.dockerfile)
        // stdout stays a Dockerfile (`mlship build --print > Dockerfile`); what goes in is for the reader.
        this.logToStderr(imageFilesText(plan.files))
      }
      return {dockerfile: plan.dockerfile, files: summarizeImageFiles(plan.files), mode: 'print'}
    }

    if (flags.output) {
      const [{writeBuildContext}, {defaultTags}] = await Promise.all([
        import('../image/context.js'),
        import('../image/build-image.js'),
      ])
      const context = await writeBuildContext({...common, outputDir: flags.output})
      const tags = flags.tag ?? defaultTags(context.name, context.version)
      this.log(buildContextText(context, tags))
      return {
        files: summarizeImageFiles(context.files),
        contextDir: context.contextDir,
        contextFiles: context.fileCount,
        contextSizeBytes: context.sizeBytes,
        inputDigest: context.inputDigest,
        mode: 'output',
        tags,
      }
    }

    // model.yaml and the flags are checked (the Dockerfile rendered) before Docker is needed, so a mistake in them is
    // reported as such (exit 2) on a machine without an engine too, not hidden behind "Docker is unavailable".
    await planBuild(common)
    // Imported here, not at the top: --print and --output need neither Docker nor the build's machinery (issue 22).
    const [{connectEngine}, {buildImage}, {buildProgressRenderer}] = await Promise.all([
      import('../docker/engine.js'),
      import('../image/build-image.js'),
      import('../image/progress.js'),
    ])
    const engine = await connectEngine({withoutDocker: `mlship build ${args.dir} --output DIR`})
    // Line by line, so a CI log (no terminal) and --json (stdout is the document) get it as well.
    const progress = buildProgressRenderer(process.stderr, {verbose: flags.verbose})
    let result: BuildImageResult
    try {
      result = await buildImage({
        ...common,
        engine,
        noCache: flags['no-cache'],
        onProgress: progress.onProgress,
        tags: flags.tag,
      })
    } finally {
      progress.finish()
    }

    this.log(builtImageText(result, args.dir))
    return {mode: 'build', ...result}
  }

  private async buildEdge(dir: string, flags: EdgeFlags): Promise<BuildCommandResult> {
    const imageOnly = (['print', 'gpu', 'tag', 'base-image', 'no-cache'] as const).filter((name) =>
      Boolean(flags[name]),
    )
    if (imageOnly.length > 0)
      throw flagUsageError(`--${imageOnly[0]} is for the image; --target ${flags.target} builds none`)
    if (flags.target === 'web') {
      if (flags.platform)
        throw flagUsageError('--platform is for the image and --target node; a web bundle runs anywhere')
      const {buildWebBundle} = await import('../web/build-web.js')
      const result = await buildWebBundle({backend: flags.webgpu ? 'webgpu' : 'wasm', dir, outputDir: flags.output})
      this.log(webBundleText(result))
      return {mode: 'web', ...result}
    }
    if (flags.webgpu) throw flagUsageError('--webgpu is for --target web')
    const {buildNodeFolder} = await import('../edge/node-folder.js')
    const result = await buildNodeFolder({
      dir,
      outputDir: flags.output,
      platform: nodePlatform(flags.platform),
    })
    this.log(nodeFolderText(result))
    return {mode: 'node', ...result}
  }

  /** Several platforms: one image each, tagged with the platform (`name:1.0.0-arm64`); see src/image/platforms.ts. */
  private async buildPlatforms(
    dir: string,
    platforms: ReturnType<typeof parsePlatforms>,
    baseImages: ReturnType<typeof parseBaseImages>,
    flags: {gpu?: boolean; 'no-cache'?: boolean; output?: string; print?: boolean; tag?: string[]; verbose?: boolean},
  ): Promise<BuildCommandResult> {
    if (flags.print || flags.output) {
      throw new MlshipError(
        `--${flags.print ? 'print' : 'output'} shows one platform's build, and --platform names several`,
        {
          code: 'PLATFORM_ONE_ONLY',
          exitCode: ExitCode.usage,
          suggestions: [`Run it once per platform: --platform ${platforms[0]!}, then --platform ${platforms[1]!}.`],
        },
      )
    }
    const [{connectEngine}, {buildPlatformImages}, {buildProgressRenderer}] = await Promise.all([
      import('../docker/engine.js'),
      import('../image/platforms.js'),
      import('../image/progress.js'),
    ])
    const engine = await connectEngine({withoutDocker: `mlship build ${dir} --output DIR`})
    const showProgress = !this.jsonEnabled() && process.stderr.isTTY
    const progress = showProgress ? buildProgressRenderer(process.stderr, {verbose: flags.verbose}) : undefined
    let images: PlatformImage[]
    try {
      images = await buildPlatformImages({
        baseImages,
        dir,
        engine,
        gpu: flags.gpu,
        noCache: flags['no-cache'],
        onProgress: progress?.onProgress,
        platforms,
        tags: flags.tag,
      })
    } finally {
      progress?.finish()
    }
    this.log(platformImagesText(images, dir, platforms))
    return {images, mode: 'platforms'}
  }
}

interface EdgeFlags {
  target: 'web' | 'node'
  output?: string
  platform?: string
  webgpu: boolean
  print: boolean
  gpu?: boolean
  tag?: string[]
  'base-image'?: string[]
  'no-cache': boolean
}

/** --target node runs on one platform. */
function nodePlatform(value: string | undefined) {
  if (!value) return undefined
  const platforms = parsePlatforms(value)
  if (platforms.length > 1) throw flagUsageError('--target node builds for one --platform')
  return platforms[0]
}
