import {createHash, randomBytes} from 'node:crypto'

import {ExitCode, MlshipError} from '../errors.js'
import {type FetchedManifest, sha256Digest} from './client.js'

/**
 * Creating an immutable version tag safely when two pushes of the same version race.
 *
 * The Registry API has no conditional PUT: "check the tag, then PUT it" lets two pushes both find the version absent
 * and both write it, the last one silently winning. So a push first writes a claim, a tag of its own
 * (`mlship-claim-<version hash>-<time>-<random>`), and then lists the tags: if it sees another live claim for the
 * same version it withdraws and tries again after a random pause. Of two pushes, the one that lists last sees the
 * other's claim, so they cannot both go on; the random pauses let one of them through. The one that goes on checks the
 * version tag (absent: PUT it; another image: refused unless forced), reads it back after the PUT, and withdraws its
 * claim. A claim left by a push that died counts for `claimTtlMs` after the time in its name, then no more.
 *
 * Claims and the temporary tag an image is pushed under are removed by pointing them at a manifest of their own (the
 * pushed one plus a unique annotation) and DELETEing that manifest: DELETE by digest removes every tag pointing to it,
 * so it must never be the image's own digest. Registries that refuse DELETE keep them: a claim is then marked
 * released in its annotation, and a temporary tag stays (it is reported).
 */

/** What the protocol needs from a registry: RegistryClient has it; tests use an in-memory registry. */
export interface TagStore {
  tags(): Promise<string[]>
  manifest(reference: string): Promise<FetchedManifest | undefined>
  manifestDigest(reference: string): Promise<string | undefined>
  putManifest(reference: string, raw: Buffer, mediaType: string): Promise<string>
  deleteManifest(digest: string): Promise<boolean>
}

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

/** The manifest bytes to tag, as they will be PUT. */
export interface ManifestBytes {
  raw: Buffer
  mediaType: string
}

export interface TagOnceOptions {
  store: TagStore
  /** The version tag to create. */
  tag: string
  manifest: ManifestBytes
  /** Replace a version tag that points to another manifest. */
  force?: boolean
  clock?: Clock
  /** Uniform in [0, 1): the pauses between claim rounds. */
  random?: () => number
  /** A claim older than this (by the time in its name) is one a dead push left behind. Default 2 minutes. */
  claimTtlMs?: number
  /** Claim rounds before giving up. Default 6. */
  attempts?: number
  /** The first pause after a conflict is up to this long; it doubles each round. Default 250 ms. */
  backoffMs?: number
  /** What to call the image in messages (host/repository). */
  image: string
}

export interface TagOnceResult {
  digest: string
  /** created: the tag was absent; unchanged: it already pointed here; replaced: forced over another manifest. */
  outcome: 'created' | 'unchanged' | 'replaced'
  /** The digest the tag pointed to before, when it existed. */
  previousDigest?: string
  /** Claim rounds it took (1 without a race). */
  rounds: number
}

const PLACEHOLDER_ANNOTATION = 'org.mlship.placeholder'
const RELEASED_ANNOTATION = 'org.mlship.released'
const CLAIM_PREFIX = 'mlship-claim-'
const PUSH_PREFIX = 'mlship-push-'

/** Tags mlship writes for its own bookkeeping: not versions, hidden from `versions`. */
export function isInternalTag(tag: string): boolean {
  return tag.startsWith(CLAIM_PREFIX) || tag.startsWith(PUSH_PREFIX)
}

/** A unique temporary tag to push an image under before it becomes a version. */
export function temporaryPushTag(clock: Clock = SYSTEM_CLOCK, suffix = ''): string {
  return `${PUSH_PREFIX}${clock.now().toString(36)}-${randomBytes(5).toString('hex')}${suffix ? `-${suffix}` : ''}`
}

export async function tagOnce(options: TagOnceOptions): Promise<TagOnceResult> {
  const clock = options.clock ?? SYSTEM_CLOCK
  const random = options.random ?? Math.random
  const attempts = options.attempts ?? 6
  const backoffMs = options.backoffMs ?? 250
  const ttl = options.claimTtlMs ?? 120_000
  const digest = sha256Digest(options.manifest.raw)
  const versionKey = createHash('sha256').update(options.tag).digest('hex').slice(0, 12)

  for (let round = 1; round <= attempts; round++) {
    // Unique whatever `random` is: two pushes with one claim name would each take the other's claim for its own.
    const claim = `${CLAIM_PREFIX}${versionKey}-${clock.now().toString(36)}-${randomBytes(6).toString('hex')}`
    const claimDigest = await putPlaceholder(options.store, claim, options.manifest, {claim})
    try {
      const rivals = await liveClaims(options.store, versionKey, claim, clock.now(), ttl)
      if (rivals.length > 0) {
        await withdraw(options.store, claim, claimDigest, options.manifest)
        if (round < attempts) await clock.sleep(Math.round(random() * backoffMs * 2 ** (round - 1)))
        continue
      }
      const result = await tagUnderClaim(options, digest)
      await withdraw(options.store, claim, claimDigest, options.manifest)
      return {...result, rounds: round}
    } catch (error) {
      await withdraw(options.store, claim, claimDigest, options.manifest).catch(() => undefined)
      throw error
    }
  }
  throw new MlshipError(
    `Another push of ${options.image}:${options.tag} is under way: it held the version through ${attempts} tries`,
    {
      code: 'VERSION_BUSY',
      details: {image: options.image, version: options.tag},
      exitCode: ExitCode.registry,
      suggestions: [
        `Wait for the other push to finish, then look with \`mlship versions --registry ${options.image}\`.`,
        `A push that died leaves its claim for ${Math.round(ttl / 1000)} s at most; push again after that.`,
      ],
    },
  )
}

