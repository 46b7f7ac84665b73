import {describe, expect, it} from 'vitest'

import {imagePreprocessSchema, type Signature, textPreprocessSchema} from '../config/schema.js'
import type {WebBundleConfig} from './config.js'
import {formLayout, MAX_FORM_FIELDS} from './form.js'
import {pageHtml} from './page-html.js'

const iris: Signature = {
  inputs: [
    {
      description: 'sepal length, sepal width, petal length, petal width (cm)',
      dtype: 'float32',
      example: [[5.1, 3.5, 1.4, 0.2]],
      name: 'features',
      shape: ['batch', 4],
    },
  ],
  outputs: [
    {dtype: 'float32', labels: ['setosa', 'versicolor', 'virginica'], name: 'probabilities', shape: ['batch', 3]},
  ],
}

const config = (signature: Signature, extra: Partial<WebBundleConfig> = {}): WebBundleConfig => ({
  backend: 'wasm',
  maxBatchSize: 1024,
  modelFile: 'model.onnx',
  name: 'iris',
  onnxruntimeWeb: '1.30.0',
  signature,
  version: '1.0.0',
  ...extra,
})

describe('formLayout', () => {
  it('gives one field per feature, named from the description and filled from the example', () => {
    expect(formLayout(iris)).toEqual({
      columns: 1,
      dtype: 'float32',
      fields: [
        {label: 'sepal length', value: '5.1'},
        {label: 'sepal width', value: '3.5'},
        {label: 'petal length', value: '1.4'},
        {label: 'petal width (cm)', value: '0.2'},
      ],
      input: 'features',
    })
  })

  it('lays 64 pixels out as an 8x8 grid named pixels[i]', () => {
    const layout = formLayout({inputs: [{dtype: 'float32', name: 'pixels', shape: ['batch', 64]}], outputs: []})
    expect(layout?.columns).toBe(8)
    expect(layout?.fields[9]).toEqual({label: 'pixels[9]', value: ''})
  })

  it('leaves the JSON box alone where a form does not fit', () => {
    const output = {dtype: 'float32' as const, name: 'y', shape: ['batch', 1]}
    const cases: Signature['inputs'][] = [
      [{dtype: 'float32', name: 'x', shape: ['batch', MAX_FORM_FIELDS + 1]}],
      [{dtype: 'float32', name: 'image', shape: ['batch', 3, 8, 8]}],
      [{dtype: 'string', name: 'text', shape: ['batch', 1]}],
      [{dtype: 'float32', name: 'x', shape: ['batch', 'n']}],
      [
        {dtype: 'float32', name: 'a', shape: ['batch', 2]},
        {dtype: 'float32', name: 'b', shape: ['batch', 2]},
      ],
    ]
    for (const inputs of cases) expect(formLayout({inputs, outputs: [output]})).toBeUndefined()
  })
})

describe('pageHtml', () => {
  it('prefills the JSON box with the example and escapes what model.yaml says', () => {
    const html = pageHtml({
      config: config(iris, {description: '<b>bold</b> & "quoted"'}),
      script: 'console.log("</script>")',
    })
    expect(html).toContain('&#60;b&#62;bold&#60;/b&#62; &#38; &#34;quoted&#34;')
    expect(html).toContain('{&#34;features&#34;:[[5.1,3.5,1.4,0.2]]}')
    expect(html).toContain('data-testid="form"')
    expect(html).toContain('console.log("<\\/script>")')
    expect(html).not.toMatch(/src="https?:|href="https?:/)
  })

  it('gives a model without examples a body of the right shape to edit, and no form when none fits', () => {
    const html = pageHtml({
      config: config({
        inputs: [
          {dtype: 'float32', name: 'a', shape: ['batch', 2]},
          {dtype: 'int64', name: 'b', shape: [3]},
        ],
        outputs: [{dtype: 'float32', name: 'y', shape: ['batch']}],
      }),
      script: '',
    })
    expect(html).not.toContain('data-testid="form"')
    expect(html).toContain('{&#34;inputs&#34;:{&#34;a&#34;:[[0,0]],&#34;b&#34;:[0,0,0]}}')
  })

  it('gives a model with an image, a text and a tensor input a file picker, a text box and a JSON box', () => {
    const html = pageHtml({
      config: config({
        inputs: [
          {
            dtype: 'float32',
            name: 'image',
            preprocess: {image: imagePreprocessSchema.parse({resize: 'stretch'})},
            shape: ['batch', 3, 8, 8],
          },
          {
            dtype: 'int64',
            name: 'input_ids',
            preprocess: {text: textPreprocessSchema.parse({tokenizer: 'tokenizer.json'})},
            shape: ['batch', 12],
          },
          {dtype: 'float32', example: [[1, 2]], name: 'extra', shape: ['batch', 2]},
        ],
        outputs: [{dtype: 'float32', name: 'y', shape: ['batch', 2]}],
      }),
      script: '',
    })
    expect(html).toContain('data-testid="inputs-form"')
    expect(html).toMatch(/<input type="file" accept="image\/jpeg,image\/png,image\/webp" data-input="image"/)
    expect(html).toContain('data-kind="text" data-testid="text-input_ids"')
    expect(html).toContain('data-testid="tensor-extra" rows="2" spellcheck="false">[[1,2]]</textarea>')
    expect(html).not.toContain('data-testid="form"')
    expect(html).toContain(
      '{&#34;inputs&#34;:{&#34;image&#34;:&#34;data:image/png;base64,...&#34;,&#34;input_ids&#34;:&#34;some text&#34;,&#34;extra&#34;:[[1,2]]}}',
    )
  })
})
