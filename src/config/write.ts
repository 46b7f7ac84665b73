import path from 'node:path'
import {Document, isMap, isSeq, visit} from 'yaml'

import {packageRoot} from '../util/paths.js'
import type {ModelConfigInput} from './schema.js'

/**
 * The JSON Schema of model.yaml that ships with this mlship, as a path relative to the folder of a model.yaml:
 * editors resolve it offline, and it cannot point at a release that was never published.
 */
export function schemaReferenceFor(dir: string): string {
  const schema = path.join(packageRoot(), 'schema', 'model.schema.json')
  return path.relative(path.resolve(dir), schema).split(path.sep).join('/')
}

/**
 * Renders a model.yaml. The first line points editors (YAML language server) at the schema so they validate it
 * as it is typed; shapes and examples are written in flow style so they read like the tensors they describe.
 */
export function renderModelYaml(config: ModelConfigInput, options: {schema: string}): string {
  const doc = new Document(config)
  visit(doc, {
    Pair(_, pair) {
      const key = (pair.key as {value?: unknown} | null)?.value
      if ((key === 'shape' || key === 'example' || key === 'labels') && (isSeq(pair.value) || isMap(pair.value))) {
        pair.value.flow = true
      }
    },
  })
  const header = [
    `# yaml-language-server: $schema=${options.schema}`,
    '# mlship model.yaml: how this model is served, built and shipped. `mlship validate` checks it against the model.',
  ].join('\n')
  return `${header}\n${doc.toString({flowCollectionPadding: false, lineWidth: 120})}`
}
