import {Flags} from '@oclif/core'
import {confirm, input} from '@inquirer/prompts'

import {BaseCommand} from '../base-command.js'
import {EXAMPLES, type InitResult, initProject, type Prompter} from '../init/init.js'
import {modelDirArg} from '../flags/model-dir.js'

export default class Init extends BaseCommand<InitResult> {
  static override args = {
    dir: modelDirArg('Directory to initialise (created if missing).'),
  }

  static override description = `Writes model.yaml (with the signature read from the model) and a GitHub Actions workflow that builds, tests and pushes the image on a version tag.

Asks for what it needs on a terminal; with --yes, or without a terminal (CI), it takes the flags and defaults. Never overwrites a file without --force.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Answer a few questions in the current directory.'},
    {
      command: '<%= config.bin %> <%= command.id %> --yes --model model.onnx --name fraud --version 1.0.0',
      description: 'Non-interactive (CI).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> iris-lab --example iris',
      description: 'Scaffold the teaching example.',
    },
    {command: '<%= config.bin %> <%= command.id %> --dry-run --json', description: 'Show what would be written.'},
  ]

  static override flags = {
    description: Flags.string({description: 'One line about the model.'}),
    'dry-run': Flags.boolean({description: 'Show what would be written, write nothing.'}),
    example: Flags.string({
      description: 'Scaffold a bundled example instead of your own model.',
      options: [...EXAMPLES],
    }),
    force: Flags.boolean({char: 'f', description: 'Overwrite existing files.'}),
    model: Flags.string({char: 'm', description: 'The ONNX model file.'}),
    name: Flags.string({char: 'n', description: 'Model name (also the image name). Default: the directory name.'}),
    version: Flags.string({char: 'v', description: 'Model version (semver). Default: 1.0.0.'}),
    yes: Flags.boolean({char: 'y', description: 'Take defaults, ask nothing.'}),
  }

  static override summary = 'Create model.yaml for an ONNX model, or scaffold an example.'

  async run(): Promise<InitResult> {
    const {args, flags} = await this.parse(Init)
    const interactive = !flags.yes && !this.jsonEnabled() && process.stdin.isTTY && process.stdout.isTTY
    const result = await initProject({
      description: flags.description,
      dir: args.dir,
      dryRun: flags['dry-run'],
      example: flags.example,
      force: flags.force,
      mlshipVersion: this.config.version,
      model: flags.model,
      name: flags.name,
      prompter: interactive && !flags.example ? inquirerPrompter() : undefined,
      version: flags.version,
    })

    if (flags['dry-run']) {
      for (const [file, content] of Object.entries(result.contents)) {
        this.log(`--- ${file}`)
        this.log(content.trimEnd())
      }
      for (const file of result.files.filter((f) => f.action === 'copy'))
        this.log(`--- ${file.path} (copied, ${file.bytes} bytes)`)
      this.log(`\nDry run: nothing was written to ${result.dir}.`)
    } else {
      for (const file of result.files) this.log(`${file.action.padEnd(9)} ${file.path}`)
      this.log(`\n${result.name}@${result.version} is ready in ${result.dir}. Next: mlship validate ${args.dir}`)
    }
    return result
  }
}

function inquirerPrompter(): Prompter {
  return {
    confirm: (options) => confirm(options),
    input: (options) => input({...options, validate: options.validate}),
  }
}
