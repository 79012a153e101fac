import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { ContainerSpec, InputDelivery, JsonValue } from '@dde/core';
import { ContainerManager, envInput, fileInput, parseDuration, urlInput, validateSpec } from '@dde/core';
import { parseCommand } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { writeLine } from '../context.ts';
import { containerJson } from '../format.ts';
import { progressReporter } from '../progress.ts';
import { decimal, keyValue, UsageError, wholeNumber } from '../usage.ts';

/** `dde run <image> [options] [-- command...]`. */
export async function run(context: CommandContext, args: string[]): Promise<number> {
  const { values, positionals } = parseCommand('run', args, RUN_OPTIONS, () =>
    parseArgs({ args, allowPositionals: true, options: RUN_OPTIONS }),
  );
  const [image, ...command] = positionals;
  if (image === undefined) throw new UsageError('an image is required: dde run <image>', 'run');
  const spec: ContainerSpec = {
    name: values.name ?? defaultName(image),
    image,
    ...(command.length > 0 ? { command } : {}),
    env: Object.fromEntries((values.env ?? []).map((entry) => keyValue('--env', entry, 'run'))),
    labels: Object.fromEntries((values.label ?? []).map((entry) => keyValue('--label', entry, 'run'))),
    extraDirectories: values.dir ?? [],
    port: wholeNumber('--port', values.port, 'run'),
    cpus: decimal('--cpus', values.cpus, 'run'),
    memoryReservationMb: wholeNumber('--memory-reservation', values['memory-reservation'], 'run'),
    memoryLimitMb: wholeNumber('--memory-limit', values['memory-limit'], 'run'),
    owner: values.owner,
    readiness: {
      path: values['readiness-path'] ?? '/',
      ...(values['readiness-timeout']
        ? { timeoutMs: parseDuration(values['readiness-timeout'], '--readiness-timeout') }
        : {}),
    },
  };
  const input = await readInput(values.input, values['input-file']);
  if (input !== undefined) spec.input = input;
  if (values.deliver) spec.inputs = values.deliver.map(delivery);
  validateSpec(spec); // a bad spec is a usage error, reported before the engine is contacted

  const manager = new ContainerManager({ backend: context.backend({ network: values.network }) });
  const progress = progressReporter(context.io.stderr);
  try {
    const info = await manager.launch(spec, { signal: context.io.signal, onProgress: progress.report });
    if (values.wait) {
      progress.report({ phase: 'starting', name: info.name, message: 'waiting until it answers' });
      await manager.waitUntilReady(info.name, { signal: context.io.signal });
    }
    progress.done();
    const current = (values.wait ? manager.get(info.name)?.info : undefined) ?? info;
    if (context.json) writeLine(context.io.stdout, JSON.stringify(containerJson(current)));
    else writeLine(context.io.stdout, current.name);
    return 0;
  } finally {
    progress.done();
    await manager.close();
  }
}

function defaultName(image: string): string {
  const base = (image.split('@')[0] ?? image).split('/').pop()?.split(':')[0] ?? 'tool';
  const clean =
    base
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50) || 'tool';
  return `${clean}-${Math.random().toString(36).slice(2, 8)}`;
}

async function readInput(
  inline: string | undefined,
  file: string | undefined,
): Promise<JsonValue | undefined> {
  if (inline !== undefined && file !== undefined) {
    throw new UsageError('give either --input or --input-file, not both', 'run');
  }
  const text =
    file === undefined
      ? inline
      : await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
          throw new UsageError(`cannot read --input-file ${file}: ${error.code ?? error.message}`, 'run');
        });
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new UsageError(
      `${file ? `--input-file ${file}` : '--input'} is not valid JSON: ${(error as Error).message}`,
      'run',
    );
  }
}

function delivery(text: string): InputDelivery {
  if (text === 'env') return envInput();
  if (text.startsWith('file:')) return fileInput(text.slice('file:'.length));
  if (text.startsWith('url:')) return urlInput(text.slice('url:'.length));
  throw new UsageError(`--deliver expects env, file:/path or url:https://..., got "${text}"`, 'run');
}

const RUN_OPTIONS = {
  name: { type: 'string' },
  port: { type: 'string', short: 'p' },
  env: { type: 'string', short: 'e', multiple: true },
  label: { type: 'string', short: 'l', multiple: true },
  input: { type: 'string' },
  'input-file': { type: 'string' },
  deliver: { type: 'string', multiple: true },
  dir: { type: 'string', multiple: true },
  cpus: { type: 'string' },
  'memory-reservation': { type: 'string' },
  'memory-limit': { type: 'string' },
  owner: { type: 'string' },
  'readiness-path': { type: 'string' },
  'readiness-timeout': { type: 'string' },
  wait: { type: 'boolean' },
  network: { type: 'string' },
} as const;
