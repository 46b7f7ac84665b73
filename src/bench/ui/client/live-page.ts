import uPlot from 'uplot'

import {positionOf, rateAt, SLIDER_STEPS} from './rate-scale.js'
import {
  API,
  type Device,
  type WireConfig,
  type WireEvent,
  type WireGauges,
  type WireKnee,
  type WireMarker,
  type WireSnapshot,
  type WireState,
  type WireSweepStep,
  type WireWindow,
} from './wire.js'

/**
 * The page of `mlship bench --ui`: follows the session on one Server-Sent Events stream, draws the last minutes with
 * uPlot, and sends the controls' changes as small JSON POSTs. Everything a test or a script reads carries a
 * data-testid.
 */

/** The charts show at most this much of the past, and at least MIN_VISIBLE_S (so a young session is not a sliver). */
const VISIBLE_S = 5 * 60
const MIN_VISIBLE_S = 60

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the element it expects
const byTestId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const element = document.querySelector<T>(`[data-testid="${id}"]`)
  if (!element) throw new Error(`the page has no [data-testid="${id}"]`)
  return element
}

const fmtRps = (x: number): string =>
  x >= 100 ? Math.round(x).toLocaleString('en-US') : String(Math.round(x * 10) / 10)
const fmtMs = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
const fmtPct = (x: number): string => (x === 0 ? '0%' : `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`)
const fmtBytes = (x: number): string => `${(x / 1024 / 1024).toFixed(0)} MiB`
const orDash = <T>(x: T | null | undefined, format: (v: T) => string): string =>
  x === null || x === undefined ? '–' : format(x)

interface Series {
  t: number[]
  p50: Array<number | null>
  p95: Array<number | null>
  p99: Array<number | null>
  rate: number[]
  offered: number[]
  achieved: number[]
  errors: number[]
  shed: number[]
  queue: Array<number | null>
  inFlight: Array<number | null>
  batch: Array<number | null>
}

const emptySeries = (): Series => ({
  achieved: [],
  batch: [],
  errors: [],
  inFlight: [],
  offered: [],
  p50: [],
  p95: [],
  p99: [],
  queue: [],
  rate: [],
  shed: [],
  t: [],
})

class LivePage {
  private config: WireConfig | undefined
  private state: WireState | undefined
  private series = emptySeries()
  private markers: WireMarker[] = []
  private knees: Partial<Record<Device, WireKnee>> = {}
  private sweep: WireSweepStep[] = []
  private charts: uPlot[] = []
  private pendingRate: number | undefined
  private rateTimer: number | undefined
  private redrawQueued = false

  private readonly slider = byTestId<HTMLInputElement>('rate')
  private readonly numberBox = byTestId<HTMLInputElement>('rate-number')

  start(): void {
    this.slider.max = String(SLIDER_STEPS)
    this.slider.addEventListener('input', () => this.rateFromSlider(false))
    this.slider.addEventListener('change', () => this.rateFromSlider(true))
    this.numberBox.addEventListener('change', () => {
      const rate = Math.round(Number(this.numberBox.value))
      if (!Number.isFinite(rate) || !this.config) return
      const clamped = Math.max(0, Math.min(this.config.maxRate, rate))
      this.numberBox.value = String(clamped)
      this.slider.value = String(positionOf(clamped, this.config.maxRate))
      this.sendRate(clamped, true)
    })
    for (const device of ['cpu', 'gpu'] as const) {
      byTestId(`device-${device}`).addEventListener('click', () => void this.post(API.device, {device}))
    }
    byTestId('find-knee').addEventListener('click', () => void this.post(API.findKnee, {}))
    window.addEventListener('resize', () => this.resizeCharts())

    const events = new EventSource(API.events)
    events.addEventListener('message', (message: MessageEvent<string>) => {
      this.receive(JSON.parse(message.data) as WireEvent)
    })
    events.addEventListener('open', () => this.connection('live'))
    events.addEventListener('error', () => {
      if (this.state?.stopped) {
        events.close()
        this.connection('stopped')
      } else this.connection('reconnecting')
    })
  }

