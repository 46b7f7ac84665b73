import type {FastifyBaseLogger} from 'fastify'
import type {Bindings, ChildLoggerOptions, LevelWithSilentOrString} from 'pino'

type LogArguments = [obj: unknown, msg?: string, ...args: unknown[]]
type Level = 'debug' | 'error' | 'fatal' | 'info' | 'silent' | 'trace' | 'warn'

/**
 * The logger of one request (`request.log`), made on its first line. fastify gives every request a child of the
 * server's logger with its request id bound, and pino serialises a child's bindings when it makes it: several objects
 * and half a microsecond a request, for a logger most requests never use (past its budget the request log is a
 * count, not lines: request-log-sampler.ts). The lines it writes are the child's, request id and all.
 */
export class LazyRequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  /** The child's level: its own option, else the server logger's (what pino's child would answer). */
  get level(): LevelWithSilentOrString {
    return this.made?.level ?? this.options.level ?? this.parent.level
  }

  set level(level: LevelWithSilentOrString) {
    this.logger().level = level
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger().child(bindings, options)
  }

  debug(...args: LogArguments): void {
    this.write('debug', args)
  }

  error(...args: LogArguments): void {
    this.write('error', args)
  }

  fatal(...args: LogArguments): void {
    this.write('fatal', args)
  }

  info(...args: LogArguments): void {
    this.write('info', args)
  }

  silent(...args: LogArguments): void {
    this.write('silent', args)
  }

  trace(...args: LogArguments): void {
    this.write('trace', args)
  }

  warn(...args: LogArguments): void {
    this.write('warn', args)
  }

  private logger(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options))
  }

  private write(level: Level, args: LogArguments): void {
    const logger = this.logger()
    logger[level](...args)
  }
}

/** fastify's `childLoggerFactory`: each request's logger made on its first line (LazyRequestLogger). */
export function lazyChildLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyRequestLogger(logger, bindings, options)
}
