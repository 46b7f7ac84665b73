import {Document, isMap, isSeq, visit} from 'yaml'

import type {ModelConfigInput} from './schema.js'

export function schemaUrlFor(mlshipVersion: string): string {
  return `https://unpkg.com/mlship@${mlshipVersion}/schema/model.schema.json`
}

/**
 * Renders a model.yaml. The first line points editors (YAML language server) at the schema so they validate it
 * as it is typed; shapes and examples are written in flow style so they read like the tensors they describe.
 */
export function renderModelYaml(config: ModelConfigInput, options: {mlshipVersion: string}): string {
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
    `# yaml-language-server: $schema=${schemaUrlFor(options.mlshipVersion)}`,
    '# mlship model.yaml: how this model is served, built and shipped. `mlship validate` checks it against the model.',
  ].join('\n')
  return `${header}\n${doc.toString({flowCollectionPadding: false, lineWidth: 120})}`
}
