import {describe, expect, it} from 'vitest'

import {
  type CapacitySources,
  type DelayHistogram,
  machineCapacitySources,
  machineIdleMs,
  ShadowBudget,
  shadowBudgets,
} from './shadow-budget.js'

/** A machine whose clock, CPU counters and event-loop delay the test moves by hand. */
class FakeMachine implements CapacitySources {
  time = 0
  cpuMs = 0
  idleMs: number | undefined = 0
  delayMs = 0

  now = () => this.time
  processCpuMs = () => this.cpuMs
  idleCpuMs = () => this.idleMs
  eventLoopDelayMs = () => this.delayMs

  /** `ms` pass; this process uses `busyCores` of them, the machine leaves `idleCores` idle. */
  advance(ms: number, busyCores: number, idleCores: number): void {
    this.time += ms
    this.cpuMs += busyCores * ms
    if (this.idleMs !== undefined) this.idleMs += idleCores * ms
  }
}

/** A budget on 2 cores, windows of 100 ms, half the spare time, no trickle within the test's span. */
function budget(machine: FakeMachine): ShadowBudget {
  return new ShadowBudget({cores: 2, share: 0.5, sources: machine, trickleMs: 60_000, windowMs: 100})
}

describe('ShadowBudget', () => {
  it('fills with half of the CPU time nobody used, and a copy spends what it took', () => {
    const machine = new FakeMachine()
    const shadow = budget(machine)
    // It starts full: one window's worth, half of 2 cores x 100 ms.
    expect(shadow.tokens).toBe(100)
    shadow.spend(100)
    expect(shadow.available()).toBe(false)
    // 100 ms: the process used 0.5 core, the machine left 1.5 idle: 150 ms spare, 75 for the shadow.
    machine.advance(100, 0.5, 1.5)
    expect(shadow.take()).toBe(true)
    expect(shadow.tokens).toBe(75)
    shadow.spend(80)
    expect(shadow.take()).toBe(false)
  })

  it('gets nothing at the knee, where this process and the machine leave no CPU idle', () => {
    const machine = new FakeMachine()
    const shadow = budget(machine)
    shadow.spend(shadow.tokens)
    for (let window = 0; window < 20; window++) {
      machine.advance(100, 1.9, 0.1)
      // The process leaves 0.1 core, the machine as much: 5 ms a window, and each copy costs 6.
      if (shadow.take()) shadow.spend(6)
    }
    expect(shadow.tokens).toBeLessThanOrEqual(5)
    let admitted = 0
    for (let window = 0; window < 20; window++) {
      machine.advance(100, 2, 0)
      if (shadow.take()) admitted++
    }
    expect(admitted).toBe(0)
  })

  it("counts the machine's other processes: idle cores of this process that the machine does not have are no spare", () => {
    const machine = new FakeMachine()
    const shadow = budget(machine)
    shadow.spend(shadow.tokens)
    // This process uses half a core, but a load generator beside it takes the rest of the machine.
    machine.advance(100, 0.5, 0)
    expect(shadow.available()).toBe(false)
    // Where the machine's idle time cannot be read, this process's own figures decide.
    machine.idleMs = undefined
    const blind = budget(machine)
    blind.spend(blind.tokens)
    machine.advance(100, 0.5, 0)
    expect(blind.take()).toBe(true)
  })

  it('never holds more than one window of spare time (an idle hour is no licence for a burst)', () => {
    const machine = new FakeMachine()
    const shadow = budget(machine)
    machine.advance(3_600_000, 0, 2)
    shadow.available()
    expect(shadow.tokens).toBe(100)
  })

  it('makes no copy while the event loop runs late, and copies again once it catches up', () => {
    const machine = new FakeMachine()
    const shadow = budget(machine)
    machine.delayMs = 25
    machine.advance(100, 0.2, 1.8)
    expect(shadow.take()).toBe(false)
    expect(shadow.tokens).toBeGreaterThan(0)
    machine.delayMs = 2
    machine.advance(100, 0.2, 1.8)
    expect(shadow.take()).toBe(true)
  })

  it('lets one copy a trickle interval through whatever the load, so a busy shadow still measures something', () => {
    const machine = new FakeMachine()
    const shadow = new ShadowBudget({cores: 2, sources: machine, trickleMs: 1000, windowMs: 100})
    shadow.spend(shadow.tokens)
    machine.delayMs = 50
    const admittedAt: number[] = []
    for (let tick = 0; tick < 300; tick++) {
      machine.advance(10, 2, 0)
      if (shadow.take()) admittedAt.push(machine.time)
    }
    expect(admittedAt).toEqual([1000, 2000, 3000])
  })

  it('reads a window only once it has passed', () => {
    const machine = new FakeMachine()
    let reads = 0
    const counting: CapacitySources = {
      eventLoopDelayMs: () => (reads++, 0),
      idleCpuMs: machine.idleCpuMs,
      now: machine.now,
      processCpuMs: machine.processCpuMs,
    }
    const shadow = new ShadowBudget({cores: 2, sources: counting, windowMs: 100})
    for (let tick = 0; tick < 10; tick++) {
      machine.time += 25
      shadow.available()
    }
    expect(reads).toBe(2)
  })
})

/** An event-loop delay histogram that records a timer every 10 ms, each `lateMs` late, until reset. */
class FakeDelayHistogram implements DelayHistogram {
  lateMs = 1
  private since = 0
  constructor(private readonly machine: FakeMachine) {}
  get count(): number {
    return Math.floor((this.machine.time - this.since) / 10)
  }
  percentile = () => (this.lateMs + 10) * 1e6
  reset = () => {
    this.since = this.machine.time
  }
  disable = () => {}
}

describe('several shadows', () => {
  it('all read the same event-loop delay in a window: the second budget does not find the histogram just reset', () => {
    const machine = new FakeMachine()
    const histogram = new FakeDelayHistogram(machine)
    const sources = machineCapacitySources({delay: histogram, now: machine.now, windowMs: 100})
    const [first, second] = shadowBudgets(2, {cores: 2, sources, trickleMs: 60_000, windowMs: 100})
    for (let window = 0; window < 5; window++) {
      machine.advance(100, 0.2, 1.8)
      expect(first!.take()).toBe(true)
      expect(second!.take()).toBe(true)
    }
    histogram.lateMs = 30
    machine.advance(100, 0.2, 1.8)
    expect(first!.take()).toBe(false)
    expect(second!.take()).toBe(false)
  })

  it('split one share of the spare CPU between them', () => {
    const machine = new FakeMachine()
    const budgets = shadowBudgets(2, {cores: 2, sources: machine, trickleMs: 60_000, windowMs: 100})
    for (const budget of budgets) budget.spend(budget.tokens)
    // 100 ms with 1.5 cores spare: a quarter of 150 ms for both shadows together.
    machine.advance(100, 0.5, 1.5)
    for (const budget of budgets) budget.available()
    expect(budgets.reduce((sum, budget) => sum + budget.tokens, 0)).toBeCloseTo(37.5)
    expect(shadowBudgets(1, {cores: 2, sources: machine})[0]!.tokens).toBe(125)
  })
})

describe('machineIdleMs', () => {
  it("reads idle and iowait of /proc/stat's first line, in hundredths of a second", () => {
    const stat = 'cpu  4705 356 584 3699176 23060 0 277 0 0 0\ncpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0\n'
    expect(machineIdleMs(() => stat)).toBe((3699176 + 23060) * 10)
    expect(machineIdleMs(() => 'intr 1 2 3')).toBeUndefined()
  })
})
