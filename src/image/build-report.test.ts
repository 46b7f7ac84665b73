import path from 'node:path'

import {describe, expect, it} from 'vitest'

import type {BuildImageResult} from './build-image.js'
import {buildContextText, builtImageText, platformImagesText} from './build-report.js'

const files = [
  {path: 'model/model.onnx', sizeBytes: 3000, source: path.resolve('examples/iris/model.onnx')},
  {path: 'config/model.yaml', sizeBytes: 500, source: path.resolve('examples/iris/model.yaml')},
]

const built: BuildImageResult = {
  baseImage: 'node:20-bookworm-slim',
  buildSeconds: 4.26,
  contextFiles: 12,
  contextSizeBytes: 52_000_000,
  files: files.map((file) => ({...file, role: 'model' as const})),
  gpu: false,
  imageId: 'sha256:abc',
  inputDigest: 'sha256:def',
  modelSha256: 'ghi',
  platform: 'linux/amd64',
  sizeAboveBaseBytes: 60_000_000,
  sizeBytes: 250_000_000,
  steps: {cached: 3, total: 9},
  tags: ['iris-classifier:1.0.0', 'iris-classifier:latest'],
  upToDate: false,
}

describe('build text', () => {
  it('names the image, its size above the base, its context and cached steps, its files, and how to run it', () => {
    expect(builtImageText(built, 'examples/iris').split('\n')).toEqual([
      'Built iris-classifier:1.0.0, iris-classifier:latest',
      '  image    sha256:abc',
      '  size     250.0 MB (60.0 MB above node:20-bookworm-slim)',
      '  context  52.0 MB in 12 files, linux/amd64',
      '  time     4.3 s (3 of 9 steps cached)',
      '',
      'From the model directory (nothing else of it goes into the image):',
      '  model/model.onnx    3.00 kB  from examples/iris/model.onnx',
      '  config/model.yaml     500 B  from examples/iris/model.yaml',
      '',
      'Run it: mlship serve examples/iris --image iris-classifier:1.0.0',
    ])
  })

  it('says how to build a written context with its tags', () => {
    const context = {contextDir: '/tmp/ctx', fileCount: 12, files, sizeBytes: 52_000_000}
    expect(buildContextText(context, ['a:1', 'a:latest'])).toContain(
      'Wrote the build context to /tmp/ctx (12 files, 52.0 MB).\n' +
        'Build it with: docker build -t a:1 -t a:latest /tmp/ctx\n\nFrom the model directory',
    )
  })

  it('lists one image per platform and how to push them under one tag', () => {
    const images = [{...built, platform: 'linux/arm64' as const, tags: ['iris-classifier:1.0.0-arm64'], upToDate: true}]
    expect(platformImagesText(images, 'examples/iris', ['linux/amd64', 'linux/arm64'])).toBe(
      'Up to date linux/arm64: iris-classifier:1.0.0-arm64\n' +
        '  image    sha256:abc, 250.0 MB on node:20-bookworm-slim\n' +
        '\nPush them under one tag (an OCI image index): mlship push examples/iris --platform linux/amd64,linux/arm64',
    )
  })
})