  private receive(event: WireEvent): void {
    switch (event.type) {
      case 'snapshot': {
        this.snapshot(event)
        break
      }
      case 'window': {
        this.addWindow(event.window)
        this.readouts(event.window)
        this.queueRedraw()
        break
      }
      case 'gauges': {
        this.addGauges(event.gauges)
        this.gaugeReadouts(event.gauges)
        this.queueRedraw()
        break
      }
      case 'state': {
        this.applyState(event.state)
        break
      }
      case 'marker': {
        this.markers.push(event.marker)
        this.renderMarkers()
        this.queueRedraw()
        break
      }
      case 'sweep-step': {
        this.sweep[event.step.index] = event.step
        this.renderSweep()
        break
      }
      case 'knee': {
        if (event.knee) this.knees[event.device] = event.knee
        this.renderSweep(event.error)
        this.queueRedraw()
        break
      }
      case 'failure': {
        this.banner('failure', event.message, 'bad')
        break
      }
      case 'bye': {
        if (this.state) this.applyState({...this.state, stopped: true})
        this.connection('stopped')
        break
      }
    }
  }

  private snapshot(snapshot: WireSnapshot): void {
    this.config = snapshot.config
    this.markers = snapshot.markers
    this.knees = snapshot.knees
    this.sweep = snapshot.sweep
    this.series = emptySeries()
    for (const tick of snapshot.history) {
      this.addWindow(tick.window)
      if (tick.gauges) this.addGauges(tick.gauges)
    }
    this.describeTarget(snapshot.config)
    this.applyState(snapshot.state)
    const last = snapshot.history.at(-1)
    if (last) {
      this.readouts(last.window)
      if (last.gauges) this.gaugeReadouts(last.gauges)
    }
    this.renderMarkers()
    this.renderSweep()
    this.buildCharts()
  }

  private describeTarget(config: WireConfig): void {
    const slo = `SLO: p99 < ${config.slo.p99Ms} ms, errors < ${config.slo.maxErrorRate * 100}%, achieved ≥ ${
      config.slo.minAchievedRatio * 100
    }% of offered`
    byTestId('target').textContent =
      `${config.target.method} to the ${config.target.kind} target · payload: ${config.payload.source} · ${slo}`
    this.numberBox.max = String(config.maxRate)
    byTestId('rate-max').textContent = `${fmtRps(config.maxRate)} req/s`
    for (const device of ['cpu', 'gpu'] as const) {
      const button = byTestId<HTMLButtonElement>(`device-${device}`)
      const state = config.devices[device]
      button.disabled = !state.available
      button.title = state.available
        ? `${device.toUpperCase()}${state.executionProvider ? `: ${state.executionProvider}` : ''}, kept warm`
        : (state.reason ?? '')
    }
    const gpu = config.devices.gpu
    byTestId('gpu-reason').textContent = gpu.available
      ? `GPU server warm${gpu.executionProvider ? ` (${gpu.executionProvider})` : ''}: switching is instant.`
      : `GPU unavailable: ${gpu.reason ?? 'unknown reason'}`
    if (config.target.kind === 'local') {
      byTestId('cpu-note').textContent = '(this process: server, generator and page share it)'
    }
  }

  private applyState(state: WireState): void {
    const previous = this.state
    this.state = state
    const config = this.config
    if (!config) return
    const editing = document.activeElement === this.slider || document.activeElement === this.numberBox
    if (!editing || state.sweeping || previous?.sweeping) {
      this.slider.value = String(positionOf(state.rate, config.maxRate))
      this.numberBox.value = String(state.rate)
    }
    const locked = state.sweeping || state.stopped
    this.slider.disabled = locked
    this.numberBox.disabled = locked
    for (const device of ['cpu', 'gpu'] as const) {
      const button = byTestId<HTMLButtonElement>(`device-${device}`)
      button.setAttribute('aria-pressed', String(state.device === device))
      button.disabled = locked || !config.devices[device].available
    }
    const knee = byTestId<HTMLButtonElement>('find-knee')
    knee.disabled = locked
    knee.textContent = state.sweeping ? 'Finding the knee…' : 'Find the knee'

    if (state.degradation) {
      const banner = this.banner('degraded', state.degradation.headline, 'bad')
      banner.dataset.limit = state.degradation.limit
      banner.dataset.rate = String(state.degradation.rate)
      banner.title = state.degradation.reasons.join('; ')
    } else this.removeBanner('degraded')
    if (state.generatorLimited && !state.degradation) {
      this.banner(
        'generator-limited',
        'The load generator cannot keep its schedule at this rate (requests go out late): what the charts show now ' +
          'measures the generator, or a CPU it shares with the server, not the server alone.',
        'warn',
      )
    } else this.removeBanner('generator-limited')
    byTestId('gauges-unavailable').textContent = state.gaugesUnavailable ?? ''
    if (state.stopped) this.connection('stopped')
  }