async function tagUnderClaim(options: TagOnceOptions, digest: string): Promise<Omit<TagOnceResult, 'rounds'>> {
  const {store, tag} = options
  const previousDigest = await store.manifestDigest(tag)
  if (previousDigest === digest) return {digest, outcome: 'unchanged', previousDigest}
  if (previousDigest && !options.force) throw versionExists(options.image, tag, previousDigest)
  await store.putManifest(tag, options.manifest.raw, options.manifest.mediaType)
  // Read back: a writer that ignores claims (docker push, another tool) may have written the tag at the same moment.
  const after = await store.manifestDigest(tag)
  if (after !== digest) {
    throw new MlshipError(
      `${options.image}:${tag} was written by someone else at the same moment: it points to ${after?.slice(0, 19) ?? 'nothing'}, not to this push's ${digest.slice(0, 19)}`,
      {
        code: 'VERSION_RACE',
        details: {digest, found: after ?? null, image: options.image, version: tag},
        exitCode: ExitCode.registry,
        suggestions: [`See what it is now with \`mlship versions --registry ${options.image}\`; bump the version.`],
      },
    )
  }
  return {digest, outcome: previousDigest ? 'replaced' : 'created', previousDigest}
}

export function versionExists(image: string, version: string, digest: string): MlshipError {
  return new MlshipError(
    `${image}:${version} already exists and points to another image (${digest.slice(0, 19)}): version tags are immutable`,
    {
      code: 'VERSION_EXISTS',
      details: {digest, image, version},
      exitCode: ExitCode.registry,
      suggestions: [
        'Bump `version` in model.yaml (e.g. to the next patch version) and push again.',
        'Or replace the version on purpose with --force (anyone who pulled it keeps the old image).',
      ],
    },
  )
}

/** Other claims for the same version that are not stale and not released. */
async function liveClaims(
  store: TagStore,
  versionKey: string,
  own: string,
  now: number,
  ttl: number,
): Promise<string[]> {
  const prefix = `${CLAIM_PREFIX}${versionKey}-`
  const candidates = (await store.tags()).filter((tag) => {
    if (!tag.startsWith(prefix) || tag === own) return false
    const time = Number.parseInt(tag.slice(prefix.length).split('-')[0] ?? '', 36)
    return Number.isFinite(time) && now - time < ttl
  })
  const live: string[] = []
  for (const tag of candidates) {
    const manifest = await store.manifest(tag)
    const annotations = (manifest?.manifest as {annotations?: Record<string, string>} | undefined)?.annotations
    if (manifest && annotations?.[RELEASED_ANNOTATION] === undefined) live.push(tag)
  }
  return live
}

/**
 * Removes a tag mlship wrote (a claim, a temporary push tag): points it at a placeholder manifest of its own and
 * deletes that. Returns false where the registry refuses DELETE (the tag then stays, pointing at the placeholder).
 */
export async function removeTag(store: TagStore, tag: string, base: ManifestBytes): Promise<boolean> {
  const placeholder = await putPlaceholder(store, tag, base, {removed: tag})
  return deleteQuietly(store, placeholder)
}

async function withdraw(store: TagStore, claim: string, claimDigest: string, base: ManifestBytes): Promise<void> {
  if (await deleteQuietly(store, claimDigest)) return
  // No DELETE here: mark the claim released, so that other pushes do not wait for it.
  await putPlaceholder(store, claim, base, {claim, released: 'true'})
}

async function deleteQuietly(store: TagStore, digest: string): Promise<boolean> {
  try {
    return await store.deleteManifest(digest)
  } catch (error) {
    if (error instanceof MlshipError && error.exitCode === ExitCode.registry) return false
    throw error
  }
}

/**
 * PUTs under `tag` a copy of a manifest with a unique annotation: the same config and layers (so the registry has
 * every blob it names), another digest (so deleting it touches nothing else).
 */
async function putPlaceholder(
  store: TagStore,
  tag: string,
  base: ManifestBytes,
  note: Record<string, string>,
): Promise<string> {
  const document = JSON.parse(base.raw.toString('utf8')) as Record<string, unknown>
  const annotations: Record<string, string> = {
    ...(document.annotations as Record<string, string> | undefined),
    [PLACEHOLDER_ANNOTATION]: randomBytes(8).toString('hex'),
  }
  for (const [key, value] of Object.entries(note)) annotations[`org.mlship.${key}`] = value
  const raw = Buffer.from(JSON.stringify({...document, annotations}))
  return store.putManifest(tag, raw, base.mediaType)
}
