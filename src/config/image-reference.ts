/** An image reference taken apart: `[registry/]repository[:tag][@digest]`. */
export interface ImageReference {
  /** The registry host (and port), when the reference names one: `127.0.0.1:5000`, `ghcr.io`, `localhost`. */
  registry?: string
  /** The repository path in the registry: `team/iris`, `node`. */
  repository: string
  tag?: string
  digest?: string
}

// The distribution spec's grammar (github.com/distribution/reference): path components of lowercase letters and
// digits joined by separators; a tag of word characters, dots and dashes; a sha256 digest.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
/** `[registry[:port]/]path[:tag][@digest]`, the groups name, tag and digest (model.yaml's JSON Schema has it too). */
export const IMAGE_REFERENCE_PATTERN = new RegExp(
  `^((?:[a-zA-Z0-9.-]+(?::\\d+)?/)?${COMPONENT}(?:/${COMPONENT})*)` +
    '(?::([\\w][\\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$',
)

/**
 * The one image-reference parser of mlship: undefined for a string that is not a reference. The first component of
 * the name is a registry when Docker takes it for one: it has a dot or a port, or is `localhost` (`team/iris` is a
 * repository on Docker Hub, `registry:5000/iris` one on registry:5000).
 */
export function parseImageReference(value: string): ImageReference | undefined {
  if (value.length > 255) return undefined
  const match = IMAGE_REFERENCE_PATTERN.exec(value)
  if (!match) return undefined
  const [, name = '', tag, digest] = match
  const slash = name.indexOf('/')
  const first = slash === -1 ? '' : name.slice(0, slash)
  const isRegistry = first !== '' && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase())
  return {
    ...(isRegistry ? {registry: first} : {}),
    repository: isRegistry ? name.slice(slash + 1) : name,
    ...(tag ? {tag} : {}),
    ...(digest ? {digest} : {}),
  }
}

/** The name to tag or pull: registry and repository, without tag or digest. */
export function imageReferenceName(reference: ImageReference): string {
  return reference.registry ? `${reference.registry}/${reference.repository}` : reference.repository
}
