import { defineConfig } from 'vitest/config';

// One vitest project per workspace package; each package's vitest.config.ts names itself.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*'],
    // Integration tests share one Docker Engine on a 2-core machine: keep parallelism modest.
    maxWorkers: 2,
  },
});
