/**
 * The script of the bundle's index.html (inlined into it by the build): wires the form and the JSON box generated from
 * the signature to predict.js, and shows what the user needs to see: the runtime the page got, each answer with its
 * labels, and the latency of each prediction. Everything a test waits on has a data-testid.
 */
import type {WebPredictResponse} from '../config.js'
import {type PageElement, pageGlobals} from './dom.js'
import {predict, ready} from './predict.js'

const page = pageGlobals()
const document = page.document!

const byTestId = (id: string): PageElement => {
  const element = document.querySelector(`[data-testid="${id}"]`)
  if (!element) throw new Error(`index.html has no [data-testid="${id}"]`)
  return element
}

const runtime = byTestId('runtime')
const warning = byTestId('runtime-warning')
const result = byTestId('result')
const latency = byTestId('latency')
const labels = byTestId('labels')
const classes = byTestId('classes')
const responseText = byTestId('response')
const errorText = byTestId('error')
let count = 0

ready.then(
  (info) => {
    const threads = `${info.threads} thread${info.threads === 1 ? '' : 's'}`
    const isolation = info.crossOriginIsolated ? '' : ' (the page is not cross-origin isolated: one thread)'
    runtime.textContent =
      `Ready: ${info.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly (SIMD)'}, ${threads}${isolation}, ` +
      `model loaded in ${info.loadMs.toFixed(0)} ms, onnxruntime-web ${info.onnxruntimeWeb}.`
    runtime.dataset.state = 'ready'
    runtime.dataset.backend = info.backend
    if (info.fallbackReason) {
      warning.textContent = `WebGPU was asked for and is not used: ${info.fallbackReason}. Running on WebAssembly (CPU).`
      warning.hidden = false
    }
    for (const button of document.querySelectorAll('button[type=submit]')) button.disabled = false
  },
  (error: unknown) => {
    runtime.textContent = `The model could not be loaded: ${error instanceof Error ? error.message : String(error)}`
    runtime.dataset.state = 'failed'
  },
)

async function run(body: unknown): Promise<void> {
  const started = performance.now()
  try {
    show(await predict(body), performance.now() - started)
  } catch (error) {
    const status = (error as {status?: number}).status
    showError(status === undefined ? String(error) : `${status}: ${(error as Error).message}`, {
      error: (error as Error).message,
    })
  }
}

function show(answer: WebPredictResponse, roundTripMs: number): void {
  count++
  latency.textContent = `${answer.latency_ms.toFixed(3)} ms in the model's terms (latency_ms), ${roundTripMs.toFixed(3)} ms for the whole call`
  labels.textContent = answer.labels ? answer.labels.join(', ') : ''
  const {top_k: topK} = answer as {top_k?: Array<{label: string; score: number}>}
  classes.textContent = topK ? topK.map((c) => `${c.label} ${(c.score * 100).toFixed(1)}%`).join(', ') : ''
  responseText.textContent = JSON.stringify(answer, null, 1)
  errorText.hidden = true
  errorText.textContent = ''
  result.dataset.state = 'ok'
  result.dataset.count = String(count)
}

function showError(message: string, body: unknown): void {
  count++
  latency.textContent = ''
  labels.textContent = ''
  classes.textContent = ''
  responseText.textContent = JSON.stringify(body, null, 1)
  errorText.textContent = message
  errorText.hidden = false
  result.dataset.state = 'error'
  result.dataset.count = String(count)
}

const form = document.querySelector('[data-testid="form"]')
form?.addEventListener('submit', (event) => {
  event.preventDefault()
  const values = [...form.querySelectorAll('input[data-index]')].map((field) => {
    const text = field.value.trim()
    // What the user typed goes to the decoder as JSON would: a number when it reads as one, else the text, so a
    // mistake gets the server's own message.
    return text === '' ? null : Number.isFinite(Number(text)) ? Number(text) : text
  })
  void run({features: [values]})
})

byTestId('json-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const text = byTestId('json').value
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    showError(`400: malformed JSON: ${(error as Error).message}`, {
      error: `malformed JSON: ${(error as Error).message}`,
    })
    return
  }
  void run(body)
})

// A model with image or text inputs: a file picker (and drop zone) per image, a text box per text, JSON per tensor.
const inputsForm = document.querySelector('[data-testid="inputs-form"]')
if (inputsForm) {
  for (const zone of inputsForm.querySelectorAll('[data-drop]')) {
    const picker = zone.querySelector('input[type=file]')!
    const preview = zone.querySelector('img[data-preview]')!
    const showPreview = () => {
      const file = picker.files?.item(0)
      if (preview.src) page.URL.revokeObjectURL(preview.src)
      preview.hidden = !file
      preview.src = file ? page.URL.createObjectURL(file) : ''
    }
    picker.addEventListener('change', showPreview)
    zone.addEventListener('dragover', (event) => {
      event.preventDefault()
      zone.classList.toggle('over', true)
    })
    zone.addEventListener('dragleave', () => zone.classList.toggle('over', false))
    zone.addEventListener('drop', (event) => {
      event.preventDefault()
      zone.classList.toggle('over', false)
      if (event.dataTransfer && event.dataTransfer.files.length > 0) {
        picker.files = event.dataTransfer.files
        showPreview()
      }
    })
  }
  inputsForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const inputs: Record<string, unknown> = {}
    for (const field of inputsForm.querySelectorAll('[data-input]')) {
      const name = field.dataset.input!
      if (field.dataset.kind === 'image') {
        // No file chosen: the input is left out, and predict() says it is missing as the server would.
        const file = field.files?.item(0)
        if (file) inputs[name] = file
      } else if (field.dataset.kind === 'text') inputs[name] = field.value
      else {
        try {
          inputs[name] = JSON.parse(field.value)
        } catch (error) {
          showError(`400: input "${name}": malformed JSON: ${(error as Error).message}`, {
            error: `input "${name}": malformed JSON: ${(error as Error).message}`,
          })
          return
        }
      }
    }
    void run({inputs})
  })
}
