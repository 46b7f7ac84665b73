import {describe, expect, it} from 'vitest'

import type {LiveWindow} from '../live-load.js'
import {DEFAULT_SLO} from '../step-result.js'
import {DegradationWatch, judgeWindow} from './degradation.js'

/** A one-second window at `rate`, healthy unless told otherwise. */
function window(at: number, rate: number, over: Partial<LiveWindow> = {}, p99Ms = 5, late = 0): LiveWindow {
  const scheduled = over.scheduled ?? rate
  const ok = over.ok ?? scheduled
  return {
    achievedRps: ok,
    at,
    durationMs: 1000,
    errorRate: 0,
    errors: 0,
    inFlight: 0,
    latencyMs: {count: scheduled, maxMs: p99Ms, p50Ms: 2, p95Ms: p99Ms / 2, p99Ms},
    offeredRps: scheduled,
    rate,
    shed: 0,
    shedRate: 0,
    target: 'cpu',
    throughputRps: scheduled,
    timeouts: 0,
    ...over,
    generator: {
      eventLoopDelayP99Ms: 1,
      late,
      lateFraction: late / scheduled,
      lateThresholdMs: 10,
      limited: late / scheduled > 0.01,
      sendLagP99Ms: late > 0 ? 50 : 0.2,
    },
    ok,
    scheduled,
  }
}

describe('judgeWindow', () => {
  it('finds nothing wrong with a window that meets the SLO, nor with an idle one', () => {
    expect(judgeWindow(window(1000, 500), DEFAULT_SLO)).toEqual([])
    expect(
      judgeWindow(window(1000, 0, {latencyMs: {count: 0, maxMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0}}), DEFAULT_SLO),
    ).toEqual([])
  })

  it('judges by the SLO a bench step is judged by: p99, errors, achieved against offered', () => {
    const findings = judgeWindow(
      window(1000, 1000, {errorRate: 0.2, errors: 200, ok: 800, shed: 150, shedRate: 0.15}, 250),
      DEFAULT_SLO,
    )
    expect(findings.map((f) => f.kind)).toEqual(['p99', 'errors', 'achieved'])
    expect(findings[0]!.reason).toBe('p99 250.0 ms is over the SLO of 100 ms')
    expect(findings[1]!.reason).toBe('errors 20.0%, 15.0% refused with 503')
  })

  it('does not call a few missing answers at a low rate a server falling behind (counting noise)', () => {
    // 19 of 20 answered in this second is 95% - 1: noise, not a backlog
    expect(judgeWindow(window(1000, 20, {ok: 18}), DEFAULT_SLO)).toEqual([])
    expect(judgeWindow(window(1000, 20, {ok: 10}), DEFAULT_SLO).map((f) => f.kind)).toEqual(['achieved'])
  })
})

