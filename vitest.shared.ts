import { defineProject } from 'vitest/config';

/**
 * The vitest project of one workspace package. Sibling packages resolve to their TypeScript
 * source through the `dev-source` export condition, so tests never need a build first.
 */
export function packageProject(name: string, options: { testTimeout?: number } = {}) {
  return defineProject({
    resolve: { conditions: ['dev-source'] },
    ssr: { resolve: { conditions: ['dev-source'], externalConditions: ['dev-source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      testTimeout: options.testTimeout ?? 60_000,
      hookTimeout: options.testTimeout ?? 60_000,
    },
  });
}
