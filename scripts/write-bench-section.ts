/**
 * For shell benchmarks: writes the markdown read from stdin as a BENCHMARKS.md section (see lib/benchmarks-md.ts).
 *   tsx scripts/write-bench-section.ts --id serving --title "Serving throughput" \
 *     --command "npm run bench:serving" < body.md
 */
import {text} from 'node:stream/consumers'
import {parseArgs} from 'node:util'

import {writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({options: {command: {type: 'string'}, id: {type: 'string'}, title: {type: 'string'}}})
if (!values.id || !values.title || !values.command) {
  process.stderr.write('usage: write-bench-section.ts --id ID --title TITLE --command COMMAND < body.md\n')
  process.exit(2)
}
await writeBenchmarkSection({
  body: await text(process.stdin),
  command: values.command,
  id: values.id,
  title: values.title,
})
