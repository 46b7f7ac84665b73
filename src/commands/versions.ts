import * as Args from '@oclif/core/args'

import {BaseCommand} from '../base-command.js'
import {credentialsFromFlags, registryFlags} from '../flags/registry.js'
import {targetForDir} from '../registry/target.js'
import {listVersions, type VersionsResult} from '../registry/versions.js'
import {formatBytes} from '../util/bytes.js'
import {renderTable} from '../util/table.js'

export default class Versions extends BaseCommand<VersionsResult> {
  static override args = {
    dir: Args.string({
      default: '.',
      description: 'Directory with model.yaml (for its registry: section).',
      ignoreStdin: true,
    }),
  }

  static override description = `Lists the versions of the model's image in the registry through the Registry HTTP API v2 (nothing is pulled): each version's manifest digest, creation time, stored size, platforms (each platform of a multi-platform index) and tags, and which one \`latest\` points to.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris',
      description: 'Versions of the registry in model.yaml.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --registry 127.0.0.1:5000/iris-classifier --json',
      description: 'Any repository, as JSON.',
    },
  ]

  static override flags = {
    ...registryFlags,
  }

  static override summary = 'List the versions of the model in the registry.'

  async run(): Promise<VersionsResult> {
    const {args, flags} = await this.parse(Versions)
    const {target} = await targetForDir(args.dir, flags.registry)
    const {credentials} = await credentialsFromFlags(target.host, flags)
    const result = await listVersions({credentials, target})

    if (result.versions.length === 0) {
      this.log(`${result.image} has no versions yet. Push one with \`mlship push\`.`)
      return result
    }
    this.log(
      renderTable(
        ['', 'VERSION', 'DIGEST', 'CREATED', 'SIZE', 'PLATFORMS', 'MODEL', 'TAGS'],
        result.versions.map((v) => [
          v.latest ? '*' : '',
          v.version,
          v.digest.slice(0, 19),
          v.created ? v.created.replace('T', ' ').replace(/\.\d+Z$|Z$/, 'Z') : '',
          formatBytes(v.sizeBytes),
          v.platforms.map((p) => p.platform).join(','),
          v.modelSha256 ? v.modelSha256.slice(0, 12) : '',
          v.tags.filter((t) => t !== v.version).join(', '),
        ]),
      ),
    )
    this.log(`\n${result.image}${result.latest ? `; * = latest (${result.latest.slice(0, 19)})` : '; no latest tag'}`)
    return result
  }
}
