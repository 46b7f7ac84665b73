import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {
  type BuildImageResult,
  buildImage,
  defaultTags,
  type ImageFileSummary,
  summarizeImageFiles,
} from '../build/build-image.js'
import {planBuild, writeBuildContext} from '../build/context.js'
import {describeImageFiles} from '../build/image-files.js'
import {buildProgressRenderer} from '../build/progress.js'
import {PLATFORMS} from '../config/schema.js'
import {connectEngine} from '../docker/engine.js'
import {modelDirArg} from '../flags/model-dir.js'

export type BuildCommandResult =
  | ({mode: 'build'} & BuildImageResult)
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

export default class Build extends BaseCommand<BuildCommandResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Builds a production image of the model: the bundled serving app, onnxruntime-node for the target platform only, the model and model.yaml, on a Node.js base image. The build needs no network: everything is in the build context.

Layers are ordered so that a new model re-uses the runtime layers and a new model.yaml re-uses the model layer; an image whose inputs did not change at all is not rebuilt. Tags name:version and name:latest unless --tag is given.

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
      command: '<%= config.bin %> <%= command.id %> --gpu',
      description: 'The CUDA image (needs the onnxruntime CUDA provider files, see the error it gives otherwise).',
    },
  ]

  static override flags = {
    'base-image': Flags.string({
      description:
        'Base image (default: build.base_image in model.yaml, node:20-bookworm-slim; with --gpu, build.gpu_base_image).',
    }),
    gpu: Flags.boolean({allowNo: true, description: 'Build the CUDA variant (default: build.gpu in model.yaml).'}),
    'no-cache': Flags.boolean({description: 'Build every step again, even when an identical image exists.'}),
    output: Flags.string({
      char: 'o',
      description: 'Write the build context (Dockerfile included) to this new folder and build nothing.',
    }),
    platform: Flags.string({
      description: 'Target platform (default: build.platform in model.yaml).',
      options: [...PLATFORMS],
    }),
    print: Flags.boolean({description: 'Print the Dockerfile and build nothing.'}),
    tag: Flags.string({
      char: 't',
      description: 'Image reference to tag (repeatable). Default: name:version and name:latest.',
      multiple: true,
    }),
    verbose: Flags.boolean({description: 'Show the output of every build step.'}),
  }

  static override summary = 'Build the Docker image of a model, offline and fast.'

  async run(): Promise<BuildCommandResult> {
    const {args, flags} = await this.parse(Build)
    const common = {
      baseImage: flags['base-image'],
      dir: args.dir,
      gpu: flags.gpu,
      platform: flags.platform as (typeof PLATFORMS)[number] | undefined,
    }

    if (flags.print) {
      const plan = await planBuild(common)
      if (!this.jsonEnabled()) {
        process.stdout.write(plan.dockerfile)
        // stdout stays a Dockerfile (`mlship build --print > Dockerfile`); what goes in is for the reader.
        this.logToStderr(filesText(plan.files))
      }
      return {dockerfile: plan.dockerfile, files: summarizeImageFiles(plan.files), mode: 'print'}
    }

    if (flags.output) {
      const context = await writeBuildContext({...common, outputDir: flags.output})
      const tags = flags.tag ?? defaultTags(context.name, context.version)
      this.log(
        `Wrote the build context to ${context.contextDir} (${context.fileCount} files, ${mb(context.sizeBytes)}).`,
      )
      this.log(`Build it with: docker build ${tags.map((t) => `-t ${t}`).join(' ')} ${context.contextDir}`)
      this.log(filesText(context.files))
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

    this.log(`${result.upToDate ? 'Up to date' : 'Built'} ${result.tags.join(', ')}`)
    this.log(`  image    ${result.imageId}`)
    this.log(
      `  size     ${mb(result.sizeBytes)}${result.sizeAboveBaseBytes === undefined ? '' : ` (${mb(result.sizeAboveBaseBytes)} above ${result.baseImage})`}`,
    )
    this.log(
      `  context  ${mb(result.contextSizeBytes)} in ${result.contextFiles} files, ${result.platform}${result.gpu ? ', CUDA' : ''}`,
    )
    this.log(
      `  time     ${result.buildSeconds.toFixed(1)} s${result.steps.total > 0 ? ` (${result.steps.cached} of ${result.steps.total} steps cached)` : ''}`,
    )
    this.log(filesText(result.files))
    this.log(`\nRun it: mlship serve ${args.dir} --image ${result.tags[0]}`)
    return {mode: 'build', ...result}
  }
}

function filesText(files: Parameters<typeof describeImageFiles>[0]): string {
  return `\nFrom the model directory (nothing else of it goes into the image):\n${describeImageFiles(files)
    .map((line) => `  ${line}`)
    .join('\n')}`
}

/** Megabytes as `docker images` counts them (10^6 bytes). */
function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}
