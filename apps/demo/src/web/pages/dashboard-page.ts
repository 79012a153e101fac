/**
 * The dashboard: the memory budget and what LRU eviction would take next, and every live
 * container with its tool, owner, phase, memory, age, last activity and actions.
 */

import { formatDuration } from '@dde/core';
import type { DashboardModel } from '../dashboard-model.ts';
import { age, ago } from '../format.ts';
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';
import type { Notice } from '../layout.ts';
import { layout } from '../layout.ts';
import { phaseBadge } from './badges.ts';
import { killQuestion } from './kill.ts';

/** What {@link dashboardPage} shows. */
export interface DashboardPageOptions {
  /** The data. */
  readonly model: DashboardModel;
  /** The signed-in user. */
  readonly user: string;
  /** Whether login is on (rows are then the user's own). */
  readonly login: boolean;
  /** Messages at the top. */
  readonly notices?: readonly Notice[];
  /** Footer line. */
  readonly footer?: string;
}

/** The part of the dashboard that refreshes itself. */
export function dashboardLive(options: DashboardPageOptions): SafeHtml {
  const { model } = options;
  const { capacity, now } = model;
  const percent = Math.min(100, Math.round((capacity.usedMb / capacity.budgetMb) * 100));
  const visible = new Set(model.rows.map((row) => row.name));
  const next = capacity.evictionOrder.slice(0, 5);
  const capacityCard = html`<section class="card" aria-labelledby="capacity-heading" data-testid="capacity">
  <h2 id="capacity-heading">Memory budget</h2>
  <div class="meter${percent >= 90 ? ' full' : ''}" role="meter" aria-valuemin="0" aria-valuemax="${capacity.budgetMb}"
    aria-valuenow="${capacity.usedMb}" aria-label="Memory reserved"><span style="width: ${percent}%"></span></div>
  <div class="stats">
    <div class="stat"><strong data-testid="used-mb">${capacity.usedMb} MB</strong><span class="label">reserved of ${capacity.budgetMb} MB (${percent}%)</span></div>
    <div class="stat"><strong>${Math.max(0, capacity.budgetMb - capacity.usedMb)} MB</strong><span class="label">free</span></div>
    <div class="stat"><strong>${model.rows.length}</strong><span class="label">${options.login ? 'containers of yours' : 'containers'}</span></div>
  </div>
  <p class="eviction" data-testid="eviction-order">LRU would evict next:
    ${
      next.length === 0
        ? html`<span class="hint">nothing (no idle container holds memory)</span>`
        : next.map(
            (name, index) =>
              html`${index > 0 ? html`<span aria-hidden="true">→</span>` : ''}<code>${visible.has(name) || !options.login ? name : "someone else's container"}</code>`,
          )
    }
  </p>
  <p class="hint" data-testid="policies">A new launch that does not fit evicts the least recently used containers first; containers still starting or with an open WebSocket are never evicted.${
    model.policies.idleTimeoutMs === undefined
      ? ''
      : ` Containers without activity for ${formatDuration(model.policies.idleTimeoutMs)} are removed (an open WebSocket is activity).`
  }${model.policies.maxPerOwner === undefined ? '' : ` Each person may have ${model.policies.maxPerOwner} container${model.policies.maxPerOwner === 1 ? '' : 's'} at most.`}</p>
</section>`;

  const removals =
    model.removals.length === 0
      ? ''
      : html`<section class="card" aria-labelledby="removals-heading" data-testid="removals">
  <h2 id="removals-heading">Recently removed</h2>
  <ul class="plain">
  ${model.removals.map(
    (removal) =>
      html`<li data-removed="${removal.name}" data-reason="${removal.reason ?? ''}">${removal.label ? html`<span class="badge gone">${removal.label}</span> ` : ''}<code>${removal.name}</code>${removal.toolTitle ? html` <span class="hint">(${removal.toolTitle})</span>` : ''} ${removal.what} <span class="hint">${ago(removal.at, now)}</span></li>`,
  )}
  </ul>
</section>`;

  const table =
    model.rows.length === 0
      ? html`<p class="empty">No containers. <a href="/">Launch one.</a></p>`
      : html`<div class="table-wrap"><table data-testid="containers">
  <caption class="hint" style="text-align:left;caption-side:bottom;padding-top:.5rem">Refreshes every few seconds.</caption>
  <thead><tr>
    <th scope="col">Container</th><th scope="col">Tool</th><th scope="col">Owner</th><th scope="col">Phase</th>
    <th scope="col" class="num">Memory</th><th scope="col" class="num">Age</th><th scope="col">Last activity</th><th scope="col">Actions</th>
  </tr></thead>
  <tbody>
  ${model.rows.map(
    (row) => html`<tr data-container="${row.name}">
    <th scope="row"><a href="/containers/${row.name}">${row.name}</a></th>
    <td>${row.toolTitle}${row.fileName ? html`<br><span class="hint">${row.fileName}</span>` : ''}</td>
    <td>${row.owner ?? '—'}</td>
    <td>${phaseBadge(row.phase)}<br><span class="hint">${row.state}${row.openWebSockets > 0 ? `, ${row.openWebSockets} WebSocket${row.openWebSockets === 1 ? '' : 's'}` : ''}</span></td>
    <td class="num">${row.memoryMb === undefined ? '—' : `${row.memoryMb} MB`}${row.state === 'exited' || row.state === 'dead' ? html`<br><span class="hint" title="Its process has stopped: it holds none of the budget">freed</span>` : ''}</td>
    <td class="num">${age(row.createdAt, now)}</td>
    <td>${row.lastActivity === undefined ? html`<span class="hint">no requests yet</span>` : ago(row.lastActivity, now)}</td>
    <td><div class="actions">
      ${
        row.phase === 'ready'
          ? html`<a class="button small" href="${row.url}" data-action="open">Open</a> <a class="button small secondary" href="/containers/${row.name}/view" data-action="open-with-bar" title="Open under a thin bar back to the portal">With bar</a>`
          : html`<a class="button small secondary" href="/containers/${row.name}/launch">Progress</a>`
      }
      <a class="button small secondary" href="/containers/${row.name}" data-action="details">History &amp; logs</a>
      ${
        row.state === 'building' || row.state === 'admitting'
          ? ''
          : html`<form method="post" action="/containers/${row.name}/remove"${row.state === 'not created' ? '' : html` data-confirm="${killQuestion(row.name, row.openWebSockets)}"`}><button class="small danger" type="submit" data-action="kill" aria-label="${row.state === 'not created' ? 'Dismiss' : 'Kill'} ${row.name}">${row.state === 'not created' ? 'Dismiss' : 'Kill'}</button></form>`
      }
    </div></td>
  </tr>`,
  )}
  </tbody></table></div>`;

  return html`${capacityCard}<section class="card" aria-labelledby="containers-heading">
  <h2 id="containers-heading">${options.login ? 'Your containers' : 'Live containers'}</h2>
  ${table}
</section>${removals}`;
}

/** The whole dashboard page. */
export function dashboardPage(options: DashboardPageOptions): SafeHtml {
  return layout({
    title: 'Dashboard',
    active: 'dashboard',
    user: options.user,
    login: options.login,
    notices: options.notices,
    footer: options.footer,
    scripts: ['dashboard.js'],
    refreshSeconds: 10,
    body: html`<h1>Dashboard</h1><div id="dashboard-live" aria-live="off">${dashboardLive(options)}</div>`,
  });
}
