import {describeRef} from './objects.js'
import type {ApplyProgress} from './cluster.js'
import type {DeploySummary} from './deploy.js'

/** One line per step of --apply, on stderr: applied, waiting (and for what), ready, deleted. */
export function applyProgressLine(event: ApplyProgress): string {
  const what = describeRef(event.ref)
  switch (event.type) {
    case 'applied':
      return `applied  ${what}`
    case 'waiting':
      return `waiting  ${what}: ${event.message}`
    case 'ready':
      return `ready    ${what}`
    case 'deleted':
      return `deleted  ${what}${event.existed ? '' : ' (was not there)'}`
  }
}

/** What `mlship deploy` did, for the person at the terminal: the releases, the workers, the files, the cluster. */
export function deploySummaryText(summary: DeploySummary): string {
  const lines = [
    `${summary.format === 'kserve' ? 'InferenceService' : 'Deployment'} ${summary.name} in namespace ${summary.namespace}`,
    `stable     ${summary.stable.version}  ${summary.stable.image}`,
  ]
  if (summary.canary) {
    lines.push(
      `canary     ${summary.canary.version}  ${summary.canary.image}  (${summary.canary.percent}% of the traffic)`,
    )
  }
  lines.push(
    `workers    ${summary.workers} per pod (CPU limit ${summary.cpuLimit})`,
    `probes     startup budget ${summary.probes.startupBudgetSeconds} s (model load measured ${summary.probes.measuredLoadSeconds} s)`,
  )
  if (summary.apiKeys) {
    lines.push(
      `api keys   from Secret ${summary.apiKeys.secret} (entry ${summary.apiKeys.key}), which mlship does not write: kubectl create secret generic ${summary.apiKeys.secret} -n ${summary.namespace} --from-file=${summary.apiKeys.key}=KEYS.txt`,
    )
  }
  if (summary.files) {
    lines.push(`files      ${summary.files.written.length} in ${summary.files.dir}`)
    if (summary.files.removed.length > 0) lines.push(`removed    ${summary.files.removed.join(', ')}`)
  } else if (!summary.applied) {
    lines.push(`objects    ${summary.objects.map((o) => describeRef(o)).join(', ')}`)
  }
  if (summary.applied) {
    lines.push(
      `applied    ${summary.applied.applied.length} objects to context ${summary.applied.context}, ready in ${summary.applied.seconds.toFixed(1)} s`,
    )
    if (summary.applied.deleted.length > 0) {
      lines.push(`deleted    ${summary.applied.deleted.map((ref) => describeRef(ref)).join(', ')}`)
    }
  }
  return lines.join('\n')
}
