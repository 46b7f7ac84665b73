/** A request at least this slow is always logged, whatever the budget: a slow request is what an operator looks for. */
export const SLOW_REQUEST_MS = 250

/** The span over which the budget of request lines is counted, and the summary of the lines left out is written. */
export const SAMPLING_WINDOW_MS = 1000

/** The default budget of successful-request lines per second and per process (serving.request_log_per_second). */
export const DEFAULT_REQUEST_LOG_PER_SECOND = 200

export interface RequestLogSamplerOptions {
  /** Lines of successful requests each process writes per second at most; 'all' writes every one. */
  perSecond: number | 'all'
  /** Writes the summary of the lines left out in the window that just ended. */
  summary: (notLogged: number, perSecond: number) => void
  now?: () => number
  setTimer?: (run: () => void, ms: number) => {unref?(): unknown}
  clearTimer?: (timer: {unref?(): unknown}) => void
}

/**
 * Decides which successful requests get their log line. At a few thousand requests a second one JSON line each is a
 * good part of a request's CPU (issue 19: some 3-5 us of ~35); past the budget the lines are counted instead, and one
 * line a second says how many were left out. Errors and slow requests are the caller's to log always.
 */
export class RequestLogSampler {
  private readonly now: () => number
  private readonly setTimer: NonNullable<RequestLogSamplerOptions['setTimer']>
  private readonly clearTimer: NonNullable<RequestLogSamplerOptions['clearTimer']>
  private windowStart = Number.NEGATIVE_INFINITY
  private logged = 0
  private notLogged = 0
  private timer: {unref?(): unknown} | undefined

  constructor(private readonly options: RequestLogSamplerOptions) {
    this.now = options.now ?? (() => Date.now())
    this.setTimer = options.setTimer ?? ((run, ms) => setTimeout(run, ms))
    this.clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer as NodeJS.Timeout))
  }

  /** Whether the line of this successful request is to be written (else it is counted). */
  admit(): boolean {
    const {perSecond} = this.options
    if (perSecond === 'all') return true
    const now = this.now()
    // A summary timer late behind a busy event loop: the window ends here, before this request is counted in it.
    if (now >= this.windowStart + SAMPLING_WINDOW_MS) {
      this.flush()
      this.windowStart = now
    }
    if (this.logged < perSecond) {
      this.logged++
      return true
    }
    this.notLogged++
    if (!this.timer) {
      this.timer = this.setTimer(
        () => {
          this.timer = undefined
          this.flush()
        },
        this.windowStart + SAMPLING_WINDOW_MS - now,
      )
      this.timer.unref?.()
    }
    return false
  }

  /** Writes the summary of the lines left out so far, if any, and starts a new window (at close, or by the timer). */
  flush(): void {
    if (this.timer) {
      this.clearTimer(this.timer)
      this.timer = undefined
    }
    const {notLogged} = this
    this.logged = 0
    this.notLogged = 0
    this.windowStart = Number.NEGATIVE_INFINITY
    if (notLogged > 0 && this.options.perSecond !== 'all') this.options.summary(notLogged, this.options.perSecond)
  }
}
