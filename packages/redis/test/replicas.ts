import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('./replica-app.ts', import.meta.url));

/** A parsed JSON log line of a replica process. */
export type LogLine = Record<string, unknown>;

/** What a control call answered. */
export interface ControlAnswer {
  readonly status: number;
  readonly body: { code?: string; id?: string; message?: string };
}

/** One namespace opened in a replica process: one application instance of the test. */
export interface Instance {
  /** GET `/docker/<path>` through this instance's proxy. */
  get(path: string): Promise<Response>;
  /** Launches through this instance's manager. */
  launch(spec: unknown): Promise<ControlAnswer>;
  /** What this instance logged. */
  logs(): LogLine[];
}

/** One application process running `replica-app.ts`. */
export interface Replica {
  readonly process: ChildProcess;
  /** The loopback port it serves on (`/<namespace>/docker/<name>/...`, WebSocket upgrades included). */
  readonly port: number;
  /** Where it listens: `http://127.0.0.1:<port>`. */
  readonly base: string;
  /** Opens a namespace in it (a manager on Redis and the engine); rejects when that fails. */
  open(namespace: string, redisUrl: string, manager?: unknown): Promise<Instance>;
  /** Opens a namespace that must fail to open; resolves with the answer. */
  openFailing(namespace: string, redisUrl: string): Promise<ControlAnswer>;
  /** Closes a namespace it opened. */
  close(namespace: string): Promise<void>;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts a replica process; resolves once it listens. */
export async function startReplica(): Promise<Replica> {
  const child = spawn(process.execPath, ['--conditions=dev-source', APP], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let partial = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
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
      reject(new Error(`replica exited with ${code}: ${JSON.stringify(logs)} ${partial}`)),
    );
  });
  const base = `http://127.0.0.1:${port}`;
  const post = async (path: string, body?: unknown): Promise<ControlAnswer> => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    return { status: response.status, body: (await response.json()) as ControlAnswer['body'] };
  };
  return {
    process: child,
    port,
    base,
    async open(namespace, redisUrl, manager) {
      const answer = await post('/control/open', { namespace, redisUrl, manager });
      if (answer.status !== 200) throw new Error(`cannot open ${namespace}: ${JSON.stringify(answer.body)}`);
      return {
        get: (path) => fetch(`${base}/${namespace}/docker/${path}`, { signal: AbortSignal.timeout(20_000) }),
        launch: (spec) => post(`/control/${namespace}/launch`, spec),
        logs: () => logs.filter((line) => line.namespace === namespace),
      };
    },
    openFailing: (namespace, redisUrl) => post('/control/open', { namespace, redisUrl }),
    async close(namespace) {
      if (child.exitCode === null && child.signalCode === null)
        await post(`/control/${namespace}/close`).catch(() => {});
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}
