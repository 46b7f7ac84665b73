/**
 * onnxruntime's run errors, sorted into the client's mistakes and the server's failures. The request was valid for the
 * signature, but some values are not valid for the model: an index past the end of an embedding table (Gather), a
 * dimension the graph cannot reshape or broadcast. Those are answered 422 with onnxruntime's own words; anything else
 * (memory, a device, a bug) stays a 500.
 */
import {RequestError} from './request-error.js'

// What onnxruntime says when the values of an input, not the server, are at fault.
const INPUT_FAULTS = [
  /out of (data )?bounds/i,
  /must be within (the inclusive )?range/i,
  /\bout of range\b/i,
  /cannot be reshaped/i,
  /attempting to broadcast/i,
  /invalid dimensions? for input/i,
  /(invalid|incompatible|mismatch(ed)?) (input )?(shape|dimension|rank)/i,
  /(shape|dimension|rank) mismatch/i,
  /unexpected input data type/i,
  /invalid (index|indices)/i,
]

// Resource and device failures can mention ranges and shapes too; they are never the client's doing.
const SERVER_FAULTS = [/alloc/i, /out of memory/i, /\bcuda\b/i, /\bcudnn\b/i, /not implemented/i, /\bbad_alloc\b/i]

/** The first meaningful line of an onnxruntime run error, without its boilerplate. */
export function describeRunError(message: string): string {
  const kernel =
    /Non-zero status code returned while running (\w+) node\. Name:'([^']*)' Status Message: ([\s\S]*)/.exec(message)
  const text = kernel ? `${kernel[1]} node${kernel[2] ? ` "${kernel[2]}"` : ''}: ${kernel[3]}` : message
  return text
    .replace(/\s*Please fix either the inputs\/outputs or the model\.?/, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join(' ')
}

/** Whether an onnxruntime run error is the client's mistake (the values sent), not the server's failure. */
export function isInputFault(message: string): boolean {
  return (
    INPUT_FAULTS.some((pattern) => pattern.test(message)) && !SERVER_FAULTS.some((pattern) => pattern.test(message))
  )
}

/** A failed run: the client's values refused by the model are a 422 with onnxruntime's words; the rest a 500. */
export function runFailure(result: {message: string; inputFault: boolean}): Error {
  if (result.inputFault) return new RequestError(422, `the model cannot run on this input: ${result.message}`)
  return new Error(`inference failed: ${result.message}`)
}

/** Fatal only: onnxruntime's own log of a failed run goes to stderr as a coloured text line; the caller says it. */
export const QUIET_RUN_OPTIONS = {logSeverityLevel: 4} as const
