import {defineConfig} from 'vitest/config'

// Fast tests sit beside the code as *.test.ts; tests that need a Docker engine or a registry are
// *.integration.test.ts and run on their own with `npm run test:integration` (long timeouts, one file at a time).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // oclif writes through console.log; @oclif/test captures process.stdout, which vitest's interception bypasses.
          disableConsoleIntercept: true,
          exclude: ['**/*.integration.test.ts', 'node_modules/**', 'dist/**'],
          hookTimeout: 30_000,
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'scripts/**/*.test.ts'],
          name: 'unit',
          testTimeout: 30_000,
        },
      },
      {
        test: {
          disableConsoleIntercept: true,
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
