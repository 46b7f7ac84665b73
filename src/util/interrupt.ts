/** What onInterrupt listens on: `process`, or a test's own emitter. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown
  exit(code: number): unknown
}

export interface InterruptOptions {
  /** Told once, at the first signal: the drain starts (say so on stderr, stop the load, stop a container). */
  onFirst?: (signal: NodeJS.Signals) => void
  /**
   * The exit status of a second Ctrl-C while draining: 130 (128 + SIGINT, what a shell reports for a process Ctrl-C
   * killed), or false where a second Ctrl-C must not cut the drain short (a container that would be left behind).
   */
  secondExits?: number | false
  /** Signals that start the drain. Default SIGINT and SIGTERM. */
  signals?: NodeJS.Signals[]
  /** Default: process. */
  source?: SignalSource
}

export interface Interrupt {
  /** Aborted at the first signal. */
  readonly signal: AbortSignal
  /** The first signal's name, when it comes. */
  readonly received: Promise<NodeJS.Signals>
  /** Stops listening, to the first signal and the second alike: the default handling of signals is back. */
  dispose(): void
}

/**
 * "Ctrl-C once drains, twice exits": the first SIGINT or SIGTERM aborts `signal` (the work in hand ends and what it
 * started is stopped); a second SIGINT while that runs exits at once with status 130. Call `dispose()` when the drain
 * is over.
 */
export function onInterrupt(options: InterruptOptions = {}): Interrupt {
  const source = options.source ?? process
  const signals = options.signals ?? ['SIGINT', 'SIGTERM']
  const secondExits = options.secondExits ?? 130
  const controller = new AbortController()
  let resolveReceived!: (signal: NodeJS.Signals) => void
  const received = new Promise<NodeJS.Signals>((resolve) => {
    resolveReceived = resolve
  })
  const listener = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      if (signal === 'SIGINT' && secondExits !== false) source.exit(secondExits)
      return
    }
    controller.abort()
    resolveReceived(signal)
    options.onFirst?.(signal)
  }
  for (const signal of signals) source.on(signal, listener)
  return {
    dispose: () => {
      for (const signal of signals) source.off(signal, listener)
    },
    received,
    signal: controller.signal,
  }
}
