import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LogEntry } from '../backend.ts';
import type { Route } from '../manager/route-table.ts';

/** Options of the please-wait page shown while a container starts. */
export interface PleaseWaitOptions {
  /** Page title (text). Default `Starting <name>…`. */
  title?: string | ((name: string) => string);
  /** Page body (HTML, trusted: it comes from the application). Default: one short sentence. */
  body?: string | ((name: string) => string);
  /** `Retry-After` in seconds. Default 2. */
  retryAfterSeconds?: number;
}

/** What the pages need to know (resolved options). */
export interface PageSettings {
  readonly title: (name: string) => string;
  readonly body: (name: string) => string;
  readonly retryAfterSeconds: number;
}

/** Resolves please-wait options into page settings. */
export function pageSettings(options: PleaseWaitOptions = {}): PageSettings {
  const { title, body } = options;
  return {
    title:
      typeof title === 'function' ? title : title === undefined ? (name) => `Starting ${name}…` : () => title,
    body:
      typeof body === 'function'
        ? body
        : body === undefined
          ? () => '<p>The tool is starting. This page reloads by itself when it is ready.</p>'
          : () => body,
    retryAfterSeconds: options.retryAfterSeconds ?? 2,
  };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** Whether the client is a browser asking for a page (GET/HEAD accepting HTML). */
export function wantsPage(req: IncomingMessage): boolean {
  const method = req.method;
  return (method === 'GET' || method === 'HEAD') && (req.headers.accept ?? '').includes('text/html');
}

/** Whether the client prefers JSON (an API client). */
export function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('json') && !accept.includes('text/html');
}

/**
 * Cuts a response whose head is already out: its connection closes, so the client sees it
 * broken. A pipelined response still waiting for an earlier one holds no socket yet, and Node
 * would later flush what it buffered and leave the connection open, the client waiting
 * forever: the connection is closed when it gets there instead, before any of it is written.
 */
export function cutResponse(res: ServerResponse): void {
  if (res.socket === null && !res.destroyed) res.once('socket', destroySocket);
  res.destroy();
}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}

/** Sends a generated (never cached) response. HEAD requests get the headers only. */
export function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  extraHeaders: readonly string[] = [],
): void {
  if (res.headersSent) {
    cutResponse(res);
    return;
  }
  const payload = Buffer.from(body);
  res.writeHead(status, [
    'content-type',
    contentType,
    'content-length',
    String(payload.length),
    'cache-control',
    'no-store',
    // Container logs and messages are text: never let a browser sniff them into HTML.
    'x-content-type-options',
    'nosniff',
    ...extraHeaders,
  ]);
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** Sends `{ ... }` as JSON. */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: object,
  extraHeaders?: readonly string[],
): void {
  send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(body), extraHeaders);
}

/**
 * An error or refusal for people and programs alike: JSON `{ status: 'error', code, message }`
 * for clients preferring JSON, plain text otherwise.
 */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extraHeaders?: readonly string[],
): void {
  if (wantsJson(req)) sendJson(req, res, status, { status: 'error', code, message }, extraHeaders);
  else send(req, res, status, 'text/plain; charset=utf-8', `${message}\n`, extraHeaders);
}

/** The one answer for "no such container", whether absent, unmanaged or hidden by authorization. */
export function sendNotFound(req: IncomingMessage, res: ServerResponse): void {
  sendError(req, res, 404, 'NOT_FOUND', 'Not found');
}

/**
 * Polls the readiness endpoint and reloads once it stops answering 503; counts the seconds
 * since the container was created (`sinceMs` ago when the page was made) so a long start does
 * not look stuck.
 */
function pollScript(readyUrl: string, sinceMs: number): string {
  const url = JSON.stringify(readyUrl).replace(/</g, '\\u003c');
  return `<script>(function(){var u=${url},t0=Date.now()-${Math.max(0, Math.round(sinceMs))};function tick(){var e=document.getElementById('dde-elapsed');if(e){var s=Math.floor((Date.now()-t0)/1000);e.textContent=s<60?s+' s':Math.floor(s/60)+' min '+(s%60)+' s'}}setInterval(tick,1000);function p(){fetch(u,{headers:{accept:'application/json'},cache:'no-store',credentials:'same-origin'}).then(function(r){if(r.status!==503){location.reload();return}return r.json().then(function(b){var e=document.getElementById('dde-phase');if(e&&b.phase)e.textContent=b.phase+(b.queuePosition?' (number '+b.queuePosition+' in line)':'');setTimeout(p,1000)})}).catch(function(){setTimeout(p,1000)})}setTimeout(p,1000)})();</script>`;
}

