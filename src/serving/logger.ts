import pino, {type Logger} from 'pino'

/**
 * Lines are held until this many bytes have collected (or LOG_FLUSH_MS has passed), then written together: a server
 * answering thousands of requests a second writes one line each, and one async write per line (a thread-pool hop
 * and a syscall) cost more than pino's formatting of it, most of all with cluster processes writing to one file.
 */
export const LOG_BUFFER_BYTES = 3072
/**
 * One write holds at most this (whole lines; a longer line goes alone): PIPE_BUF, the most a pipe (`docker logs`)
 * writes at once, so the lines of the cluster's processes, sharing stdout, never interleave within a write.
 */
export const LOG_WRITE_BYTES = 4096
/** How late a line may reach stdout at a quiet moment (a request every now and then, a start-up line). */
export const LOG_FLUSH_MS = 100

/**
 * JSON lines on stdout (or the file descriptor `fd`), written asynchronously and together (LOG_BUFFER_BYTES,
 * LOG_FLUSH_MS); pino writes what is left synchronously at exit, so the last lines of a process that stops or fails
 * are not lost.
 */
export function createLogger(level: string, fd = 1): Logger {
  return pino(
    {base: undefined, level, timestamp: isoTimeEachMillisecond()},
    pino.destination({
      dest: fd,
      maxWrite: LOG_WRITE_BYTES,
      minLength: LOG_BUFFER_BYTES,
      periodicFlush: LOG_FLUSH_MS,
      sync: false,
    }),
  )
}

/**
 * pino's isoTime (`,"time":"2026-01-01T00:00:00.000Z"`), formatted once per millisecond: under load many lines share
 * a millisecond, and a Date's toISOString is a good part of a line's cost.
 */
export function isoTimeEachMillisecond(now: () => number = Date.now): () => string {
  let last = Number.NaN
  let text = ''
  return () => {
    const ms = now()
    if (ms !== last) {
      last = ms
      text = `,"time":"${new Date(ms).toISOString()}"`
    }
    return text
  }
}
