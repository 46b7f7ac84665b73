import {describe, expect, it} from 'vitest'

import {rewriteVendorImports} from './vendor-bundles.js'

const toBundle = (pkg: string) => `../vendor/${pkg}.js`

describe('rewriteVendorImports', () => {
  it('points static, re-exported, side-effect and dynamic imports of the vendored packages at their bundles', () => {
    const source = [
      "import { isMap, parseDocument } from 'yaml';",
      'import {z} from "zod";',
      "export {parse} from 'yaml'",
      "import 'zod'",
      "const {default: Handlebars} = await import('handlebars');",
      'const lazy = await import ( "yaml" )',
    ].join('\n')

    expect(rewriteVendorImports(source, toBundle)).toBe(
      [
        "import { isMap, parseDocument } from '../vendor/yaml.js';",
        'import {z} from "../vendor/zod.js";',
        "export {parse} from '../vendor/yaml.js'",
        "import '../vendor/zod.js'",
        "const {default: Handlebars} = await import('../vendor/handlebars.js');",
        'const lazy = await import ( "../vendor/yaml.js" )',
      ].join('\n'),
    )
  })

  it('leaves other packages, subpaths and look-alike strings alone', () => {
    const source = [
      "import {Flags} from '@oclif/core/flags'",
      "import {z} from 'zod/mini'",
      "import x from 'yaml-language-server'",
      "import y from 'my-yaml'",
      "const message = 'write the file as yaml'",
      "const pkg = 'zod'",
    ].join('\n')

    expect(rewriteVendorImports(source, toBundle)).toBe(source)
  })
})
