/**
 * The little of the DOM the page's script uses, typed here rather than through TypeScript's "dom" library: that
 * library is global, and in this Node project it would retype fetch and Response everywhere else.
 */
export interface PageEvent {
  preventDefault(): void
}

export interface PageElement {
  textContent: string | null
  hidden: boolean
  /** Inputs, textareas and buttons. */
  value: string
  disabled: boolean
  readonly dataset: Record<string, string | undefined>
  addEventListener(type: 'submit', listener: (event: PageEvent) => void): void
  querySelectorAll(selector: string): Iterable<PageElement>
}

export interface PageDocument {
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): Iterable<PageElement>
}

/** The page's globals, where they exist (none of them do in Node). */
export interface PageGlobals {
  document?: PageDocument
  location?: {search: string}
  navigator?: {hardwareConcurrency?: number; gpu?: unknown}
  crossOriginIsolated?: boolean
}

export function pageGlobals(): PageGlobals {
  return globalThis as PageGlobals
}
