/**
 * The little of the DOM the page's script uses, typed here rather than through TypeScript's "dom" library: that
 * library is global, and in this Node project it would retype fetch and Response everywhere else.
 */
export interface PageEvent {
  preventDefault(): void
}

export interface PageDragEvent extends PageEvent {
  dataTransfer: {files: PageFileList} | null
}

/** A chosen file: a Blob with a name. */
export interface PageFile extends Blob {
  readonly name: string
}

export interface PageFileList {
  readonly length: number
  item(index: number): PageFile | null
}

export interface PageElement {
  textContent: string | null
  hidden: boolean
  /** Inputs, textareas and buttons. */
  value: string
  disabled: boolean
  /** File inputs: the chosen files (settable from a drop). */
  files: PageFileList | null
  /** Images: where the picture comes from. */
  src: string
  readonly dataset: Record<string, string | undefined>
  readonly classList: {toggle(name: string, force?: boolean): void}
  addEventListener(type: 'submit' | 'change', listener: (event: PageEvent) => void): void
  addEventListener(type: 'dragover' | 'dragleave' | 'drop', listener: (event: PageDragEvent) => void): void
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): Iterable<PageElement>
}

export interface PageDocument {
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): Iterable<PageElement>
}

/** A decoded picture (ImageBitmap): its size, and close() to free its pixels. */
export interface PageBitmap {
  readonly width: number
  readonly height: number
  close(): void
}

/** The 2D context of an OffscreenCanvas, the part used to read pixels. */
export interface PageCanvasContext {
  drawImage(source: unknown, x: number, y: number): void
  putImageData(data: unknown, x: number, y: number): void
  getImageData(x: number, y: number, width: number, height: number): {data: Uint8ClampedArray}
}

export interface PageCanvas {
  getContext(kind: '2d', options?: {willReadFrequently?: boolean}): PageCanvasContext | null
  convertToBlob(options?: {type?: string}): Promise<Blob>
}

/** The page's globals, where they exist (none of them do in Node). */
export interface PageGlobals {
  document?: PageDocument
  location?: {search: string}
  navigator?: {hardwareConcurrency?: number; gpu?: unknown}
  crossOriginIsolated?: boolean
  createImageBitmap?: (
    source: unknown,
    options?: {colorSpaceConversion?: 'none' | 'default'; premultiplyAlpha?: 'none' | 'premultiply' | 'default'},
  ) => Promise<PageBitmap>
  OffscreenCanvas?: new (width: number, height: number) => PageCanvas
  URL: typeof URL
}

export function pageGlobals(): PageGlobals {
  return globalThis
}
