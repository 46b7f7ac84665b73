import * as Errors from '@oclif/core/errors'
import * as Flags from '@oclif/core/flags'

import {parsePlatforms} from '../image/platforms.js'
import {PLATFORMS} from '../config/schema.js'

/** --platform and --base-image, shared by build and push (push shows them under BUILD). */
export function platformFlags(helpGroup?: string) {
  return {
    'base-image': Flags.string({
      description:
        'Base image (default: build.base_image in model.yaml). For one platform of several: PLATFORM=IMAGE, e.g. linux/arm64=registry:5000/node:20-arm64 (repeatable: offline, each platform needs a base image of its own).',
      helpGroup,
      multiple: true,
      // --base-image A --base-image B; a value after the flag's own is an argument, not another base image.
      multipleNonGreedy: true,
    }),
    platform: Flags.string({
      // Checked while the flags are parsed, so a bad value is a usage error like any other bad flag value.
      async parse(input) {
        try {
          parsePlatforms(input)
        } catch (error) {
          // oclif's own usage error: reported like any other bad flag value (INVALID_USAGE, exit 2).
          throw new Errors.CLIError((error as Error).message, {exit: 2})
        }
        return input
      },
      description: `Target platform, or several separated by commas (${PLATFORMS.join(',')}): one image each, pushed under one tag as an OCI image index. Default: build.platform in model.yaml.`,
      helpGroup,
    }),
  }
}