/** The phase as the page shows it: a launch waiting for a start slot says where it is in line. */
function phaseText(route: Route): string {
  return route.queuePosition === undefined
    ? route.phase
    : `${route.phase} (number ${route.queuePosition} in line)`;
}

/** Elapsed time as the page first shows it (the script then counts on). */
function elapsedText(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

const STYLE =
  '<style>body{font-family:system-ui,sans-serif;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center;background:#f6f7f9;color:#1d2330}main{max-width:48rem;padding:2rem}pre{background:#1d2330;color:#e8eaf0;padding:1rem;overflow:auto;max-height:24rem;font-size:.85rem}.phase{color:#5b6475;display:flex;align-items:center;gap:.6rem}.spinner{width:1.1rem;height:1.1rem;border:3px solid #d5d9e2;border-top-color:#3b5bdb;border-radius:50%;animation:dde-spin 1s linear infinite}@keyframes dde-spin{to{transform:rotate(360deg)}}@media (prefers-reduced-motion:reduce){.spinner{animation-duration:4s}}</style>';

function page(title: string, content: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title>${STYLE}</head><body><main><h1>${escapeHtml(title)}</h1>${content}</main></body></html>`;
}

/**
 * 503 while a container starts: the please-wait page (which polls `readyUrl` and reloads) for
 * browsers, JSON `{ status: 'starting', phase, retryAfter }` for everyone else.
 */
export function sendPleaseWait(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  readyUrl: string,
  settings: PageSettings,
): void {
  const retryAfter = ['retry-after', String(settings.retryAfterSeconds)];
  if (wantsPage(req)) {
    const sinceMs = Date.now() - route.info.createdAt.getTime();
    const content = `${settings.body(route.name)}<p class="phase"><span class="spinner" aria-hidden="true"></span><span>Status: <span id="dde-phase">${phaseText(route)}</span> · waiting <span id="dde-elapsed">${elapsedText(sinceMs)}</span></span></p>${pollScript(readyUrl, sinceMs)}`;
    send(req, res, 503, 'text/html; charset=utf-8', page(settings.title(route.name), content), retryAfter);
    return;
  }
  sendJson(
    req,
    res,
    503,
    {
      status: 'starting',
      name: route.name,
      phase: route.phase,
      queuePosition: route.queuePosition,
      retryAfter: settings.retryAfterSeconds,
    },
    retryAfter,
  );
}

/**
 * 502 for a failed container: a page with the reason, exit code and last log lines (escaped)
 * for browsers, JSON `{ status: 'failed', phase, reason, exitCode, message, logs }` otherwise.
 */
export function sendFailure(
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  logs: readonly LogEntry[],
): void {
  const failure = route.failure;
  const message = failure?.message ?? 'the container failed';
  if (wantsPage(req)) {
    const exitCode =
      failure?.exitCode === undefined ? '' : `<p>Exit code: <strong>${failure.exitCode}</strong></p>`;
    const lines = logs.map((entry) => escapeHtml(entry.text)).join('\n');
    const logBlock = logs.length > 0 ? `<p>Last lines of its output:</p><pre>${lines}</pre>` : '';
    const content = `<p>${escapeHtml(capitalize(message))}.</p>${exitCode}${logBlock}`;
    send(req, res, 502, 'text/html; charset=utf-8', page(`${route.name} could not start`, content));
    return;
  }
  sendJson(req, res, 502, {
    status: 'failed',
    name: route.name,
    phase: 'failed',
    reason: failure?.reason,
    exitCode: failure?.exitCode,
    message,
    logs: logs.map((entry) => entry.text),
  });
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Answers an upgrade request on its raw socket (the handshake was refused), then closes the
 * socket once the answer is written. `extraHeaders` is a flat `[name, value, ...]` list, as for
 * {@link send}.
 */
export function writeSocketResponse(
  socket: Duplex,
  status: number,
  message: string,
  extraHeaders: readonly string[] = [],
): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\n${headerLines(extraHeaders)}\r\n${body}`,
  );
  socket.once('finish', () => socket.destroy());
}

/** Flat `[name, value, ...]` headers as the lines of a head, each ending in CRLF. */
export function headerLines(headers: readonly string[]): string {
  let lines = '';
  for (let index = 0; index < headers.length; index += 2)
    lines += `${headers[index]}: ${headers[index + 1]}\r\n`;
  return lines;
}
