import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two files at a time: on a 2-core machine the default (one) leaves a core idle while each
    // file's imports compile (the suite took 8 min instead of 5 on the CI machine).
    maxWorkers: 2,
    // On CI a JSON report is kept too, so .ci/run can print one plain "N passed, N failed" line.
    reporters: process.env.CI
      ? ['default', ['json', { outputFile: '.tmp/vitest-report.json' }]]
      : ['default'],
  },
});
