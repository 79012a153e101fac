import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('./replica-app.ts', import.meta.url));

/** One application instance running `replica-app.ts` in its own process. */
export interface Replica {
  readonly port: number;
  readonly process: ChildProcess;
  /** What it logged (JSON lines on stderr), parsed. */
  readonly logs: Record<string, unknown>[];
  /** GET through its proxy. */
  get(path: string, signal?: AbortSignal): Promise<Response>;
  /** POST /control/<what> with a JSON body; resolves with status and parsed body. */
  control(
    what: 'launch' | 'cull' | 'routes',
    body?: unknown,
  ): Promise<{ status: number; body: { code?: string; id?: string } }>;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts an instance; rejects with its exit code and output when it exits before listening. */
export async function startReplica(config: unknown): Promise<Replica> {
  const child = spawn(process.execPath, ['--conditions=dev-source', APP, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    const lines = stderr.split('\n');
    stderr = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ level: 'raw', message: line });
      }
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /listening (\d+)/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) =>
      reject(
        Object.assign(new Error(`replica exited with ${code}: ${JSON.stringify(logs)} ${stderr}`), {
          code,
          logs,
        }),
      ),
    );
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    process: child,
    logs,
    get: (path, signal) => fetch(`${base}${path}`, { signal: signal ?? AbortSignal.timeout(20_000) }),
    async control(what, body) {
      const response = await fetch(`${base}/control/${what}`, {
        method: 'POST',
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      return { status: response.status, body: (await response.json()) as { code?: string; id?: string } };
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

/** Runs an instance that must fail to start; resolves with its exit code and logs. */
export async function failingReplica(
  config: unknown,
): Promise<{ code: unknown; logs: Record<string, unknown>[] }> {
  try {
    const replica = await startReplica(config);
    await replica.kill();
    throw new Error('the replica started');
  } catch (error) {
    const failed = error as { code?: unknown; logs?: Record<string, unknown>[] };
    if (failed.logs === undefined) throw error;
    return { code: failed.code, logs: failed.logs };
  }
}
