/**
 * What the page of `bench --ui` receives on its event stream and sends to the controls: the one contract between the
 * session (Node) and the page (the browser). The session's own types are checked against these where it sends them.
 */
export type Device = 'cpu' | 'gpu'

export interface WireWindow {
  at: number
  durationMs: number
  rate: number
  target: string | null
  offeredRps: number
  achievedRps: number
  throughputRps: number
  scheduled: number
  errors: number
  shed: number
  errorRate: number
  shedRate: number
  inFlight: number
  latencyMs: {count: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number}
  generator: {
    late: number
    lateFraction: number
    lateThresholdMs: number
    sendLagP99Ms: number
    eventLoopDelayP99Ms: number
    limited: boolean
  }
}

export interface WireGauges {
  at: number
  queueDepth: number | null
  inFlight: number | null
  batchRows: number | null
  batchRequests: number | null
  cpuPercent: number | null
  memoryBytes: number | null
}

export interface WireDegradation {
  at: number
  rate: number
  reasons: string[]
  limit: 'server' | 'generator'
  headline: string
}

export interface WireState {
  rate: number
  device: Device
  sweeping: boolean
  degradation: WireDegradation | null
  generatorLimited: boolean
  gaugesUnavailable: string | null
  stopped: boolean
}

export interface WireDeviceState {
  available: boolean
  reason: string | null
  executionProvider: string | null
  timeToReadyMs: number | null
}

export interface WireConfig {
  slo: {p99Ms: number; maxErrorRate: number; minAchievedRatio: number}
  maxRate: number
  windowMs: number
  historyMs: number
  target: {kind: string; method: string}
  payload: {source: string; bodies: number}
  devices: Record<Device, WireDeviceState>
  sweep: {startRate: number; maxRate: number; stepS: number}
}

export interface WireMarker {
  at: number
  kind: 'degraded' | 'recovered' | 'device'
  label: string
  limit?: 'server' | 'generator'
  /** The rate it tipped at (degraded markers). */
  rate?: number
}

export interface WireSweepStep {
  device: Device
  index: number
  rate: number
  verdict?: 'ok' | 'degraded'
  p99Ms?: number
  achievedRps?: number
  limited?: boolean
  reasons?: string[]
}

export interface WireKnee {
  rps: number | null
  firstDegradedRps: number | null
  limitedBy: string
  note: string
}

export interface WireSnapshot {
  type: 'snapshot'
  config: WireConfig
  state: WireState
  history: Array<{window: WireWindow; gauges?: WireGauges}>
  markers: WireMarker[]
  sweep: WireSweepStep[]
  knees: Partial<Record<Device, WireKnee>>
}

export type WireEvent =
  | WireSnapshot
  | {type: 'window'; window: WireWindow}
  | {type: 'gauges'; gauges: WireGauges}
  | {type: 'state'; state: WireState}
  | {type: 'marker'; marker: WireMarker}
  | {type: 'sweep-step'; step: WireSweepStep}
  | {type: 'knee'; device: Device; knee: WireKnee | null; error?: string}
  | {type: 'failure'; message: string}
  | {type: 'bye'}

/** The control endpoints (POST, JSON bodies). */
export const API = {
  device: '/api/device',
  events: '/events',
  findKnee: '/api/find-knee',
  rate: '/api/rate',
  report: '/api/report',
  snapshot: '/api/snapshot',
} as const
