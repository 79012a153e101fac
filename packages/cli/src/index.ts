export { main } from './cli.ts';
export type { CliIo, OutputStream, TerminalFlag } from './context.ts';
