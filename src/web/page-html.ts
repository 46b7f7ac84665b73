import {planPreprocessing, type PreprocessPlan} from '../preprocess/plan.js'
import type {WebBundleConfig} from './config.js'
import {type FormLayout, formLayout} from './form.js'
import {exampleBody} from './page/predictor.js'

export interface PageHtmlOptions {
  config: WebBundleConfig
  /** The page's script (app.ts, bundled): inlined, so the folder keeps the layout index.html + predict.js. */
  script: string
}

/**
 * index.html of the web bundle, generated from the signature: a form where one fits (see form.ts), a JSON box
 * prefilled with model.yaml's example, the labels and the latency of each prediction, and the runtime the page got.
 * A model whose inputs declare preprocess: gets a form of its own: a file picker (and a drop zone) per image input, a
 * text box per text input, a JSON box per input still sent as a tensor.
 * Works offline: no external asset, the style and the script are inline.
 */
export function pageHtml(options: PageHtmlOptions): string {
  const {config} = options
  const plan = planPreprocessing(config.signature)
  const raw = plan !== undefined && plan.images.length + plan.texts.length > 0 ? plan : undefined
  const layout = raw ? undefined : formLayout(config.signature)
  const example = raw ? undefined : exampleBody(config)
  const body = raw
    ? preprocessedBody(config, raw)
    : example === undefined
      ? placeholderBody(config)
      : JSON.stringify(example)
  const hasForm = layout !== undefined || raw !== undefined
  const outputs = config.signature.outputs
    .map((o) => `${o.name} (${o.dtype} [${o.shape.join(', ')}])${o.labels ? `: ${o.labels.join(', ')}` : ''}`)
    .join('; ')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escape(config.name)} ${escape(config.version)} in the browser</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem;color:#1d2330}
