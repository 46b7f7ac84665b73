import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import {buildProgressRenderer} from '../image/progress.js'
import {parseBaseImages, parsePlatforms} from '../image/platforms.js'
import {platformFlags} from '../flags/platform.js'
import {credentialsFromFlags, registryFlags} from '../flags/registry.js'
import {layerProgressRenderer} from '../registry/progress.js'
import {push, type PushProgressEvent, type PushResult} from '../registry/push.js'
import {targetForDir} from '../registry/target.js'
import {formatBytes} from '../util/bytes.js'

export default class Push extends BaseCommand<PushResult> {
  static override args = {
    dir: Args.string({
      default: '.',
      description: 'Directory with model.yaml (or the path of a model.yaml).',
      ignoreStdin: true,
    }),
  }

  static override description = `Pushes the model's image to <registry>/<repository>:<version>, and points latest and (in a clean git work tree) the short commit sha at the same manifest. Builds first when the image is missing or stale, with the build flags given here.

A version tag is immutable: a version that already exists in the registry with another image is refused unless --force. The image goes up under a temporary tag first and the version tag is created only if it is absent, so of two pushes of one version at once exactly one creates it and the other fails (exit 6). Only the layers the registry lacks are uploaded (a new model uploads the model layer, not the runtime).

Several platforms (--platform linux/amd64,linux/arm64): one image each, published under the version as an OCI image index; the result gives each platform's digest.

Credentials: --username with --password-stdin (CI), else those of \`docker login\` / \`mlship login\` (~/.docker/config.json, DOCKER_CONFIG, credsStore and credHelpers). They are never printed.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> examples/iris', description: 'Push to the registry in model.yaml.'},
    {
      command: '<%= config.bin %> <%= command.id %> --registry 127.0.0.1:5000/iris-classifier',
      description: 'Push to another registry.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --platform linux/amd64,linux/arm64 --base-image linux/arm64=registry:5000/node:20-bookworm-slim-arm64',
      description: 'One tag for amd64 and arm64 (an OCI image index), with a local arm64 base image.',
    },
    {
      command:
        'echo "$REGISTRY_PASSWORD" | <%= config.bin %> <%= command.id %> --username "$REGISTRY_USERNAME" --password-stdin --json',
      description: 'CI.',
    },
  ]

  static override flags = {
    ...registryFlags,
    ...platformFlags('BUILD'),
    force: Flags.boolean({
      char: 'f',
      description: 'Replace a version that already exists in the registry with another image.',
    }),
    gpu: Flags.boolean({
      allowNo: true,
      description: 'Build the CUDA variant, when the image has to be built (default: build.gpu).',
      helpGroup: 'BUILD',
    }),
    latest: Flags.boolean({
      allowNo: true,
      default: true,
      description: 'Point latest at this version (--no-latest for a hotfix of an older version).',
    }),
  }

  static override summary = 'Push the image: version tag (immutable), latest and git sha.'

  async run(): Promise<PushResult> {
    const {args, flags} = await this.parse(Push)
    const {target} = await targetForDir(args.dir, flags.registry)
    const {credentials} = await credentialsFromFlags(target.host, flags)

    // On stderr, also under --json and without a terminal (then one line per layer state rather than redrawn bars).
    const build = buildProgressRenderer(process.stderr)
    const layers = layerProgressRenderer(process.stderr, {
      // undefined, not false, where stderr is no terminal (whatever @types/node says).
      tty: (process.stderr as {isTTY?: boolean}).isTTY === true,
    })
    const onProgress = (event: PushProgressEvent) => {
      if (event.type === 'stage') {
        build.finish()
        layers.finish()
        process.stderr.write(`${event.message}\n`)
      } else if (event.type === 'build') build.onProgress(event.event)
      else layers.onProgress(event)
    }

    let result: PushResult
    try {
      result = await push({
        baseImages: parseBaseImages(flags['base-image']),
        credentials,
        dir: args.dir,
        force: flags.force,
        gpu: flags.gpu,
        latest: flags.latest,
        onProgress,
        platforms: flags.platform ? parsePlatforms(flags.platform) : undefined,
        target,
      })
    } finally {
      build.finish()
      layers.finish()
    }

    this.log(`${result.image}@${result.digest}`)
    this.log(`tags       ${result.tags.join(', ')}`)
    if (result.platforms.length > 1) {
      this.log(`index      ${result.mediaType}`)
      for (const p of result.platforms) this.log(`  ${p.platform.padEnd(12)} ${result.image}@${p.digest}`)
    }
    if (result.alreadyPushed) this.log(`layers     none uploaded: ${result.version} already points to this image`)
    else
      this.log(
        `layers     ${result.layers.pushed} uploaded (${formatBytes(result.layers.pushedBytes)}), ${result.layers.reused} already in the registry`,
      )
    if (result.replaced) this.log(`replaced   ${result.version} pointed to another image before (--force)`)
    if (result.leftoverTags.length > 0)
      this.log(`leftover   ${result.leftoverTags.join(', ')} (the registry refuses DELETE; remove them there)`)
    if (result.git && !result.git.tagged) this.log(`git        no sha tag: ${result.git.reason}`)
    this.log(
      `time       ${result.seconds.total.toFixed(1)} s (build ${result.seconds.build.toFixed(1)} s, push ${result.seconds.push.toFixed(1)} s)`,
    )
    return result
  }
}
