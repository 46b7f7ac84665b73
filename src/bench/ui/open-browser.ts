import open from 'open'

/** Opens a URL in the user's browser: the desktop's own way (xdg-open, open, start). */
export type UrlOpener = (url: string) => Promise<void>

export const openInDesktopBrowser: UrlOpener = async (url) => {
  const child = await open(url)
  // The opener is a short-lived helper; an error from it (no browser configured) must not end the session.
  child.on('error', () => {})
  child.unref()
}

/**
 * Whether this looks like a desktop a browser can open on: macOS and Windows are; Linux is with a display (X11 or
 * Wayland); CI and a terminal reached over SSH without a forwarded display are not.
 */
export function onDesktop(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): boolean {
  if (env.CI) return false
  if (platform === 'darwin' || platform === 'win32') return !env.SSH_CONNECTION
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY)
}