  private connection(status: 'live' | 'reconnecting' | 'stopped'): void {
    const element = byTestId('connection')
    element.dataset.status = status
    element.textContent =
      status === 'live' ? '● live' : status === 'stopped' ? '■ stopped (the session has ended)' : '… reconnecting'
    if (status === 'stopped') {
      for (const id of ['rate', 'rate-number', 'device-cpu', 'device-gpu', 'find-knee'])
        byTestId<HTMLInputElement>(id).disabled = true
    }
  }

  private banner(id: string, text: string, tone: 'bad' | 'warn'): HTMLElement {
    let element = document.querySelector<HTMLElement>(`[data-testid="${id}"]`)
    if (!element) {
      element = document.createElement('div')
      element.dataset.testid = id
      element.className = `banner ${tone}`
      element.setAttribute('role', tone === 'bad' ? 'alert' : 'status')
      byTestId('banners').append(element)
    }
    element.textContent = text
    return element
  }

  private removeBanner(id: string): void {
    document.querySelector(`[data-testid="${id}"]`)?.remove()
  }

  private rateFromSlider(final: boolean): void {
    if (!this.config) return
    const rate = rateAt(Number(this.slider.value), this.config.maxRate)
    this.numberBox.value = String(rate)
    this.sendRate(rate, final)
  }

  /** While the slider moves, at most one change every 150 ms goes out; the last one always does. */
  private sendRate(rate: number, now: boolean): void {
    this.pendingRate = rate
    if (now) {
      window.clearTimeout(this.rateTimer)
      this.rateTimer = undefined
      this.flushRate()
      return
    }
    this.rateTimer ??= window.setTimeout(() => {
      this.rateTimer = undefined
      this.flushRate()
    }, 150)
  }

  private flushRate(): void {
    if (this.pendingRate === undefined) return
    const rate = this.pendingRate
    this.pendingRate = undefined
    void this.post(API.rate, {rate})
  }

