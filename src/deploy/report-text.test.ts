import {describe, expect, it} from 'vitest'

import type {DeploySummary} from './deploy.js'
import {applyProgressLine, deploySummaryText} from './report-text.js'

const summary: DeploySummary = {
  action: 'canary',
  canary: {image: 'r.example/iris@sha256:bbb', percent: 10, version: '1.1.0'},
  cpuLimit: '2',
  format: 'kubernetes',
  name: 'iris-classifier',
  namespace: 'ml',
  objects: [
    {kind: 'Deployment', name: 'iris-classifier'},
    {kind: 'Service', name: 'iris-classifier'},
  ],
  probes: {measuredLoadSeconds: 0.4, startupBudgetSeconds: 30},
  removed: [],
  stable: {image: 'r.example/iris@sha256:aaa', version: '1.0.0'},
  warnings: [],
  workers: 2,
}

describe('deploySummaryText', () => {
  it('names both releases, the workers and probes, and lists the objects when nothing was written or applied', () => {
    expect(deploySummaryText(summary).split('\n')).toEqual([
      'Deployment iris-classifier in namespace ml',
      'stable     1.0.0  r.example/iris@sha256:aaa',
      'canary     1.1.0  r.example/iris@sha256:bbb  (10% of the traffic)',
      'workers    2 per pod (CPU limit 2)',
      'probes     startup budget 30 s (model load measured 0.4 s)',
      'objects    deployment/iris-classifier, service/iris-classifier',
    ])
  })

  it('says where the files went and what the cluster did, and how to create the API keys Secret', () => {
    const text = deploySummaryText({
      ...summary,
      apiKeys: {key: 'keys', secret: 'iris-keys'},
      applied: {
        applied: [],
        context: 'kind-ml',
        deleted: [{apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris-canary', namespace: 'ml'}],
        seconds: 12.34,
      },
      canary: undefined,
      files: {dir: 'deploy', removed: ['canary.yaml'], written: ['a.yaml', 'b.yaml']},
      format: 'kserve',
    })
    expect(text).toContain('InferenceService iris-classifier in namespace ml')
    expect(text).toContain('kubectl create secret generic iris-keys -n ml --from-file=keys=KEYS.txt')
    expect(text).toContain('files      2 in deploy\nremoved    canary.yaml')
    expect(text).toContain(
      'applied    0 objects to context kind-ml, ready in 12.3 s\ndeleted    deployment/iris-canary',
    )
    expect(text).not.toContain('canary     ')
  })
})

describe('applyProgressLine', () => {
  it('says each step of --apply, and a delete of what was not there', () => {
    const ref = {apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris', namespace: 'ml'}
    expect(applyProgressLine({ref, type: 'waiting', message: '1 of 2 ready'})).toBe(
      'waiting  deployment/iris: 1 of 2 ready',
    )
    expect(applyProgressLine({existed: false, ref, type: 'deleted'})).toBe('deleted  deployment/iris (was not there)')
  })
})
