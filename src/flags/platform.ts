import {Flags} from '@oclif/core'

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
      description: `Target platform, or several separated by commas (${PLATFORMS.join(',')}): one image each, pushed under one tag as an OCI image index. Default: build.platform in model.yaml.`,
      helpGroup,
    }),
  }
}
