/**
 * The JSON-lines progress streams of the Engine API (/build, /images/create, /images/{name}/push). The engine
 * answers 200 and then reports a failure *inside* the stream as an `{error, errorDetail}` event; a client that only
 * waits for 'end' (testcontainers-node #89) reports success or a cause-less failure. Every event goes through here.
 */

export interface EngineStreamEvent {
  /** Build output ("Step 2/9 : COPY ...", " ---> Using cache"). */
  stream?: string
  /** Pull and push status ("Pushing", "Layer already exists", "Pushed"). */
  status?: string
  id?: string
  progress?: string
  progressDetail?: {current?: number; total?: number}
  error?: string
  errorDetail?: {code?: number; message?: string}
  /** Build result ({ID: "sha256:..."}) and push result ({Tag, Digest, Size}). */
  aux?: Record<string, unknown>
}

export class EngineStreamError extends Error {
  readonly event: EngineStreamEvent
  /** The events seen before the error, for context (e.g. the build step that failed). */
  readonly events: EngineStreamEvent[]

  constructor(event: EngineStreamEvent, events: EngineStreamEvent[]) {
    super(streamErrorMessage(event))
    this.name = 'EngineStreamError'
    this.event = event
    this.events = events
  }
}

export function streamErrorMessage(event: EngineStreamEvent): string {
  return (event.errorDetail?.message ?? event.error ?? 'the engine reported an error').trim()
}

export function isErrorEvent(event: EngineStreamEvent): boolean {
  return Boolean(event.error || event.errorDetail)
}

/** Parses a stream of JSON lines (split anywhere across chunks) into events. */
export async function* engineEvents(stream: AsyncIterable<Buffer | string>): AsyncGenerator<EngineStreamEvent> {
  let buffer = ''
  for await (const chunk of stream) {
    buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    let newline: number
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim()
      buffer = buffer.slice(newline + 1)
      if (line) yield parseEvent(line)
    }
  }
  const rest = buffer.trim()
  if (rest) yield parseEvent(rest)
}

function parseEvent(line: string): EngineStreamEvent {
  try {
    const value = JSON.parse(line) as unknown
    return value && typeof value === 'object' ? value : {stream: line}
  } catch {
    // Not JSON: an engine or proxy speaking plain text. Keep it as output rather than lose it.
    return {stream: `${line}\n`}
  }
}

/**
 * Reads a whole engine stream (the events engineEvents() parses, as the interfaces of images.ts give them), calling
 * onEvent for each event, and rejects with EngineStreamError at the first `{error, errorDetail}` event. Resolves with
 * every event when the stream ends cleanly.
 */
export async function followEngineStream(
  stream: AsyncIterable<EngineStreamEvent>,
  onEvent?: (event: EngineStreamEvent) => void,
): Promise<EngineStreamEvent[]> {
  const events: EngineStreamEvent[] = []
  for await (const event of stream) {
    if (isErrorEvent(event)) throw new EngineStreamError(event, events)
    events.push(event)
    onEvent?.(event)
  }
  return events
}
