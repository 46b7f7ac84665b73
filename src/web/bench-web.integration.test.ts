/** `mlship bench --target web` in Debian's real Chromium: a short run of the iris model, edge and cloud. */
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {chromiumForTests} from '../browser/test-support/chromium.js'
import {examplesDir} from '../util/paths.js'
import {renderWebBenchHtml, renderWebBenchText} from './bench-report.js'
import {runWebBench} from './bench-web.js'

const {chromium, skipReason} = await chromiumForTests()
if (skipReason) console.warn(`skipping the web bench test: ${skipReason}`)

describe.skipIf(!chromium)('runWebBench', () => {
  afterAll(async () => {
    await chromium?.close()
  })

  it('measures page loads, then predictions in the page and at the server at the same rate', async () => {
    const result = await runWebBench({
      chromium,
      dir: path.join(examplesDir(), 'iris'),
      durationMs: 1000,
      loads: 2,
      rate: 20,
      warmupMs: 250,
    })
    expect(result).toMatchObject({model: {name: 'iris-classifier'}, schemaVersion: 1, target: 'web'})
    expect(result.web.runtime).toMatchObject({backend: 'wasm', crossOriginIsolated: true})
    expect(result.web.pageLoadToFirstPredictionMs.runs).toHaveLength(2)
    expect(result.web.pageLoadToFirstPredictionMs.median).toBeGreaterThan(result.web.readyMs.median)
    // 20/s for one second: 20 scheduled predictions on each side, all answered.
    expect(result.web.ok + result.web.errors).toBe(20)
    expect(result.web.errors).toBe(0)
    expect(result.server).not.toBeNull()
    expect(result.server!.ok).toBe(20)
    expect(result.web.latencyMs.p99Ms).toBeGreaterThanOrEqual(result.web.latencyMs.p50Ms)

    const text = renderWebBenchText(result)
    expect(text).toMatch(/p50 per prediction \(ms\) +[\d.]+ +[\d.]+/)
    expect(text).toContain('page load to first prediction')
    const html = renderWebBenchHtml(result)
    expect(html).toContain('edge vs cloud')
    expect(html).not.toMatch(/(src|href)="https?:/)
  })
})
