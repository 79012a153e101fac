export { main } from './cli.ts';
export type { CliIo } from './context.ts';
