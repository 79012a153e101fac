/**
 * The please-wait page of a launch: the steps with the current one highlighted, image build
 * progress, an activity log; it polls the status and opens the tool once it is ready, or shows
 * the failure with the container's logs.
 */
import type { LaunchStatus } from '../../launch/status.ts';
import { clock } from '../format.ts';
import type { SafeHtml } from '../html.ts';
import { html, scriptJson } from '../html.ts';
import { layout } from '../layout.ts';
import { phaseBadge } from './badges.ts';

/** The body of the page, also rendered on its own for the status poll. */
export function waitBody(status: LaunchStatus): SafeHtml {
  const failed = status.phase === 'failed';
  const build = status.build;
  const uploadPercent =
    build?.stage === 'uploading' && build.totalBytes
      ? Math.round(((build.bytes ?? 0) / build.totalBytes) * 100)
      : undefined;
  const stepPercent =
    build?.stage === 'building' && build.steps
      ? Math.round(((build.step ?? 0) / build.steps) * 100)
      : undefined;
  const percent = uploadPercent ?? stepPercent;
  return html`<section class="card" aria-labelledby="wait-heading">
  <h1 id="wait-heading">${waitTitle(status)}</h1>
  <p class="sub">${status.name} ${phaseBadge(status.phase)}${status.owner ? html` · owner ${status.owner}` : ''}</p>
  <p data-testid="headline" role="status">${status.headline}</p>
  <ol class="steps" data-testid="steps">
    ${status.steps.map((step) => html`<li class="${step.state}" data-step="${step.key}" data-state="${step.state}">${step.label}</li>`)}
  </ol>
  ${
    build && status.phase === 'image'
      ? html`<div data-testid="build-progress">
    ${percent === undefined ? '' : html`<div class="meter" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${percent}" aria-label="Image build"><span style="width: ${percent}%"></span></div>`}
    <p class="progress-detail">${build.message}</p>
  </div>`
      : ''
  }
  ${
    failed
      ? html`<div class="notice error" role="alert" data-testid="failure">${status.failure ?? 'The container failed.'}</div>
  ${
    status.logs.length > 0
      ? html`<h2>Container logs</h2><pre class="logs" data-testid="failure-logs">${status.logs.map(
          (entry) => html`<span class="${entry.stream}">${entry.text}</span>\n`,
        )}</pre>`
      : html`<p class="hint">The container left no output.</p>`
  }
  <div class="actions">
    ${status.relaunchable ? html`<form method="post" action="/containers/${status.name}/relaunch"><button type="submit" data-action="relaunch">Relaunch</button></form>` : ''}
    <form method="post" action="/containers/${status.name}/remove"><button class="danger" type="submit" data-action="remove">Remove</button></form>
    <a class="button secondary" href="/">Launch another</a> <a class="button secondary" href="/dashboard">Dashboard</a>
  </div>`
      : status.phase === 'ready'
        ? html`<p><a class="button" href="${status.publicUrl}" data-testid="open-tool">Open ${status.toolTitle}</a> <a class="button secondary" href="/containers/${status.name}/view">Open with a bar back to the portal</a></p>`
        : html`<p class="hint">This page follows the launch by itself; the tool opens when it answers. Its address will be <a href="${status.publicUrl}">${status.publicUrl}</a>.</p>`
  }
  <details${failed ? html` open` : ''}>
    <summary>Activity</summary>
    <ul class="plain progress-detail" data-testid="events">${status.events.map((event) => html`<li>${clock(event.at)} ${event.text}</li>`)}</ul>
  </details>
</section>`;
}

/** The whole please-wait page. */
export function waitPage(status: LaunchStatus, user: string, login: boolean, footer?: string): SafeHtml {
  return layout({
    footer,
    title: waitTitle(status),
    user,
    login,
    refreshSeconds: status.phase === 'failed' || status.phase === 'ready' ? undefined : 2,
    scripts: ['wait.js'],
    body: html`<div id="wait" data-name="${status.name}" data-phase="${status.phase}">${waitBody(status)}</div>
<script type="application/json" id="wait-state">${scriptJson({ name: status.name, url: status.publicUrl })}</script>`,
  });
}

/** What the launch is at, in a few words: starting, ready, or could not start. */
export function waitTitle(status: LaunchStatus): string {
  if (status.phase === 'failed') return `${status.name} could not start`;
  if (status.phase === 'ready') return `${status.toolTitle} is ready`;
  return `Starting ${status.toolTitle}`;
}
