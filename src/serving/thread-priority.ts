import os from 'node:os'

/**
 * The nice value of the server's helper threads (inference, decoding large bodies): below the HTTP thread's, so that
 * when they saturate the CPUs the event loop still reads requests, answers /health, refuses what the queue cannot take
 * and writes answers at once, instead of waiting for its turn behind them. They get all the CPU the event loop leaves.
 */
export const HELPER_THREAD_NICE = 5

/**
 * On Linux the nice value belongs to each thread and setpriority(0) means the calling one, so this lowers the calling
 * worker thread (and the threads it starts, which inherit it) and not the event loop. Never fatal: some sandboxes
 * forbid it, and the server works without it.
 */
export function lowerThreadPriority(nice = HELPER_THREAD_NICE): void {
  try {
    if (os.getPriority() < nice) os.setPriority(nice)
  } catch {
    // Not allowed here: the thread keeps the event loop's priority.
  }
}
