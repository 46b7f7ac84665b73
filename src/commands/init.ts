import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import {EXAMPLES, type InitResult, initProject, type Prompter} from '../init/init.js'
import {modelDirArg} from '../flags/model-dir.js'

export default class Init extends BaseCommand<InitResult> {
  static override args = {
    dir: modelDirArg('Directory to initialise (created if missing).'),
  }

  static override description = `Writes model.yaml (with the signature read from the model) and a GitHub Actions workflow that builds, tests and pushes the image on a version tag.

Asks for what it needs on a terminal; with --yes, or without a terminal (CI), it takes the flags and defaults. Never overwrites a file without --force.

Beyond the model's own signature, model.yaml gets a row of zeros as the example of each input whose shape allows one (for docs, \`mlship predict --example\` and the workflow's smoke test), labels for an output of class scores when you give them (--labels, or asked on a terminal), and a registry: section (--registry, asked, or ghcr.io/OWNER/NAME for a GitHub origin). The workflow installs mlship from the repository variable MLSHIP_PACKAGE, by default from where this mlship came from, and pushes to the repository variable MLSHIP_REGISTRY, else model.yaml's registry:, else ghcr.io. For a model whose input takes a picture (preprocess.image) the workflow's smoke test sends the first sample image (.jpg, .jpeg, .png, .webp) of DIR, so init refuses such a model when DIR has none; a text input gets a fixed sentence, and a model with both gets both.

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
    'image-preprocess': Flags.boolean({
      allowNo: true,
      description:
        'Declare preprocess.image for the input that looks like an image (4-D floats, 1 or 3 channels): clients send a picture (JPEG, PNG, WebP). Asked on a terminal.',
    }),
    'image-normalize': Flags.string({
      description: "With --image-preprocess: normalise 3 channels with ImageNet's mean and std, or not at all.",
      options: ['imagenet', 'none'],
    }),
    labels: Flags.string({
      description:
        'Class labels of the output that holds class scores ([batch, K] floats), comma-separated, one per class.',
    }),
    'mlship-package': Flags.string({
      description:
        'What the generated workflow installs as mlship (an npm install spec). Default: where this mlship came from.',
    }),
    model: Flags.string({char: 'm', description: 'The ONNX model file.'}),
    name: Flags.string({char: 'n', description: 'Model name (also the image name). Default: the directory name.'}),
    tokenizer: Flags.string({
      description:
        'A tokenizer.json (Hugging Face) for the input that looks like token ids (int64 [batch, sequence]): declares preprocess.text, so clients send text. Asked on a terminal.',
    }),
    registry: Flags.string({
      description:
        'Registry for `mlship push`, host/repository (model.yaml registry: section). Default: ghcr.io/OWNER/NAME where the origin of DIR is on GitHub.',
    }),
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
      imageNormalize: flags['image-normalize'] as 'imagenet' | 'none' | undefined,
      imagePreprocess: flags['image-preprocess'],
      labels: flags.labels?.split(','),
      mlshipPackage: flags['mlship-package'],
      mlshipVersion: this.config.version,
      model: flags.model,
      name: flags.name,
      registry: flags.registry,
      tokenizer: flags.tokenizer,
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
      if (!result.registry)
        this.log(
          'No registry: section: `mlship push` needs --registry, and the workflow pushes to ghcr.io/<owner>/<name> unless the repository variable MLSHIP_REGISTRY says otherwise.',
        )
      if (!result.mlshipPackage)
        this.log(
          'The workflow needs the repository variable MLSHIP_PACKAGE: what `npm install --global` installs as mlship (e.g. github:OWNER/mlship#v0.1.0).',
        )
    }
    return result
  }
}

function inquirerPrompter(): Prompter {
  return {
    confirm: async (options) => (await import('@inquirer/prompts')).confirm(options),
    input: async (options) => (await import('@inquirer/prompts')).input({...options, validate: options.validate}),
  }
}
