/**
 * What every demo tool shares. It runs inside the tool containers on a bare `node` binary, so it
 * imports nothing but Node's own modules; it is copied into each tool image next to the tool.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { hostname } from 'node:os';

/** One data file named in the input: where the tool downloads it from. */
export interface InputFile {
  /** File name shown to people. */
  readonly name: string;
  /** Where the demo app serves it (reachable from inside the container). */
  readonly url: string;
  /** Size in bytes. */
  readonly bytes?: number;
}

/** The input JSON the demo app builds for each launch. */
export interface ToolInput {
  /** Which tool it was built for. */
  readonly tool?: string;
  /** Data files to show. */
  readonly files?: readonly InputFile[];
  /** Tool parameters chosen on the launch form. */
  readonly parameters?: Readonly<Record<string, string | number | boolean>>;
  /** The public URL the tool lives under, e.g. `http://localhost:8000/docker/alice-viewer/`. */
  readonly publicUrl?: string;
  /** The public path prefix (the path of `publicUrl`). */
  readonly basePath?: string;
  /** Who launched it. */
  readonly owner?: string;
}

/** The input and how it arrived. */
export interface ReceivedInput {
  /** The parsed input. */
  readonly input: ToolInput;
  /** `env INPUT_JSON`, `file <path>` or `url <url>`. */
  readonly via: string;
}

/**
 * Reads the input from whichever delivery the launch used: the `INPUT_JSON` variable, the file
 * named by `INPUT_JSON_PATH`, or the URL in `INPUT_JSON_URL`, in that order.
 */
export async function readInput(): Promise<ReceivedInput> {
  const env = process.env;
  if (env.INPUT_JSON) return { input: JSON.parse(env.INPUT_JSON) as ToolInput, via: 'env INPUT_JSON' };
  if (env.INPUT_JSON_PATH) {
    const text = await readFile(env.INPUT_JSON_PATH, 'utf8');
    return { input: JSON.parse(text) as ToolInput, via: `file ${env.INPUT_JSON_PATH}` };
  }
  if (env.INPUT_JSON_URL) {
    const response = await fetch(env.INPUT_JSON_URL, { signal: AbortSignal.timeout(15_000) });
    if (!response.ok) throw new Error(`GET ${env.INPUT_JSON_URL} answered ${response.status}`);
    return { input: (await response.json()) as ToolInput, via: `url ${env.INPUT_JSON_URL}` };
  }
  return { input: {}, via: 'none' };
}

/** Downloads one data file named in the input. */
export async function download(file: InputFile): Promise<string> {
  const response = await fetch(file.url, { signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`GET ${file.url} answered ${response.status}`);
  return response.text();
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: unknown): string {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** The port to listen on: `PORT`, default 8080. */
export function listenPort(): number {
  return Number(process.env.PORT ?? 8080);
}

/** Writes one line to stdout with the tool's name, so `docker logs` reads well. */
export function log(tool: string, message: string): void {
  process.stdout.write(`${new Date().toISOString()} ${tool}: ${message}\n`);
}

/** A whole HTML page in the tools' shared look, with a bar naming the tool and its container. */
export function toolPage(options: { title: string; accent: string; body: string; script?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title>
<style>
  :root { --accent: ${options.accent}; color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  header { background: var(--accent); color: #fff; padding: 0.7rem 1.5rem; display: flex; gap: 1rem; align-items: baseline; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header small { opacity: 0.85; }
  main { padding: 1.25rem 1.5rem; max-width: 70rem; }
  section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 1rem 1.25rem; margin-bottom: 1rem; }
  h2 { font-size: 1rem; margin: 0 0 0.6rem; }
  table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
  th, td { border-bottom: 1px solid #e6e9ee; padding: 0.3rem 0.6rem; text-align: left; }
  th { background: #f0f2f5; position: sticky; top: 0; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .scroll { max-height: 28rem; overflow: auto; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
  dt { color: #5b6475; }
  dd { margin: 0; word-break: break-all; }
  button, input { font: inherit; }
  button { background: var(--accent); color: #fff; border: 0; border-radius: 6px; padding: 0.4rem 0.9rem; cursor: pointer; }
  button:focus-visible, input:focus-visible, a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
  code { background: #eef0f3; padding: 0 0.25rem; border-radius: 4px; }
</style>
</head>
<body>
<header><h1>${escapeHtml(options.title)}</h1><small>container ${escapeHtml(hostname())}</small></header>
<main>${options.body}</main>
${options.script ? `<script>${options.script}</script>` : ''}
</body>
</html>`;
}

/** The "what this tool received" section every tool shows. */
export function inputSection(received: ReceivedInput): string {
  const { input, via } = received;
  const parameters = Object.entries(input.parameters ?? {});
  return `<section aria-labelledby="input-heading">
<h2 id="input-heading">Input</h2>
<dl>
  <dt>Delivered by</dt><dd data-testid="delivery">${escapeHtml(via)}</dd>
  <dt>Public URL</dt><dd data-testid="public-url">${escapeHtml(input.publicUrl ?? '')}</dd>
  <dt>Owner</dt><dd>${escapeHtml(input.owner ?? 'nobody')}</dd>
  <dt>Files</dt><dd>${(input.files ?? []).map((file) => escapeHtml(file.name)).join(', ') || 'none'}</dd>
  <dt>Parameters</dt><dd>${parameters.map(([key, value]) => `${escapeHtml(key)}=${escapeHtml(value)}`).join(', ') || 'none'}</dd>
</dl>
<p><a href="input.json">input.json</a> as received</p>
</section>`;
}

/** Answers `GET input.json` with the input as received; returns whether it did. */
export function serveInputJson(
  url: string | undefined,
  received: ReceivedInput,
  res: ServerResponse,
): boolean {
  if (url?.split('?')[0] !== '/input.json') return false;
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(received.input, null, 2));
  return true;
}

/**
 * Starts the tool's HTTP server on {@link listenPort} and stops it cleanly on SIGTERM/SIGINT
 * (as PID 1 in its container, Node gets no default signal handlers).
 */
export function startServer(
  tool: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  const server = createServer(handler);
  // Longer than the proxy's pooled-connection idle time, so the tool never closes a connection
  // the proxy is about to reuse.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.listen(listenPort(), () => log(tool, `listening on port ${listenPort()}`));
  const stop = (): void => {
    log(tool, 'stopping');
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
