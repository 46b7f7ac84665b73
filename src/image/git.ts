import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

export interface GitInfo {
  /** The commit the model directory is at (`git rev-parse HEAD`). */
  revision?: string
  shortRevision?: string
  /** The origin remote, without any credentials it may carry (see stripCredentials). */
  source?: string
  /** True when tracked files have changes that are not committed. */
  dirty?: boolean
}

/**
 * Where the model directory's git work tree is, if it is in one; nothing when git is missing or it is not.
 * `dirty: false` skips `git status` (a build's labels do not say whether the tree was clean; push's tags do).
 */
export async function gitInfo(dir: string, options: {dirty?: boolean} = {}): Promise<GitInfo> {
  const git = async (...args: string[]) => {
    try {
      const {stdout} = await promisify(execFile)('git', ['-C', dir, ...args], {timeout: 5000})
      return stdout.trim()
    } catch {
      return undefined // no git, not a work tree, no such config: nothing to say
    }
  }
  // At once: outside a work tree the others fail as fast as rev-parse, and in one a build (and `build --print`, whose
  // start-up issue 22 measures) waits for one git process instead of two in a row.
  const [revision, remote, status] = await Promise.all([
    git('rev-parse', 'HEAD'),
    git('config', '--get', 'remote.origin.url'),
    options.dirty === false ? undefined : git('status', '--porcelain', '--untracked-files=no', '--', '.'),
  ])
  if (!revision || !/^[0-9a-f]{40,64}$/.test(revision)) return {}
  return {
    ...(options.dirty === false ? {} : {dirty: status !== undefined && status.length > 0}),
    revision,
    shortRevision: revision.slice(0, 7),
    source: remote ? stripCredentials(remote) : undefined,
  }
}

/**
 * The remote as an image label may show it: no user or password (https://user:token@host/...), no query string
 * (?access_token=...) and no fragment, where tokens travel too.
 */
export function stripCredentials(url: string): string {
  try {
    const parsed = new URL(url)
    parsed.username = ''
    parsed.password = ''
    parsed.search = ''
    parsed.hash = ''
    return parsed.toString()
  } catch {
    // scp-like (git@host:org/repo.git): the user name is not a secret, but leave nothing before '@' anyway.
    return url.replace(/[?#].*$/s, '').replace(/^[^@/]+@/, '')
  }
}
