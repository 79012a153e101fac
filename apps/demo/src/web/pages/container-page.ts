/** One container in detail: what it is, its request history and its logs, and the kill button. */
import type { ActivityRecord, LogEntry, Route } from '@dde/core';
import { DEMO_LABELS } from '../../launch/launcher.ts';
import { findTool } from '../../tools/catalog.ts';
import { age, ago, clock } from '../format.ts';
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';
import { layout } from '../layout.ts';
import { phaseBadge } from './badges.ts';
import { killQuestion } from './kill.ts';

/** What {@link containerPage} shows. */
export interface ContainerPageOptions {
  /** The container's route (live state from the manager). */
  readonly route: Route;
  /** Its public URL. */
  readonly url: string;
  /** Recorded requests and WebSocket sessions, oldest first. */
  readonly history: readonly ActivityRecord[];
  /** Its last log lines. */
  readonly logs: readonly LogEntry[];
  /** Set when the logs could not be read. */
  readonly logsError?: string;
  /** The signed-in user. */
  readonly user: string;
  /** Whether login is on. */
  readonly login: boolean;
  /** Footer line. */
  readonly footer?: string;
}

function historyRow(record: ActivityRecord): SafeHtml {
  if (record.type === 'http') {
    return html`<tr><td>${clock(record.time)}</td><td>${record.method}</td><td><code>${record.path}</code></td>
      <td class="num">${record.status}</td><td class="num">${record.durationMs.toFixed(0)} ms</td>
      <td class="num">${record.bytesIn} / ${record.bytesOut}</td><td>${record.user ?? ''}</td></tr>`;
  }
  return html`<tr><td>${clock(record.time)}</td><td>WebSocket ${record.event}</td><td><code>${record.path}</code></td>
    <td class="num">${record.status}</td><td class="num">${record.durationMs === undefined ? '' : `${record.durationMs.toFixed(0)} ms`}</td>
    <td class="num">${record.bytesIn === undefined ? '' : `${record.bytesIn} / ${record.bytesOut}`}</td><td>${record.user ?? ''}</td></tr>`;
}

/** The whole page. */
export function containerPage(options: ContainerPageOptions): SafeHtml {
  const { route, url } = options;
  const info = route.info;
  const toolId = info.labels[DEMO_LABELS.tool] ?? '';
  const recent = [...options.history].reverse();
  const lastActivity = options.history.at(-1)?.time;
  const body = html`<section class="card" aria-labelledby="container-heading">
  <h1 id="container-heading">${route.name} ${phaseBadge(route.phase)}</h1>
  ${route.phase === 'failed' ? html`<div class="notice error" role="alert">${route.failure?.message ?? 'failed'}</div>` : ''}
  <dl class="facts">
    <dt>Tool</dt><dd>${findTool(toolId)?.title ?? (toolId || 'not a demo tool')}</dd>
    <dt>Data file</dt><dd>${info.labels[DEMO_LABELS.file] || '—'}</dd>
    <dt>Input delivery</dt><dd>${info.labels[DEMO_LABELS.delivery] || '—'}</dd>
    <dt>Owner</dt><dd>${info.owner ?? '—'}</dd>
    <dt>State</dt><dd>${info.state}${info.exitCode === undefined || info.state === 'running' ? '' : ` (exit code ${info.exitCode})`}</dd>
    <dt>Image</dt><dd><code>${info.image}</code></dd>
    <dt>Memory</dt><dd>${info.memoryReservationMb ?? '—'} MB reserved, ${info.memoryLimitMb ?? '—'} MB limit</dd>
    <dt>Age</dt><dd>${age(info.createdAt)}</dd>
    <dt>Last activity</dt><dd>${lastActivity === undefined ? 'no requests yet' : ago(lastActivity)}</dd>
    <dt>Public URL</dt><dd><a href="${url}">${url}</a></dd>
    <dt>Upstream</dt><dd>${route.upstream ? `${route.upstream.host}:${route.upstream.port}` : '—'}</dd>
  </dl>
  <div class="actions" style="margin-top:1rem">
    ${route.phase === 'ready' ? html`<a class="button" href="${url}">Open</a>` : ''}
    <a class="button secondary" href="/containers/${route.name}">Refresh</a>
    <form method="post" action="/containers/${route.name}/remove" data-confirm="${killQuestion(route.name, route.openWebSockets)}"><button class="danger" type="submit" data-action="kill">Kill ${route.name}</button></form>
  </div>
</section>
<section class="card" aria-labelledby="history-heading">
  <h2 id="history-heading">Request history <span class="hint">(${options.history.length} recorded, newest first)</span></h2>
  ${
    recent.length === 0
      ? html`<p class="empty">No requests yet.</p>`
      : html`<div class="table-wrap"><table data-testid="history"><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Method</th><th scope="col">Path</th>
    <th scope="col" class="num">Status</th><th scope="col" class="num">Duration</th><th scope="col" class="num">Bytes in / out</th><th scope="col">User</th></tr></thead>
    <tbody>${recent.slice(0, 200).map(historyRow)}</tbody></table></div>`
  }
</section>
<section class="card" aria-labelledby="logs-heading">
  <h2 id="logs-heading">Logs <span class="hint">(last ${options.logs.length} lines)</span></h2>
  ${
    options.logsError
      ? html`<p class="notice error">${options.logsError}</p>`
      : options.logs.length === 0
        ? html`<p class="empty">No output yet.</p>`
        : html`<pre class="logs" data-testid="logs" tabindex="0">${options.logs.map(
            (entry) => html`<span class="${entry.stream}">${entry.text}</span>\n`,
          )}</pre>`
  }
</section>`;
  return layout({
    title: route.name,
    active: 'dashboard',
    user: options.user,
    login: options.login,
    footer: options.footer,
    body,
  });
}
