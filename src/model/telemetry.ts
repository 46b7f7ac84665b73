/**
 * onnxruntime-node 1.30 on Linux starts Microsoft's telemetry uploader when it creates its environment (the first
 * session of a process): it resolves mobile.events.data.microsoft.com and keeps a device id and an event queue under
 * ~/.cache/Microsoft/DeveloperTools/.onnxruntime. Its only switch is the ORT_DISABLE_TELEMETRY environment variable,
 * read by the native library (there is no JavaScript API), so it must be in the process environment before that first
 * session. Worker threads share the process environment, so the main thread setting it covers them.
 */
export const ONNXRUNTIME_TELEMETRY_VARIABLE = 'ORT_DISABLE_TELEMETRY'

/** Turns onnxruntime's telemetry off unless the user set ORT_DISABLE_TELEMETRY themselves (0 leaves it on). */
export function keepOnnxruntimeTelemetryOff(env: NodeJS.ProcessEnv = process.env): void {
  if (env[ONNXRUNTIME_TELEMETRY_VARIABLE] === undefined) env[ONNXRUNTIME_TELEMETRY_VARIABLE] = '1'
}
