import os from 'node:os'
import path from 'node:path'

import {defineConfig} from 'vitest/config'

// Builds in tests cache file digests and the bundled server (src/util/cache-dir.ts) in a folder of the tests' own, not
// in the developer's ~/.cache/mlship, which a test run should neither read nor fill.
const env = {MLSHIP_CACHE_DIR: path.join(os.tmpdir(), 'mlship-test-cache')}

// Three projects, three kinds of test:
// - unit (`npm test`): *.test.ts beside the code. Fast and deterministic: timing goes through an injected clock or
//   vitest's fake timers, so a busy machine slows them down but never fails them.
// - component (`npm run test:component`): *.component.test.ts, real servers under real load whose assertions are about
//   wall-clock time (percentiles, stalls, refusals under overload). One file at a time, long timeouts.
// - integration (`npm run test:integration`): *.integration.test.ts, a Docker engine and a registry.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // oclif writes through console.log; @oclif/test captures process.stdout, which vitest's interception
          // bypasses.
          disableConsoleIntercept: true,
          env,
          exclude: ['**/*.integration.test.ts', '**/*.component.test.ts', 'node_modules/**', 'dist/**'],
          // A timeout only catches a hang: the assertions do not depend on time, and with the CPUs saturated by other
          // work a test that spawns the CLI or compiles the Kubernetes schemas takes several times as long.
          hookTimeout: 120_000,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'scripts/**/*.test.ts'],
          // Files share a worker's module cache: loading oclif's commands (each imports onnxruntime, fastify,
          // dockerode...) and the serving app once per worker instead of once per file halves the run's CPU time.
          // Safe because mlship keeps no module-level state, and tests restore what they change (timers, spies, exit
          // codes).
          isolate: false,
          // Vitest runs on all CPUs but one by default: on a 2-core machine one file at a time. The unit tests wait on
          // servers and workers as much as they compute, so one file per CPU keeps both busy.
          maxWorkers: os.availableParallelism(),
          name: 'unit',
          testTimeout: 120_000,
        },
      },
      {
        test: {
          disableConsoleIntercept: true,
          env,
          fileParallelism: false,
          hookTimeout: 120_000,
          include: ['src/**/*.component.test.ts', 'test/**/*.component.test.ts', 'scripts/**/*.component.test.ts'],
          name: 'component',
          testTimeout: 120_000,
        },
      },
      {
        test: {
          disableConsoleIntercept: true,
          env,
          fileParallelism: false,
          hookTimeout: 600_000,
          include: ['src/**/*.integration.test.ts', 'test/**/*.integration.test.ts'],
          name: 'integration',
          testTimeout: 300_000,
        },
      },
    ],
  },
})