h1{font-size:1.4rem;margin:.2rem 0}h1 small{color:#667;font-weight:normal}
.status{padding:.4rem .6rem;background:#eef2f7;border-radius:4px}
.status[data-state=ready]{background:#e5f4e8}.status[data-state=failed],.error{background:#fde8e8;color:#8a1c1c}
.warning{padding:.4rem .6rem;background:#fff4d6;border-left:4px solid #e0a100}
.error{padding:.4rem .6rem;border-radius:4px}
section{margin:1rem 0}fieldset{border:1px solid #ccd;border-radius:4px}
.fields{display:grid;gap:.3rem .8rem;grid-template-columns:repeat(var(--columns),minmax(0,1fr))}
.fields label{display:flex;flex-direction:column;font-size:.8rem;color:#445}
.fields input{font:inherit;width:100%;box-sizing:border-box}
textarea{width:100%;box-sizing:border-box;font:13px/1.4 ui-monospace,monospace}
button{font:inherit;margin-top:.5rem;padding:.3rem 1rem}
pre{background:#f6f7f9;padding:.6rem;overflow:auto;max-height:20rem;font-size:12px}
.labels{font-size:1.3rem;font-weight:600}.classes{color:#445}
.drop{border:2px dashed #aab;border-radius:6px;padding:.6rem;margin:.4rem 0}.drop.over{border-color:#2a6;background:#eefaf1}
.drop img{display:block;max-width:12rem;max-height:12rem;margin-top:.4rem;image-rendering:pixelated}
.inputs label{display:block;margin:.4rem 0}footer{color:#667;font-size:.8rem;margin-top:2rem}
</style>
</head>
<body>
<header>
<h1>${escape(config.name)} <small>${escape(config.version)}</small></h1>
${config.description ? `<p>${escape(config.description)}</p>` : ''}
<p class="status" data-testid="runtime" data-state="loading">Loading the model and onnxruntime-web…</p>
<p class="warning" data-testid="runtime-warning" role="alert" hidden></p>
</header>
<main>
${layout ? formSection(layout) : ''}${raw ? inputsSection(config, raw) : ''}
<section>
<form data-testid="json-form">
<label for="json">${hasForm ? 'Or the whole request body' : 'Request body'}, as for <code>POST /predict</code> (several rows at once${raw ? '; images as data URLs' : ''}):</label>
<textarea id="json" data-testid="json" rows="${hasForm ? 4 : 8}" spellcheck="false">${escape(body)}</textarea>
<button type="submit" data-testid="predict-json" disabled>Predict</button>
</form>
</section>
<section data-testid="result" data-state="none" data-count="0" aria-live="polite">
<p class="labels" data-testid="labels"></p>
<p class="classes" data-testid="classes"></p>
<p data-testid="latency"></p>
<p class="error" data-testid="error" role="alert" hidden></p>
<pre data-testid="response"></pre>
</section>
</main>
<footer>
<p>Outputs: ${escape(outputs)}.</p>
<p>Runs offline in this browser: the model and onnxruntime-web ${escape(config.onnxruntimeWeb)} are files of this folder.
<code>predict.js</code> exports <code>ready</code> and <code>predict(body)</code>, the request and answer of
<code>POST /predict</code>. Built by mlship.</p>
</footer>
<script type="module">
${options.script.replaceAll('</script', '<\\/script')}
</script>
</body>
</html>
`
}

function formSection(layout: FormLayout): string {
  const fields = layout.fields
    .map(
      (field, i) =>
        `<label>${escape(field.label)}<input data-index="${i}" name="f${i}" inputmode="decimal" value="${escape(field.value)}" aria-label="${escape(field.label)}"></label>`,
    )
    .join('\n')
  return `<section>
<form data-testid="form">
<fieldset>
<legend>${escape(layout.input)} (${escape(layout.dtype)}), one row</legend>
<div class="fields" style="--columns:${layout.columns}">
${fields}
</div>
</fieldset>
<button type="submit" data-testid="predict-form" disabled>Predict</button>
</form>
</section>`
}

/** The form of a model with image or text inputs: one field per input, in signature order. */
function inputsSection(config: WebBundleConfig, plan: PreprocessPlan): string {
  const fields = config.signature.inputs
    .map((input) => {
      const name = escape(input.name)
      const image = plan.images.find((p) => p.input === input.name)
      if (image) {
        return `<div class="drop" data-drop="${name}" data-testid="drop-${name}">
<label>${name}: an image (JPEG, PNG or WebP), made ${image.options.color === 'grayscale' ? 'grayscale' : 'RGB'} ${image.width}x${image.height} here
<input type="file" accept="image/jpeg,image/png,image/webp" data-input="${name}" data-kind="image" data-testid="image-${name}"></label>
<small>or drop a picture here</small>
<img data-preview="${name}" alt="the chosen picture" hidden>
</div>`
      }
      if (plan.texts.some((p) => p.input === input.name)) {
        const text = typeof input.example === 'string' ? input.example : ''
        return `<label>${name}: text
<textarea data-input="${name}" data-kind="text" data-testid="text-${name}" rows="3">${escape(text)}</textarea></label>`
      }
      if (!plan.tensorInputs.some((spec) => spec.name === input.name)) return ''
      const value = input.example === undefined ? tensorPlaceholder(input.shape) : input.example
      return `<label>${name} (${escape(input.dtype)} [${escape(input.shape.join(', '))}]), as JSON
<textarea data-input="${name}" data-kind="tensor" data-testid="tensor-${name}" rows="2" spellcheck="false">${escape(JSON.stringify(value))}</textarea></label>`
    })
    .filter(Boolean)
    .join('\n')
  return `<section>
<form data-testid="inputs-form" class="inputs">
<fieldset>
<legend>One row</legend>
${fields}
</fieldset>
<button type="submit" data-testid="predict-inputs" disabled>Predict</button>
</form>
</section>`
}

/** The JSON body of a model with image or text inputs: what /predict takes, a data URL where an image goes. */
function preprocessedBody(config: WebBundleConfig, plan: PreprocessPlan): string {
  const value = (name: string): unknown => {
    if (plan.images.some((p) => p.input === name)) return 'data:image/png;base64,...'
    const spec = config.signature.inputs.find((input) => input.name === name)!
    if (plan.texts.some((p) => p.input === name)) return typeof spec.example === 'string' ? spec.example : 'some text'
    return spec.example ?? tensorPlaceholder(spec.shape)
  }
  const names = [...plan.images, ...plan.texts].map((p) => p.input)
  if (names.length === 1 && plan.tensorInputs.length === 0) return JSON.stringify({features: value(names[0]!)})
  const all = [...names, ...plan.tensorInputs.map((spec) => spec.name)]
  return JSON.stringify({inputs: Object.fromEntries(all.map((name) => [name, value(name)]))})
}

function tensorPlaceholder(shape: ReadonlyArray<number | string>): unknown {
  if (shape.length === 0) return 0
  const [first, ...rest] = shape
  const size = typeof first === 'number' && first > 0 ? first : 1
  return Array.from({length: size}, () => tensorPlaceholder(rest))
}

/** A body of the right shape for a model without examples: zeros (the user edits it). */
function placeholderBody(config: WebBundleConfig): string {
  const {inputs} = config.signature
  if (inputs.length === 1) return JSON.stringify({features: tensorPlaceholder(inputs[0]!.shape)})
  return JSON.stringify({inputs: Object.fromEntries(inputs.map((i) => [i.name, tensorPlaceholder(i.shape)]))})
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
