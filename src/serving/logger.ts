import pino, {type Logger} from 'pino'

/**
 * JSON lines on stdout (or `fd`). Written asynchronously: lines that come while a write is under way go out together
 * in one write, so a busy server makes a few syscalls instead of one per request; pino flushes what is left at exit.
 */
export function createLogger(level: string, fd: 1 | 2 = 1): Logger {
  return pino(
    {base: undefined, level, timestamp: pino.stdTimeFunctions.isoTime},
    pino.destination({dest: fd, sync: false}),
  )
}
