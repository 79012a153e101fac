import type { TestProject } from 'vitest/node';
import { type Moto, startMoto, toolAvailable } from './tools.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The endpoint of the one moto_server all test files share, or '' when it is not installed. */
    motoEndpoint: string;
  }
}

let moto: Moto | undefined;

/**
 * Starts one moto_server for all of the package's test files: its first CloudFormation stack
 * costs it many seconds of warm-up, paid once this way. Files use distinct host and setup names.
 */
export async function setup(project: TestProject): Promise<void> {
  moto = toolAvailable('moto_server', '--help') ? await startMoto() : undefined;
  project.provide('motoEndpoint', moto?.endpoint ?? '');
}

export async function teardown(): Promise<void> {
  await moto?.stop();
}
