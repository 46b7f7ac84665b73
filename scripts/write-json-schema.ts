// Writes schema/model.schema.json from the zod schema, so the published JSON Schema never drifts from the code.
// A unit test checks that the committed file is up to date.
import {writeFileSync} from 'node:fs'

import {modelConfigJsonSchema} from '../src/config/schema.js'

writeFileSync(
  new URL('../schema/model.schema.json', import.meta.url),
  `${JSON.stringify(modelConfigJsonSchema(), null, 2)}\n`,
)
