import {describe, expect, it} from 'vitest'

import {onDesktop} from './open-browser.js'

describe('onDesktop', () => {
  it('opens a browser on a Linux desktop (X11 or Wayland), macOS and Windows', () => {
    expect(onDesktop({DISPLAY: ':0'}, 'linux')).toBe(true)
    expect(onDesktop({WAYLAND_DISPLAY: 'wayland-0'}, 'linux')).toBe(true)
    expect(onDesktop({}, 'darwin')).toBe(true)
    expect(onDesktop({}, 'win32')).toBe(true)
  })

  it('only prints the URL on a server without a display, over SSH, and in CI', () => {
    expect(onDesktop({}, 'linux')).toBe(false)
    expect(onDesktop({SSH_CONNECTION: '10.0.0.1 22 10.0.0.2 50000'}, 'darwin')).toBe(false)
    expect(onDesktop({CI: 'true', DISPLAY: ':0'}, 'linux')).toBe(false)
  })
})
