import type {ModelConfig} from '../config/schema.js'
import {registrySchema, semverSchema} from '../config/schema.js'
import {ConfigError, ExitCode, MlshipError} from '../errors.js'

/** Where images of a model go: a registry host (with port) and a repository path in it. */
export interface RegistryTarget {
  host: string
  repository: string
}

/**
 * Parses `--registry host[:port]/repository`. The first path component is the host, as in every image reference
 * that names a registry; the rest is the repository (which may have more slashes: team/iris).
 */
export function parseRegistryFlag(value: string): RegistryTarget {
  const trimmed = value
    .trim()
    .replace(/^(?:https?:\/\/)/, '')
    .replace(/\/+$/, '')
  const slash = trimmed.indexOf('/')
  const candidate =
    slash === -1
      ? {host: trimmed, repository: ''}
      : {host: trimmed.slice(0, slash), repository: trimmed.slice(slash + 1)}
  const parsed = registrySchema.safeParse(candidate)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')
    throw new ConfigError(`--registry "${value}" is not host[:port]/repository (${problems})`, {
      code: 'REGISTRY_FLAG_INVALID',
      details: {value},
      suggestions: ['Pass --registry like 127.0.0.1:5000/team/iris-classifier or ghcr.io/acme/iris-classifier.'],
    })
  }
  return parsed.data
}

/** The registry target from `--registry` if given, else from model.yaml's `registry:` section. */
export function resolveRegistryTarget(
  config: Pick<ModelConfig, 'registry'>,
  flag: string | undefined,
  file?: string,
): RegistryTarget {
  if (flag) return parseRegistryFlag(flag)
  if (config.registry) return {host: config.registry.host, repository: config.registry.repository}
  throw new ConfigError(`${file ?? 'model.yaml'} has no registry, and --registry was not given`, {
    code: 'REGISTRY_NOT_SET',
    details: {file},
    suggestions: [
      'Add to model.yaml:\n  registry:\n    host: ghcr.io\n    repository: acme/iris-classifier',
      'Or pass --registry host[:port]/repository, e.g. --registry 127.0.0.1:5000/iris-classifier.',
    ],
  })
}

export function imageName(target: RegistryTarget): string {
  return `${target.host}/${target.repository}`
}

export function imageReference(target: RegistryTarget, tag: string): string {
  return `${imageName(target)}:${tag}`
}

// --- what reaches a registry URL path --------------------------------------------------------------------------

// The distribution spec's grammar for a tag, and the digests mlship reads and writes. Nothing else may reach the path
// of a Registry API URL: "../../x" would be resolved by the URL parser into another repository's path.
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/

export function isTag(value: string): boolean {
  return TAG.test(value)
}

export function isDigest(value: string): boolean {
  return DIGEST.test(value)
}

/**
 * Refuses a registry target that is not a host and a repository path of the distribution grammar. Targets from
 * --registry and model.yaml are parsed by the same schema; this guards every other way in (the Registry client).
 */
export function assertRegistryTarget(target: RegistryTarget, options: {allowNoRepository?: boolean} = {}): void {
  const host = registrySchema.shape.host.safeParse(target.host).success
  const repository =
    (options.allowNoRepository && target.repository === '') ||
    registrySchema.shape.repository.safeParse(target.repository).success
  if (host && repository) return
  throw new MlshipError(
    `"${target.host}/${target.repository}" is not a registry host and repository (host[:port]/path, lowercase)`,
    {
      code: 'REGISTRY_TARGET_INVALID',
      details: {host: target.host, repository: target.repository},
      exitCode: ExitCode.usage,
      suggestions: ['Pass --registry like 127.0.0.1:5000/team/iris-classifier or ghcr.io/acme/iris-classifier.'],
    },
  )
}

/** Refuses a manifest reference that is neither a tag nor a digest, before it is put into a URL. */
export function assertManifestReference(reference: string, what: string): void {
  if (isTag(reference) || isDigest(reference)) return
  throw new MlshipError(`${what} ${JSON.stringify(reference)} is neither an image tag nor a digest`, {
    code: 'REFERENCE_INVALID',
    details: {reference},
    exitCode: ExitCode.usage,
    suggestions: [
      'A tag is up to 128 letters, digits, _ . and - (not starting with . or -), such as 1.0.0 or 2.1.0-rc.1; a digest is sha256:<64 hex digits>.',
    ],
  })
}

/** Refuses a digest (from a registry answer or a flag) that is not algorithm:hex. */
export function assertDigest(digest: string, what: string): void {
  if (isDigest(digest)) return
  throw new MlshipError(`${what} ${JSON.stringify(digest)} is not a digest (sha256:<64 hex digits>)`, {
    code: 'DIGEST_INVALID',
    details: {digest},
    exitCode: ExitCode.registry,
  })
}

/** Hosts the Docker engine talks plain HTTP to without configuration: loopback addresses. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host)
  return name === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(name) || name === '::1' || name === '[::1]'
}

/** The host without its port. */
export function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1)
  return host.replace(/:\d+$/, '')
}

/** The base URL of the Registry HTTP API v2 for a host: plain HTTP for loopback (as the engine does), TLS otherwise. */
export function registryBaseUrl(host: string): string {
  return `${isLoopbackHost(host) ? 'http' : 'https'}://${host}`
}

// --- semver -------------------------------------------------------------------------------------------------------

export function isSemver(value: string): boolean {
  return semverSchema.safeParse(value).success
}

/** A version that can be an image tag: semver without build metadata ("+" cannot be in a tag). */
export function assertVersionTag(version: string, where: string): void {
  assertSemver(version, where)
  if (isTag(version)) return
  throw new ConfigError(
    `${where}: "${version}" cannot be an image tag ("+" and build metadata are not allowed in tags)`,
    {
      code: 'VERSION_NOT_TAG',
      details: {version},
      suggestions: [`Use "${version.split('+')[0]!}" or a pre-release such as "${version.replace('+', '-')}".`],
    },
  )
}

export function assertSemver(version: string, where: string): void {
  if (isSemver(version)) return
  throw new ConfigError(`${where}: "${version}" is not a semantic version`, {
    code: 'VERSION_NOT_SEMVER',
    details: {version},
    suggestions: ['Use a version like 1.0.0 or 2.1.0-rc.1 (semver.org): version tags are immutable and sorted by it.'],
  })
}

/**
 * Semantic versions newest first, in semver.org's order (a pre-release before its release; build metadata ignored).
 * The semver package loads here, when versions are sorted, not with every command that names an image.
 */
export async function newestFirst<T>(items: readonly T[], version: (item: T) => string): Promise<T[]> {
  const {default: compare} = await import('semver/functions/compare.js')
  return [...items].sort((a, b) => compare(version(b), version(a)))
}
