import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

const root = path.resolve(import.meta.dirname, '../..')

/** How late the server's event loop ran its timers (perf_hooks.monitorEventLoopDelay): how long it was blocked. */
export interface LoopDelay {
  p99_ms: number
  max_ms: number
}

export interface ChildServer {
  url: string
  child: ChildProcess
  /** Stops the server (SIGTERM, a graceful close); resolves to its event-loop delay over its life, where measured. */
  stop(): Promise<LoopDelay | undefined>
}

export interface ChildServerOptions {
  dir: string
  /** More options of startServer, as JavaScript source (`largeBodies: false`). */
  startOptions?: string
  /** Measure the server's event-loop delay (monitorEventLoopDelay, 5 ms resolution); stop() resolves to it. */
  loopDelay?: boolean
}

/**
 * The serving app (src/serving/server.ts's startServer, no log, no process metrics) in a child process, as
 * `serve --local` runs it: its own event loop and decode threads, apart from the script's clients and probes.
 */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const extra = options.startOptions ? `, ${options.startOptions}` : ''
  const script = `
    import {startServer} from ${JSON.stringify(path.join(root, 'src/serving/server.ts'))}
    const server = await startServer({dir: ${JSON.stringify(options.dir)}, host: '127.0.0.1', port: 0, logger: false,
      pipeline: {processMetrics: false}${extra}})
    const {monitorEventLoopDelay} = await import('node:perf_hooks')
    const delay = ${options.loopDelay ? 'monitorEventLoopDelay({resolution: 5})' : 'undefined'}
    delay?.enable()
    process.stdout.write(server.url + '\\n')
    process.on('SIGTERM', () => {
      delay?.disable()
      const ms = (ns) => Math.round(ns / 1e4) / 100
      if (delay) process.stdout.write(JSON.stringify({p99_ms: ms(delay.percentile(99)), max_ms: ms(delay.max)}) + '\\n')
      void server.close().then(() => process.exit(0))
    })`
  // A file, not --input-type=module -e: worker threads inherit the flag, and their bootstrap is not a module.
  const scriptDir = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-server-'))
  const file = path.join(scriptDir, 'server.mts')
  await writeFile(file, script)
  const child = spawn(process.execPath, ['--import', 'tsx', file], {cwd: root, stdio: ['ignore', 'pipe', 'inherit']})
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (out.includes('\n')) resolve(out.split('\n')[0]!)
    })
    child.once('exit', (code) => reject(new Error(`the server exited with ${code} before it listened`)))
  })
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      await rm(scriptDir, {force: true, recursive: true})
      const line = out.split('\n')[1]
      return line ? (JSON.parse(line) as LoopDelay) : undefined
    },
    url,
  }
}

/** What bench/peers/health-probe.mjs measured: GET /health every 5 ms, one at a time, from its own process. */
export interface HealthProbe {
  n: number
  p50_ms: number
  p99_ms: number
  max_ms: number
  failed: number
}

/** Probes `url`/health for `seconds` from another process (apart from the load): resolves when it is done. */
export async function probeHealth(url: string, seconds: number): Promise<HealthProbe> {
  const {stdout} = await promisify(execFile)(process.execPath, [
    path.join(root, 'bench/peers/health-probe.mjs'),
    `${url}/health`,
    String(seconds),
  ])
  return JSON.parse(stdout) as HealthProbe
}