describe('DegradationWatch', () => {
  it('marks the moment three unhealthy windows in a row began, at the rate then, and blames the server', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO})
    expect(watch.observe(window(1000, 1850)).tipped).toBeUndefined()
    expect(watch.observe(window(2000, 1850, {}, 140)).tipped).toBeUndefined()
    expect(watch.observe(window(3000, 1850, {}, 180)).tipped).toBeUndefined()
    const {tipped} = watch.observe(window(4000, 1850, {}, 300))
    expect(tipped).toEqual({
      at: 1000,
      headline: 'p99 over 100 ms at 1,850 req/s: the server, not the generator, is the limit',
      limit: 'server',
      rate: 1850,
      reasons: ['p99 300.0 ms is over the SLO of 100 ms'],
    })
    expect(watch.current).toEqual(tipped)
    // Still degraded: no second tip for the same episode
    expect(watch.observe(window(5000, 1850, {}, 400))).toEqual({})
  })

  it('names the generator, not the server, when the generator could not keep its schedule', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO, tipAfter: 2})
    watch.observe(window(1000, 50_000, {}, 150, 10_000))
    const {tipped} = watch.observe(window(2000, 50_000, {}, 150, 5000))
    expect(tipped?.limit).toBe('generator')
    expect(tipped?.headline).toBe(
      'p99 over 100 ms at 50,000 req/s, but the load generator could not keep its schedule (20.0% of requests sent ' +
        'over 10 ms late): the generator, or a CPU it shares with the server, is the limit here, not necessarily the server',
    )
  })

  it('names 503 refusals as load shedding when errors, not latency, tipped it', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO, tipAfter: 1})
    const {tipped} = watch.observe(window(1000, 900, {errorRate: 0.5, errors: 450, ok: 450, shed: 450, shedRate: 0.5}))
    expect(tipped?.headline).toBe(
      '50.0% errors (503 refusals: the server sheds load) at 900 req/s: the server, not the generator, is the limit',
    )
  })

  it('recovers after three healthy (or idle) windows, and a single good window in a bad run is not a recovery', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO, tipAfter: 1})
    expect(watch.observe(window(1000, 2000, {}, 500)).tipped).toBeDefined()
    expect(watch.observe(window(2000, 2000)).recovered).toBeUndefined()
    expect(watch.observe(window(3000, 2000, {}, 500))).toEqual({})
    expect(watch.current).not.toBeNull()
    watch.observe(window(4000, 100))
    watch.observe(window(5000, 100))
    expect(watch.observe(window(6000, 100)).recovered).toBe(6000)
    expect(watch.current).toBeNull()
  })

  it('tips again, named anew, when the rate is pushed higher while it is degraded', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO, tipAfter: 2})
    watch.observe(window(1000, 500, {}, 300))
    expect(watch.observe(window(2000, 500, {}, 300)).tipped?.rate).toBe(500)
    expect(watch.observe(window(3000, 2000, {}, 900))).toEqual({})
    const {tipped} = watch.observe(window(4000, 2000, {}, 900))
    expect(tipped?.at).toBe(2000)
    expect(tipped?.headline).toBe('p99 over 100 ms at 2,000 req/s: the server, not the generator, is the limit')
    expect(watch.observe(window(5000, 2000, {}, 900))).toEqual({})
  })

  it('neither tips nor recovers on the backlog that drains once the load is set to 0', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO, tipAfter: 1, recoverAfter: 1})
    // 50 requests of the earlier rate time out after 3 s, with nothing new sent
    const draining = (at: number) =>
      window(at, 0, {
        errorRate: 1,
        errors: 50,
        latencyMs: {count: 50, maxMs: 3000, p50Ms: 3000, p95Ms: 3000, p99Ms: 3000},
        ok: 0,
        scheduled: 0,
      })
    expect(watch.observe(draining(1000))).toEqual({})
    expect(watch.current).toBeNull()
    watch.observe(window(2000, 900, {}, 300))
    expect(watch.observe(draining(3000))).toEqual({})
    expect(watch.current?.rate).toBe(900)
    const idle = window(4000, 0, {latencyMs: {count: 0, maxMs: 0, p50Ms: 0, p95Ms: 0, p99Ms: 0}, scheduled: 0})
    expect(watch.observe(idle).recovered).toBe(4000)
  })

  it('leaves the warm-up after each change of rate unjudged, as bench leaves it out of a step', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO, tipAfter: 2, warmupWindows: 1})
    // The first window of the session (a thread just started) is slow, and so is the one after the change
    expect(watch.observe(window(1000, 100, {}, 400))).toEqual({})
    expect(watch.observe(window(2000, 100, {}, 400))).toEqual({})
    expect(watch.current).toBeNull()
    watch.observe(window(3000, 3000, {}, 400))
    watch.observe(window(4000, 3000, {}, 400))
    expect(watch.observe(window(5000, 3000, {}, 400)).tipped).toMatchObject({at: 3000, rate: 3000})
  })

  it('does not tip on one or two bad windows (the second after a rate change)', () => {
    const watch = new DegradationWatch({slo: DEFAULT_SLO})
    watch.observe(window(1000, 500, {}, 300))
    watch.observe(window(2000, 500, {}, 300))
    watch.observe(window(3000, 500))
    watch.observe(window(4000, 500, {}, 300))
    expect(watch.current).toBeNull()
  })
})
