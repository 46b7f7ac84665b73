/**
 * `bench --ui` end to end, in Debian's headless Chromium: the real page, the real live load, and a real mlship server
 * (in this process) slowed down on purpose, so the knee is low and the degradation comes quickly.
 */
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HeadlessChromium} from '../../browser/chromium.js'
import {chromiumForTests} from '../../browser/test-support/chromium.js'
import type {BenchResult} from '../bench.js'
import {inProcessTarget} from '../in-process-target.js'
import {DEFAULT_SLO} from '../step-result.js'
import {runBenchUi} from './bench-ui.js'
import {positionOf} from './client/rate-scale.js'

const {chromium, skipReason} = await chromiumForTests()
if (skipReason) console.warn(`skipping the bench --ui browser test: ${skipReason}`)

const root = path.resolve(import.meta.dirname, '../../..')
const SLOW = path.join(root, 'test/fixtures/slow')
/** Screenshots for a person to look at: MLSHIP_TEST_ARTIFACTS, else tmp/artifacts (git-ignored). */
const ARTIFACTS = process.env.MLSHIP_TEST_ARTIFACTS ?? path.join(root, 'tmp/artifacts')
const MAX_RATE = 5000

describe.skipIf(!chromium)('bench --ui in headless Chromium', () => {
  const browser = chromium as HeadlessChromium
  let tmp: string
  let payload: string
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'mlship-bench-ui-page-'))
    payload = path.join(tmp, 'slow.json')
    // A few thousand additions in a Loop: milliseconds per inference on one worker, so the knee is low
    await writeFile(payload, JSON.stringify({inputs: {iterations: [3000], x: [[1]]}}))
    await mkdir(ARTIFACTS, {recursive: true})
  })
  afterAll(async () => {
    await browser.close()
    await rm(tmp, {force: true, recursive: true})
  })

  it('drives the real load from the slider, marks the degradation, runs the knee, saves the report, stops', async () => {
    const stop = new AbortController()
    let announce: (url: string) => void = () => {}
    const ready = new Promise<string>((resolve) => (announce = resolve))
    const session: Promise<BenchResult> = runBenchUi(
      {
        arrival: 'constant',
        connections: 64,
        devices: ['cpu'],
        dir: SLOW,
        durationMs: 1000,
        lateThresholdMs: 10,
        maxRate: MAX_RATE,
        method: 'POST',
        payloadFile: payload,
        port: 0,
        rate: 0,
        signal: stop.signal,
        slo: DEFAULT_SLO,
        starter: inProcessTarget({dir: SLOW}),
        sweep: {cooldownMs: 500, maxDurationMs: 30_000, maxRate: 800, startRate: 10},
        timeoutMs: 3000,
        warmupMs: 500,
      },
      {onReady: (url) => announce(url)},
    )
    const url = await Promise.race([
      ready,
      session.then(() => {
        throw new Error('the session ended before its page was up')
      }),
    ])
    const page = await browser.newPage({viewport: {height: 1200, width: 1500}})
    const pageErrors: string[] = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    try {
      await page.goto(url)
      await page.getByTestId('connection').filter({hasText: 'live'}).waitFor()

      // The GPU switch is off on these machines, and says why
      expect(await page.getByTestId('device-gpu').isDisabled()).toBe(true)
      expect(await page.getByTestId('device-cpu').getAttribute('aria-pressed')).toBe('true')
      expect(await page.getByTestId('gpu-reason').textContent()).toMatch(/^GPU unavailable: not usable here: .+/)

      // When the slider is set to 20 req/s
      await page.getByTestId('rate').fill(String(positionOf(20, MAX_RATE)))
      expect(await page.getByTestId('rate-number').inputValue()).toBe('20')

      // Then within a few seconds the achieved readout reaches it, and the latency chart moves
      await expect
        .poll(async () => Number(await page.getByTestId('achieved-rps').textContent()), {timeout: 15_000})
        .toBeGreaterThanOrEqual(18)
      expect(Number(await page.getByTestId('offered-rps').textContent())).toBe(20)
      expect(await page.getByTestId('p50-ms').textContent()).toMatch(/^\d+(\.\d+)?$/)
      expect(pageErrors).toEqual([])
      const points = async () => Number(await page.getByTestId('chart-latency').getAttribute('data-points'))
      const before = await points()
      await expect.poll(points, {timeout: 10_000}).toBeGreaterThanOrEqual(before + 2)
      // And the server's own gauges are read from its /metrics
      await expect.poll(() => page.getByTestId('gauge-memory').textContent(), {timeout: 10_000}).toMatch(/MiB$/)
      expect(await page.getByTestId('gauge-queue-depth').textContent()).toMatch(/^\d+$/)
      await page.screenshot({fullPage: true, path: path.join(ARTIFACTS, 'bench-ui-steady.png')})

      // When the rate is pushed far past the knee of the slowed-down server
      await page.getByTestId('rate-number').fill('2000')
      await page.getByTestId('rate-number').press('Enter')

      // Then the page marks the moment it tipped, names it, and does not blame the server for the generator's limit
      const degraded = page.locator('[data-testid="degraded"][data-rate="2000"]')
      await degraded.waitFor({timeout: 30_000})
      const headline = (await degraded.textContent()) ?? ''
      expect(headline).toContain('at 2,000 req/s')
      if ((await degraded.getAttribute('data-limit')) === 'server')
        expect(headline).toMatch(/: the server, not the generator, is the limit$/)
      else expect(headline).toContain('the load generator could not keep its schedule')
      await page.locator('[data-testid="markers"] li[data-kind="degraded"]').first().waitFor()
      await page.screenshot({fullPage: true, path: path.join(ARTIFACTS, 'bench-ui-degraded.png')})

      // The session saved as the same HTML report --html writes
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('save-report').click()])
      expect(download.suggestedFilename()).toMatch(/^mlship-bench-.*\.html$/)
      const reportPath = path.join(tmp, download.suggestedFilename())
      await download.saveAs(reportPath)

      // "Find the knee": the sweep runs on the chart, step by step, with the controls its own
      await page.getByTestId('rate-number').fill('0')
      await page.getByTestId('rate-number').press('Enter')
      await page.getByTestId('find-knee').click()
      await page.locator('[data-testid="sweep-steps"] tr').first().waitFor({timeout: 15_000})
      expect(await page.getByTestId('rate').isDisabled()).toBe(true)
      await page
        .locator('[data-testid="sweep-steps"] tr td:last-child')
        .filter({hasText: /^(ok|DEGRADED|generator)$/})
        .first()
        .waitFor({timeout: 20_000})
      await page.screenshot({fullPage: true, path: path.join(ARTIFACTS, 'bench-ui-sweep.png')})

      // Ctrl-C (the signal) stops the sweep, the load, the server and the page
      stop.abort()
      const result = await session
      await page.getByTestId('connection').filter({hasText: 'stopped'}).waitFor({timeout: 10_000})
      expect(result.runs[0]!.steps.some((step) => step.offeredRps === 2000 && step.verdict === 'degraded')).toBe(true)
      expect(pageErrors).toEqual([])
    } finally {
      stop.abort()
      await session.catch(() => undefined)
      await page.close()
    }
  })
})
