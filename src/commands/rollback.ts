import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import {ExitCode, MlshipError} from '../errors.js'
import {credentialsFromFlags, registryFlags} from '../flags/registry.js'
import {type RollbackResult, rollback} from '../registry/rollback.js'
import {targetForDir} from '../registry/target.js'

export default class Rollback extends BaseCommand<RollbackResult> {
  static override args = {
    dir: Args.string({description: 'Directory with model.yaml (default: the current directory).', ignoreStdin: true}),
    version: Args.string({description: 'The version to make current, e.g. 1.0.0.', ignoreStdin: true}),
  }

  static override description = `Makes a previous version current in one step: points \`latest\` in the registry at that version's manifest (the same manifest is PUT under \`latest\`: no layer is pulled or pushed). A container of this model served locally is replaced by the rolled-back image without downtime: the new one starts, becomes healthy, then the old one stops. The new one listens on a new host port (Docker cannot hand a published port from one container to another); the result gives both URLs.

A version that is not in the registry is refused, with the list of those that are.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> 1.0.0',
      description: 'Make 1.0.0 current (model.yaml in this directory).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris 1.0.0 --json',
      description: 'Another directory, JSON result.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> 1.0.0 --registry 127.0.0.1:5000/iris-classifier',
      description: 'Any repository.',
    },
  ]

  static override flags = {
    ...registryFlags,
    containers: Flags.boolean({
      allowNo: true,
      default: true,
      description:
        'Replace the containers of this model that mlship serves locally (--no-containers: the registry only).',
    }),
  }

  static override summary = 'Point latest back at a previous version (and swap a local container).'

  async run(): Promise<RollbackResult> {
    const {args, flags} = await this.parse(Rollback)
    // `rollback 1.0.0` and `rollback DIR 1.0.0`: one positional is the version.
    const version = args.version ?? args.dir
    const dir = args.version ? (args.dir ?? '.') : '.'
    if (!version) {
      throw new MlshipError('rollback needs the version to make current', {
        code: 'VERSION_MISSING',
        exitCode: ExitCode.usage,
        suggestions: ['mlship rollback 1.0.0   (see the versions with `mlship versions`)'],
      })
    }
    const {loaded, target} = await targetForDir(dir, flags.registry)
    const {credentials} = await credentialsFromFlags(target.host, flags)
    const started = Date.now()
    const progress = this.jsonEnabled() ? undefined : (message: string) => process.stderr.write(`${message}\n`)
    const result = await rollback({
      containers: flags.containers,
      credentials,
      loaded,
      onProgress: progress,
      target,
      version,
    })

    const short = result.digest.slice(0, 19)
    this.log(
      result.moved
        ? `${result.reference} -> ${result.version} (${short}), was ${result.previousDigest ? result.previousDigest.slice(0, 19) : 'unset'}`
        : `${result.reference} already points to ${result.version} (${short}); nothing to change.`,
    )
    for (const swap of result.containers) {
      this.log(
        `container  ${swap.name} (${swap.oldUrl}) replaced by ${swap.newId.slice(0, 12)} at ${swap.url}, ready in ${(swap.readyMs / 1000).toFixed(1)} s`,
      )
    }
    if (result.containersSkipped) this.log(`containers not looked at: ${result.containersSkipped}`)
    this.log(`Done in ${((Date.now() - started) / 1000).toFixed(2)} s.`)
    return result
  }
}
