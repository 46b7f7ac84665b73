import type {ServeInProcessInfo} from './serve-in-process.js'

/** For stdout, once `serve --local` listens: what serves where, its layout and routes, and what to try. */
export function inProcessListeningText(info: ServeInProcessInfo): string {
  const how =
    info.layout.kind === 'cluster'
      ? `${info.workers} HTTP processes, each with the model in-process`
      : `${info.workers} inference worker${info.workers === 1 ? '' : 's'}`
  return [
    `Serving ${info.model}@${info.version} at ${info.url}  (${how}, ${info.executionProvider})`,
    `Layout: ${info.layout.kind} (${info.layout.reason})`,
    `Routes:\n${info.routes.map((r) => `  ${r}`).join('\n')}`,
    `Try:  curl -s ${info.url}/health\nAPI page: ${info.url}/docs\nPress Ctrl-C to stop.`,
  ].join('\n')
}
