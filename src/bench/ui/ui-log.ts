import {targetReadyLine} from '../progress-log.js'
import type {BenchUiHooks} from './bench-ui.js'
import {onDesktop, openInDesktopBrowser, type UrlOpener} from './open-browser.js'

export interface BenchUiLogOptions {
  /** Writes one whole line (the command's stderr). */
  log: (line: string) => void
  /** Open the page in the desktop's browser, where there is a desktop (--no-open: print its URL only). */
  open: boolean
  /** Default: the desktop's browser, where `onDesktop` finds one in this process's environment. */
  opener?: UrlOpener
}

/** The stderr of `bench --ui`: the page's URL (opened in a browser where asked), notes, each server once ready. */
export function benchUiLog(options: BenchUiLogOptions): BenchUiHooks {
  const line = options.log
  const opener = options.opener ?? (onDesktop(process.env, process.platform) ? openInDesktopBrowser : undefined)
  return {
    onNote: line,
    onReady: (url) => {
      line(`Live page: ${url}  (Ctrl-C stops the load, the servers and the page)`)
      if (options.open && opener) opener(url).catch(() => line(`Could not open a browser: open ${url} by hand.`))
    },
    onTargetReady: (target) => line(targetReadyLine('Serving', target, {executionProvider: false})),
  }
}
