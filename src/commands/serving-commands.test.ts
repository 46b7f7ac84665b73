import {runCommand} from '@oclif/test'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {serveInProcess} from '../serving/serve-in-process.js'
import {startServer} from '../serving/server.js'
import {CLOSE_AT_ONCE} from '../serving/test-support/servers.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const iris = path.join(repoRoot, 'examples/iris')

afterEach(() => {
  process.exitCode = undefined
})

describe('mlship serve', () => {
  it('without --local needs a Docker engine, and says to use --local when none answers (exit 3)', async () => {
    const previous = process.env.DOCKER_HOST
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock'
    try {
      const {error} = await runCommand(['serve', iris], {root: repoRoot})
      expect(error?.oclif?.exit).toBe(3)
      expect(error?.message).toMatch(/docker/i)
      expect(JSON.stringify(error)).toMatch(/--local/)
    } finally {
      if (previous === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = previous
    }
  })

  it('says which model.yaml is missing (exit 2)', async () => {
    const {error} = await runCommand(['serve', path.join(repoRoot, 'no-such-dir'), '--local'], {root: repoRoot})
    expect(error?.message).toMatch(/no-such-dir\/model.yaml: no such file/)
    expect(error?.oclif?.exit).toBe(2)
  })

  it('refuses a port in use with a hint (exit 2)', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as {port: number}).port
    try {
      const {error} = await runCommand(['serve', iris, '--local', '--host', '127.0.0.1', '--port', String(port)], {
        root: repoRoot,
      })
      expect(error?.message).toMatch(new RegExp(`port ${port} on 127.0.0.1 is already in use`))
      expect(error?.oclif?.exit).toBe(2)
      await expect(startServer({dir: iris, host: '127.0.0.1', logger: false, port})).rejects.toMatchObject({
        code: 'PORT_IN_USE',
        suggestions: [expect.stringMatching(/--port/)],
      })
    } finally {
      blocker.close()
    }
  })

  it('serves in this process until told to stop, and reports its routes', async () => {
    let url = ''
    const result = await serveInProcess({
      dir: iris,
      host: '127.0.0.1',
      onListening: (info) => {
        url = info.url
      },
      port: 0,
      until: async (server) => {
        const response = await fetch(`${server.url}/predict`, {
          body: '{"features": [[5.1, 3.5, 1.4, 0.2]]}',
          headers: {'content-type': 'application/json'},
          method: 'POST',
        })
        expect(response.status).toBe(200)
        return 'test'
      },
      workers: 1,
    })
    expect(result).toMatchObject({model: 'iris-classifier', stoppedBy: 'test', version: '1.0.0', workers: 1})
    expect(result.url).toBe(url)
    expect(result.routes).toContain('POST /predict')
  })
})

// runCommand joins its arguments and splits them on spaces again: JSON arguments here have none.
describe('mlship predict', () => {
  it('predicts one input in this process', async () => {
    const {stdout} = await runCommand(['predict', iris, '-i', '{"features":[[5.1,3.5,1.4,0.2]]}', '--json'], {
      root: repoRoot,
    })
    const result = JSON.parse(stdout)
    expect(result.labels).toEqual(['setosa'])
    expect(result.predictions[0][0]).toBeCloseTo(0.98158, 4)
  })

  it('predicts the example of model.yaml, and a bare nested array', async () => {
    const example = JSON.parse((await runCommand(['predict', iris, '--example', '--json'], {root: repoRoot})).stdout)
    expect(example.labels).toEqual(['setosa', 'virginica'])
    const bare = await runCommand(['predict', iris, '-i', '[[6.7,3.0,5.2,2.3]]'], {root: repoRoot})
    expect(bare.stdout).toMatch(/labels\s+virginica/)
  })

  it('asks a running server with --url', async () => {
    const server = await startServer({dir: iris, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
    try {
      const {stdout} = await runCommand(['predict', '--url', server.url, '-i', '[[5.1,3.5,1.4,0.2]]', '--json'], {
        root: repoRoot,
      })
      expect(JSON.parse(stdout).labels).toEqual(['setosa'])
      const refused = await runCommand(['predict', '--url', server.url, '-i', '[[5.1]]'], {root: repoRoot})
      expect(refused.error?.message).toMatch(/the server refused the request \(400\): input "features": expected shape/)
      expect(refused.error?.oclif?.exit).toBe(2)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
    const down = await runCommand(['predict', '--url', server.url, '-i', '[[5.1,3.5,1.4,0.2]]'], {root: repoRoot})
    expect(down.error?.message).toMatch(/no server answers at/)
    expect(down.error?.oclif?.exit).toBe(5)
  })

  it('refuses input that does not fit the model, naming the input (exit 2)', async () => {
    const {error} = await runCommand(['predict', iris, '-i', '{"features":[[1,2]]}'], {root: repoRoot})
    expect(error?.message).toMatch(/input "features": expected shape \[batch, 4\], got \[1, 2\]/)
    expect(error?.oclif?.exit).toBe(2)
    const notJson = await runCommand(['predict', iris, '-i', '{features'], {root: repoRoot})
    expect(notJson.error?.message).toMatch(/-i is not valid JSON/)
  })
})

describe('mlship types', () => {
  it('writes the request and response types of the model as a .d.ts file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mlship-types-'))
    try {
      const file = path.join(dir, 'iris.d.ts')
      const {stdout} = await runCommand(['types', iris, '--out', file], {root: repoRoot})
      expect(stdout).toMatch(/wrote .*iris.d.ts/)
      const types = await readFile(file, 'utf8')
      expect(types).toContain('export type FeaturesInput = Array<[number, number, number, number]>')
      expect(types).toContain('export type PredictRequest = {features: FeaturesInput}')
      expect(types).toContain('labels?: Array<"setosa" | "versicolor" | "virginica">')
      expect(types).toContain('export interface V2InferRequest')
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  })
})
