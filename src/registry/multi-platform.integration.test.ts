import {execa} from 'execa'
import {cp, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {baseImageForTests, engineForTests, inCi} from '../docker/test-support/engine.js'
import {RegistryClient} from './client.js'
import {
  deleteRepository,
  loggedInDockerConfig,
  mlship,
  registryTestEnv,
  removeLocalReferences,
  REPO_ROOT,
  uniqueRepository,
} from './test-support/env.js'

const registry = registryTestEnv()
const {engine, skipReason} = await engineForTests()
const arm64Base = process.env.MLSHIP_TEST_BASE_IMAGE_ARM64
if (!arm64Base && inCi()) {
  throw new Error(
    'CI is set but MLSHIP_TEST_BASE_IMAGE_ARM64 is not: source scripts/test-env.sh (it builds the arm64 stand-in)',
  )
}

/**
 * What /proc/cpuinfo says on an arm64 server (a Neoverse N1, as in AWS Graviton2), one entry per CPU. qemu-user 7.2
 * (Debian bookworm's) passes the host's x86 /proc/cpuinfo through to arm64 programs, and the cpuinfo library inside
 * onnxruntime's arm64 build crashes parsing it (SIGSEGV while the native module loads). A real arm64 machine has a
 * real one, and newer qemu emulates it; here the test gives the container one, as lxcfs gives containers theirs.
 */
function arm64CpuInfo(cpus: number): string {
  return Array.from(
    {length: cpus},
    (_, i) =>
      `processor\t: ${i}\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n`,
  ).join('\n')
}

describe.skipIf(!registry || !engine || !arm64Base)(
  `one tag for linux/amd64 and linux/arm64, the arm64 image run under emulation${skipReason ? ` (${skipReason})` : ''}${arm64Base ? '' : ' (no MLSHIP_TEST_BASE_IMAGE_ARM64)'}`,
  () => {
    const repository = uniqueRepository('multiarch')
    const target = registry ? `${registry.host}/${repository}` : ''
    const containers: string[] = []
    let dir: string
    let baseImage: string
    let dockerConfig: {dir: string; cleanup: () => Promise<void>} | undefined
    let childEnv: NodeJS.ProcessEnv
    const built: Record<string, string> = {}
    let pushed: {
      digest: string
      mediaType: string
      platforms: Array<{platform: string; digest: string; imageId: string}>
    }

    const platformFlags = () => [
      '--platform',
      'linux/amd64,linux/arm64',
      '--base-image',
      baseImage,
      '--base-image',
      `linux/arm64=${arm64Base!}`,
    ]

    beforeAll(async () => {
      baseImage = await baseImageForTests(engine!)
      dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-multiarch-'))
      await cp(path.join(REPO_ROOT, 'examples/iris'), dir, {recursive: true})
      dockerConfig = await loggedInDockerConfig(registry!)
      childEnv = {...process.env, DOCKER_CONFIG: dockerConfig.dir}
    })

    afterAll(async () => {
      for (const id of containers) await execa('docker', ['rm', '-f', id], {reject: false})
      if (registry) await deleteRepository(registry, repository)
      await removeLocalReferences(target)
      await dockerConfig?.cleanup()
      await rm(dir, {force: true, recursive: true})
    })

    it('build --platform linux/amd64,linux/arm64 makes one image per platform, without emulation', async () => {
      const {exitCode, stderr, stdout} = await mlship(
        ['build', dir, ...platformFlags(), '--tag', `${target}:1.0.0`, '--json'],
        {env: childEnv},
      )
      expect(exitCode, stderr).toBe(0)
      const result = JSON.parse(stdout) as {
        mode: string
        images: Array<{platform: string; imageId: string; tags: string[]}>
      }
      expect(result.mode).toBe('platforms')
      expect(result.images.map((i) => i.platform)).toEqual(['linux/amd64', 'linux/arm64'])
      for (const image of result.images) {
        const arch = image.platform.split('/')[1]!
        expect(image.tags).toContain(`${target}:1.0.0-${arch}`)
        const inspected = await engine!.images.inspect(image.imageId)
        expect(inspected?.architecture).toBe(arch)
        built[image.platform] = image.imageId
      }
      // onnxruntime's native files of each platform, and only those
      const listing = async (imageId: string) =>
        (
          await execa('docker', [
            'run',
            '--rm',
            '--entrypoint',
            'ls',
            imageId,
            '/app/node_modules/onnxruntime-node/bin/napi-v6/linux',
          ])
        ).stdout.trim()
      expect(await listing(built['linux/amd64']!)).toBe('x64')
      expect(await listing(built['linux/arm64']!)).toBe('arm64')
    })

    it('push publishes both under one tag as an OCI image index, each platform digest in the result', async () => {
      const {exitCode, stderr, stdout} = await mlship(
        ['push', dir, '--registry', target, ...platformFlags(), '--json'],
        {env: childEnv},
      )
      expect(exitCode, stderr).toBe(0)
      pushed = JSON.parse(stdout)
      expect(pushed.mediaType).toBe('application/vnd.oci.image.index.v1+json')
      expect(pushed.platforms.map((p) => [p.platform, p.imageId])).toEqual([
        ['linux/amd64', built['linux/amd64']],
        ['linux/arm64', built['linux/arm64']],
      ])

      const client = new RegistryClient({
        credentials: {password: registry!.password, username: registry!.user},
        host: registry!.host,
        repository,
      })
      const index = await client.manifest('1.0.0')
      expect(index?.digest).toBe(pushed.digest)
      expect(
        index?.manifest.manifests?.map((m) => [`${m.platform?.os}/${m.platform?.architecture}`, m.digest]),
      ).toEqual(pushed.platforms.map((p) => [p.platform, p.digest]))
      expect((await client.tags()).sort()).toEqual(['1.0.0', 'latest'])
    })

    it('versions shows the platforms of the version', async () => {
      const {exitCode, stdout} = await mlship(['versions', '--registry', target, '--json'], {env: childEnv})
      expect(exitCode).toBe(0)
      const {versions} = JSON.parse(stdout) as {versions: Array<{version: string; platforms: unknown}>}
      expect(versions[0]).toMatchObject({
        platforms: pushed.platforms.map(({digest, platform}) => ({digest, platform})),
        version: '1.0.0',
      })
    })

    it('pulling the tag for linux/arm64 gives the arm64 image, which serves a correct prediction under emulation', async () => {
      await execa('docker', ['rmi', `${target}:1.0.0`], {reject: false})
      await execa('docker', ['--config', dockerConfig!.dir, 'pull', '--platform', 'linux/arm64', `${target}:1.0.0`])
      const pulled = await engine!.images.inspect(`${target}:1.0.0`)
      expect(pulled?.architecture).toBe('arm64')
      expect(pulled?.id).toBe(built['linux/arm64'])

      const cpuinfo = path.join(dir, 'arm64-cpuinfo')
      await writeFile(cpuinfo, arm64CpuInfo(os.cpus().length))
      const {stdout: id} = await execa('docker', [
        'run',
        '-d',
        '-p',
        '127.0.0.1::8080',
        '-v',
        `${cpuinfo}:/proc/cpuinfo:ro`,
        `${target}:1.0.0`,
      ])
      containers.push(id.trim())
      const {stdout: mapped} = await execa('docker', ['port', id.trim(), '8080/tcp'])
      const url = `http://${mapped.split('\n')[0]!.trim()}`

      // Under emulation the model takes seconds to load, not milliseconds.
      let ready = false
      for (let i = 0; i < 240 && !ready; i++) {
        ready = await fetch(`${url}/ready`, {signal: AbortSignal.timeout(5000)})
          .then((r) => r.ok)
          .catch(() => false)
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 500))
      }
      const logs = async () => (await execa('docker', ['logs', id.trim()], {all: true, reject: false})).all
      expect(ready, await logs()).toBe(true)
      const {stdout: arch} = await execa('docker', ['exec', id.trim(), 'node', '-p', 'process.arch'])
      expect(arch.trim()).toBe('arm64')

      const response = await fetch(`${url}/predict`, {
        body: JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]}),
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
      expect(response.status).toBe(200)
      const body = (await response.json()) as {predictions: number[][]; labels: string[]}
      // The iris model's own answer on x64 (onnxruntime's probabilities): arm64 agrees to float32 rounding.
      const expected = [0.9815846681594849, 0.018415343016386032, 1.4496836620025988e-8]
      body.predictions[0]!.forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 5))
      expect(body.labels).toEqual(['setosa'])
    })
  },
)
