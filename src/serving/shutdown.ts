/**
 * How long the server takes at most to stop after SIGTERM (in-flight requests finish, then it exits anyway). The
 * Kubernetes manifests `mlship deploy` writes give the pod a grace period longer than this.
 */
export const SHUTDOWN_LIMIT_MS = 9000