  private async post(path: string, body: unknown): Promise<void> {
    try {
      const response = await fetch(path, {
        body: JSON.stringify(body),
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
      if (!response.ok) {
        const answer = (await response.json().catch(() => ({}))) as {error?: string}
        this.banner('control-error', answer.error ?? `${path}: ${response.status}`, 'warn')
      } else this.removeBanner('control-error')
    } catch (error) {
      this.banner('control-error', `${path}: ${String(error)}`, 'warn')
    }
  }

  private addWindow(window: WireWindow): void {
    const s = this.series
    const positive = (x: number) => (window.latencyMs.count > 0 && x > 0 ? x : null)
    s.t.push(window.at / 1000)
    s.p50.push(positive(window.latencyMs.p50Ms))
    s.p95.push(positive(window.latencyMs.p95Ms))
    s.p99.push(positive(window.latencyMs.p99Ms))
    s.rate.push(window.rate)
    s.offered.push(window.offeredRps)
    s.achieved.push(window.achievedRps)
    s.errors.push(window.errorRate * 100)
    s.shed.push(window.shedRate * 100)
    s.queue.push(null)
    s.inFlight.push(null)
    s.batch.push(null)
    // Keep a little more than what is visible, so the left edge does not flicker.
    const horizon = window.at / 1000 - VISIBLE_S - 10
    let drop = 0
    while (drop < s.t.length && s.t[drop]! < horizon) drop++
    if (drop > 0) for (const values of Object.values(s) as unknown[][]) values.splice(0, drop)
  }

  /** Gauges are scraped just after their window: they belong to the latest one. */
  private addGauges(gauges: WireGauges): void {
    const i = this.series.t.length - 1
    if (i < 0) return
    this.series.queue[i] = gauges.queueDepth
    this.series.inFlight[i] = gauges.inFlight
    this.series.batch[i] = gauges.batchRows
  }

  private readouts(window: WireWindow): void {
    const set = (id: string, text: string) => (byTestId(id).textContent = text)
    set('offered-rps', fmtRps(window.rate))
    set('sent-rps', `sent ${fmtRps(window.offeredRps)}/s`)
    set('achieved-rps', fmtRps(window.achievedRps))
    set('p50-ms', window.latencyMs.count > 0 ? fmtMs(window.latencyMs.p50Ms) : '–')
    set('p95-ms', window.latencyMs.count > 0 ? fmtMs(window.latencyMs.p95Ms) : '–')
    set('p99-ms', window.latencyMs.count > 0 ? fmtMs(window.latencyMs.p99Ms) : '–')
    set('error-rate', fmtPct(window.errorRate))
    set('shed-rate', fmtPct(window.shedRate))
    set('client-in-flight', String(window.inFlight))
    const slo = this.config?.slo
    byTestId('p99-ms')
      .closest('.readout')
      ?.classList.toggle('over', Boolean(slo && window.latencyMs.p99Ms >= slo.p99Ms))
    byTestId('error-rate')
      .closest('.readout')
      ?.classList.toggle('over', Boolean(slo && window.errors > 0 && window.errorRate >= slo.maxErrorRate))
    const g = window.generator
    byTestId('generator').textContent =
      `late sends ${fmtPct(g.lateFraction)} (over ${g.lateThresholdMs} ms) · send lag p99 ${fmtMs(g.sendLagP99Ms)} ms · ` +
      `event-loop delay p99 ${fmtMs(g.eventLoopDelayP99Ms)} ms${g.limited ? ' · LIMITED: the generator is the bottleneck' : ''}`
    byTestId('generator').classList.toggle('over', g.limited)
  }

  private gaugeReadouts(gauges: WireGauges): void {
    const set = (id: string, text: string) => (byTestId(id).textContent = text)
    set('gauge-queue-depth', orDash(gauges.queueDepth, String))
    set('gauge-in-flight', orDash(gauges.inFlight, String))
    set(
      'gauge-batch-size',
      gauges.batchRows === null
        ? 'idle'
        : `${gauges.batchRows} rows${gauges.batchRequests === null ? '' : ` · ${gauges.batchRequests} req`}`,
    )
    set(
      'gauge-cpu',
      orDash(gauges.cpuPercent, (x) => `${Math.round(x)}%`),
    )
    set('gauge-memory', orDash(gauges.memoryBytes, fmtBytes))
  }

  private renderMarkers(): void {
    const list = byTestId('markers')
    list.replaceChildren(
      ...this.markers.map((marker) => {
        const item = document.createElement('li')
        item.dataset.kind = marker.kind
        if (marker.limit) item.dataset.limit = marker.limit
        const time = document.createElement('time')
        time.textContent = new Date(marker.at).toLocaleTimeString()
        item.append(time, ` ${marker.label}`)
        return item
      }),
    )
  }

  private renderSweep(error?: string): void {
    const rows = this.sweep.filter(Boolean).map((step) => {
      const row = document.createElement('tr')
      const verdict =
        step.verdict === undefined ? 'running…' : step.verdict === 'ok' ? 'ok' : step.limited ? 'generator' : 'DEGRADED'
      row.className = step.verdict === 'degraded' ? 'bad' : ''
      for (const text of [
        `${fmtRps(step.rate)}/s`,
        step.achievedRps === undefined ? '' : `${fmtRps(step.achievedRps)}/s`,
        step.p99Ms === undefined ? '' : `${fmtMs(step.p99Ms)} ms`,
        verdict,
      ]) {
        const cell = document.createElement('td')
        cell.textContent = text
        row.append(cell)
      }
      if (step.reasons?.length) row.title = step.reasons.join('; ')
      return row
    })
    byTestId('sweep-steps').replaceChildren(...rows)
    const device = this.state?.device ?? 'cpu'
    const knee = this.knees[device]
    byTestId('knee').textContent = error
      ? `The sweep stopped: ${error}`
      : knee
        ? knee.note
        : this.state?.sweeping
          ? 'Sweeping: the rate doubles until a step degrades, then a bisection refines the knee.'
          : ''
  }

  private queueRedraw(): void {
    if (this.redrawQueued) return
    this.redrawQueued = true
    requestAnimationFrame(() => {
      this.redrawQueued = false
      this.redraw()
    })
  }

  private redraw(): void {
    if (this.charts.length === 0) return
    const s = this.series
    const data: uPlot.AlignedData[] = [
      [s.t, s.p50, s.p95, s.p99],
      [s.t, s.rate, s.offered, s.achieved],
      [s.t, s.errors, s.shed],
      [s.t, s.queue, s.inFlight, s.batch],
    ]
    const end = s.t.at(-1) ?? Date.now() / 1000
    const start = Math.min(end - MIN_VISIBLE_S, Math.max(s.t[0] ?? end, end - VISIBLE_S))
    this.charts.forEach((chart, i) => {
      chart.batch(() => {
        chart.setData(data[i]!, false)
        chart.setScale('x', {max: end, min: start})
      })
      chart.root.parentElement!.dataset.points = String(s.t.length)
    })
  }

  private buildCharts(): void {
    for (const chart of this.charts) chart.destroy()
    const config = this.config!
    const width = this.chartWidth()
    const common = (title: string, line: 'slo' | 'knee' | null = null): Partial<uPlot.Options> => ({
      cursor: {drag: {x: false, y: false}},
      height: 230,
      hooks: {draw: [(u: uPlot) => this.drawMarkers(u, line)]},
      legend: {live: false},
      title,
      width,
    })
    const x = {time: true}
    const line = (label: string, stroke: string, extra: Partial<uPlot.Series> = {}): uPlot.Series => ({
      label,
      points: {show: false},
      spanGaps: false,
      stroke,
      width: 2,
      ...extra,
    })
    const latency = new uPlot(
      {
        ...common('Latency from scheduled send (ms, log scale)', 'slo'),
        axes: [
          {},
          {
            label: 'ms',
            size: 60,
            // uPlot passes null for the ticks it leaves unlabelled on a log scale (its types say number)
            values: (_u, values) => (values as Array<number | null>).map((v) => (v === null ? '' : fmtMs(v))),
          },
        ],
        scales: {
          x,
          y: {
            // Logarithmic. uPlot declares Distr a const enum, which esbuild cannot inline from a .d.ts: its number.
            // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
            distr: 3,
            range: (_u, min, max) => {
              const lo = Math.min(min || config.slo.p99Ms, config.slo.p99Ms / 10)
              const hi = Math.max(max || config.slo.p99Ms, config.slo.p99Ms * 2)
              return [10 ** Math.floor(Math.log10(Math.max(0.01, lo))), 10 ** Math.ceil(Math.log10(hi))]
            },
          },
        },
        series: [{}, line('p50', '#2ca02c'), line('p95', '#ff7f0e'), line('p99', '#d62728')],
      } as uPlot.Options,
      [[], [], [], []],
      byTestId('chart-latency'),
    )
    const throughput = new uPlot(
      {
        ...common('Throughput (req/s): offered against achieved', 'knee'),
        axes: [{}, {label: 'req/s', size: 60}],
        scales: {x, y: {range: (_u, _min, max) => [0, Math.max(10, max * 1.1)]}},
        series: [
          {},
          line('offered (slider)', '#1f77b4', {dash: [6, 4]}),
          line('sent', '#9ecae1', {width: 1}),
          line('achieved (2xx)', '#2ca02c'),
        ],
      } as uPlot.Options,
      [[], [], [], []],
      byTestId('chart-throughput'),
    )
    const errors = new uPlot(
      {
        ...common('Errors and 503 refusals (% of requests ended)'),
        axes: [{}, {label: '%', size: 60}],
        scales: {x, y: {range: (_u, _min, max) => [0, Math.max(1, max * 1.1)]}},
        series: [{}, line('errors, all kinds', '#d62728'), line('503 refusals (load shed)', '#9467bd')],
      } as uPlot.Options,
      [[], [], []],
      byTestId('chart-errors'),
    )
    const server = new uPlot(
      {
        ...common("The server's own gauges (/metrics)"),
        axes: [{}, {size: 60}],
        scales: {x, y: {range: (_u, _min, max) => [0, Math.max(4, max * 1.1)]}},
        series: [
          {},
          line('queue depth', '#8c564b'),
          line('in flight', '#e377c2'),
          line('rows per inference', '#17becf', {width: 1.5}),
        ],
      } as uPlot.Options,
      [[], [], [], []],
      byTestId('chart-server'),
    )
    this.charts = [latency, throughput, errors, server]
    this.redraw()
  }

  /** Markers on every chart: where the load tipped into degradation (and recovered), and device switches. */
  private drawMarkers(u: uPlot, line: 'slo' | 'knee' | null): void {
    const ctx = u.ctx
    const {height, left, top, width} = u.bbox
    const ratio = window.devicePixelRatio || 1
    ctx.save()
    // uPlot leaves the context as its axes last set it.
    ctx.textAlign = 'left'
    ctx.textBaseline = 'alphabetic'
    ctx.font = `${11 * ratio}px system-ui, sans-serif`
    for (const [i, marker] of this.markers.entries()) {
      const xPos = u.valToPos(marker.at / 1000, 'x', true)
      if (xPos < left || xPos > left + width) continue
      const color =
        marker.kind === 'degraded'
          ? marker.limit === 'generator'
            ? '#c77700'
            : '#b00020'
          : marker.kind === 'recovered'
            ? '#2ca02c'
            : '#555'
      ctx.strokeStyle = color
      ctx.fillStyle = color
      ctx.lineWidth = (marker.kind === 'degraded' ? 2 : 1) * ratio
      ctx.setLineDash(marker.kind === 'degraded' ? [] : [4 * ratio, 4 * ratio])
      ctx.beginPath()
      ctx.moveTo(xPos, top)
      ctx.lineTo(xPos, top + height)
      ctx.stroke()
      const label =
        marker.kind === 'degraded'
          ? `tipped at ${fmtRps(marker.rate ?? 0)}/s${marker.limit === 'generator' ? ' (generator)' : ''}`
          : marker.kind === 'recovered'
            ? 'healthy'
            : marker.label
      // Near the right edge (where the present is) the label goes to the left of its line.
      const textWidth = ctx.measureText(label).width
      const flip = xPos + 4 * ratio + textWidth > left + width
      // Markers close together stagger their labels over three rows.
      ctx.fillText(label, flip ? xPos - 4 * ratio - textWidth : xPos + 4 * ratio, top + (12 + (i % 3) * 13) * ratio)
    }
    const knee = this.knees[this.state?.device ?? 'cpu']?.rps
    const slo = this.config?.slo.p99Ms
    if (line === 'knee' && knee) this.horizontal(u, knee, `knee ${fmtRps(knee)} req/s`, '#444', [2, 3])
    if (line === 'slo' && slo) this.horizontal(u, slo, `SLO: p99 < ${fmtMs(slo)} ms`, '#b00020', [8, 4])
    ctx.restore()
  }

  private horizontal(u: uPlot, value: number, label: string, color: string, dash: number[]): void {
    const ctx = u.ctx
    const {height, left, top, width} = u.bbox
    const ratio = window.devicePixelRatio || 1
    const yPos = u.valToPos(value, 'y', true)
    if (yPos < top || yPos > top + height) return
    ctx.strokeStyle = color
    ctx.fillStyle = color
    ctx.lineWidth = 1.5 * ratio
    ctx.setLineDash(dash.map((d) => d * ratio))
    ctx.beginPath()
    ctx.moveTo(left, yPos)
    ctx.lineTo(left + width, yPos)
    ctx.stroke()
    ctx.fillText(label, left + 4 * ratio, yPos - 4 * ratio)
  }

  private chartWidth(): number {
    const figure = byTestId('chart-latency').parentElement!
    return Math.max(320, Math.floor(figure.clientWidth) - 2)
  }

  private resizeCharts(): void {
    const width = this.chartWidth()
    for (const chart of this.charts) chart.setSize({height: 230, width})
  }
}

new LivePage().start()
