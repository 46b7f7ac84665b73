/**
 * The README's screenshot of `mlship bench --ui` (`npm run screenshot:bench-ui`): the bundled iris example served in
 * this process, held at a healthy rate, then "find the knee", then pushed past the knee until the page marks the
 * degradation; Debian's headless Chromium (never a downloaded one) saves the page.
 *
 *   npm run screenshot:bench-ui -- [--dir examples/iris] [--out docs/images/bench-ui.png]
 *
 * On a machine with few cores the generator shares the CPUs with the server: the page then names the generator as the
 * limit, as it should. Take the README's picture on a quiet machine with 4 cores or more.
 */
import path from 'node:path'
import {parseArgs} from 'node:util'

import {launchChromium} from '../src/browser/chromium.js'
import {inProcessTarget} from '../src/bench/in-process-target.js'
import {DEFAULT_SLO} from '../src/bench/step-result.js'
import {runBenchUi} from '../src/bench/ui/bench-ui.js'

const {values} = parseArgs({
  options: {
    dir: {default: 'examples/iris', type: 'string'},
    out: {default: 'docs/images/bench-ui.png', type: 'string'},
  },
})
const log = (line: string) => process.stderr.write(`${line}\n`)
const stop = new AbortController()
let announce: (url: string) => void = () => {}
const ready = new Promise<string>((resolve) => (announce = resolve))
const session = runBenchUi(
  {
    arrival: 'constant',
    connections: 64,
    devices: ['cpu'],
    dir: values.dir,
    durationMs: 2000,
    lateThresholdMs: 10,
    maxRate: 50_000,
    method: 'POST',
    port: 0,
    rate: 100,
    signal: stop.signal,
    slo: DEFAULT_SLO,
    starter: inProcessTarget({dir: values.dir}),
    sweep: {maxDurationMs: 60_000, maxRate: 50_000, startRate: 200},
    timeoutMs: 2000,
    warmupMs: 1000,
  },
  {onNote: log, onReady: (url) => announce(url)},
)
const url = await ready
const browser = await launchChromium()
try {
  const page = await browser.newPage({deviceScaleFactor: 1, viewport: {height: 1150, width: 1500}})
  await page.goto(url)
  await page.getByTestId('connection').filter({hasText: 'live'}).waitFor()
  log(`${url}: 100 req/s for 10 s`)
  await page.waitForTimeout(10_000)
  log('find the knee')
  await page.getByTestId('find-knee').click()
  await page.getByTestId('find-knee').filter({hasText: 'Find the knee'}).waitFor({timeout: 90_000})
  const knee = (await page.getByTestId('knee').textContent()) ?? ''
  log(knee)
  const rates = /(\d[\d,]*) req\/s did not/.exec(knee) ?? /(\d[\d,]*) req\/s met/.exec(knee)
  const past = Math.round(Number((rates?.[1] ?? '1000').replaceAll(',', '')) * 4)
  log(`past the knee: ${past} req/s`)
  await page.getByTestId('rate-number').fill(String(past))
  await page.getByTestId('rate-number').press('Enter')
  await page.getByTestId('degraded').waitFor({timeout: 30_000})
  await page.waitForTimeout(4000)
  await page.screenshot({fullPage: true, path: path.resolve(values.out)})
  log(`saved ${values.out}`)
} finally {
  stop.abort()
  await session
  await browser.close()
}
