import * as Flags from '@oclif/core/flags'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {BaseCommand} from '../base-command.js'
import {ExitCode, MlshipError, errorMessage} from '../errors.js'
import {loadModelProject} from '../model/load-model.js'
import {clientTypes} from '../serving/client-types.js'
import {modelDirArg} from '../flags/model-dir.js'

export interface TypesResult {
  model: string
  version: string
  /** Where the types were written; undefined when printed. */
  file?: string
  types: string
}

export default class Types extends BaseCommand<TypesResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Writes the request and response types of the model's server as a TypeScript declaration file (.d.ts), generated from its signature: PredictRequest / PredictResponse for POST /predict, V2InferRequest / V2InferResponse for the Open Inference Protocol, one type per input and output tensor (fixed dimensions as tuples; an input that declares preprocess: as the image or text the client sends), and the class labels as a union. A TypeScript client that imports it is typed end to end.

${BaseCommand.exitCodesHelp}`

  static override enableJsonFlag = true

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --out iris.d.ts',
      description: 'Write the types of the iris example.',
    },
    {command: '<%= config.bin %> <%= command.id %> examples/iris', description: 'Print them.'},
  ]

  static override flags = {
    out: Flags.string({char: 'o', description: 'The .d.ts file to write (default: print to stdout).'}),
  }

  static override summary = "Write the TypeScript types of the model's requests and responses (.d.ts)."

  async run(): Promise<TypesResult> {
    const {args, flags} = await this.parse(Types)
    const project = await loadModelProject(args.dir)
    const types = clientTypes({
      name: project.config.name,
      signature: project.signature,
      version: project.config.version,
    })
    if (!flags.out) {
      if (!this.jsonEnabled()) process.stdout.write(types)
      return {model: project.config.name, types, version: project.config.version}
    }
    const file = path.resolve(flags.out)
    try {
      await writeFile(file, types)
    } catch (error) {
      throw new MlshipError(`cannot write ${file}: ${errorMessage(error)}`, {
        code: 'TYPES_WRITE_FAILED',
        exitCode: ExitCode.usage,
      })
    }
    this.log(`wrote ${file} (types of ${project.config.name} ${project.config.version})`)
    return {file, model: project.config.name, types, version: project.config.version}
  }
}
