/**
 * The home page: pick a tool and a data file (or upload one), choose how the input is delivered,
 * launch. Beside the form: the person's containers and files.
 */
import type { DataFile } from '../../data/files.ts';
import { formatBytes } from '../../data/files.ts';
import { DELIVERIES } from '../../launch/launcher.ts';
import { TOOLS } from '../../tools/catalog.ts';
import type { ContainerRow } from '../dashboard-model.ts';
import { ago } from '../format.ts';
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';
import type { Notice } from '../layout.ts';
import { layout } from '../layout.ts';
import { phaseBadge } from './badges.ts';

/** What the launch form had in it (to show it again after an error). */
export interface LaunchFormValues {
  /** Tool id. */
  readonly tool?: string;
  /** Data file id. */
  readonly file?: string;
  /** Delivery kind. */
  readonly delivery?: string;
  /** Container name. */
  readonly name?: string;
  /** Parameter fields, `<tool>.<name>`. */
  readonly parameters?: Readonly<Record<string, string>>;
}

/** What {@link launchPage} shows. */
export interface LaunchPageOptions {
  /** The signed-in user (or `guest`). */
  readonly user: string;
  /** Whether login is on. */
  readonly login: boolean;
  /** Files the user may choose. */
  readonly files: readonly DataFile[];
  /** The user's containers. */
  readonly containers: readonly ContainerRow[];
  /** Largest upload, in bytes. */
  readonly maxUploadBytes: number;
  /** The form's values. */
  readonly values?: LaunchFormValues;
  /** Messages above the form. */
  readonly notices?: readonly Notice[];
  /** The field an error is about (gets focus and `aria-invalid`). */
  readonly errorField?: string;
  /** Footer line. */
  readonly footer?: string;
}

/** The whole launch page. */
export function launchPage(options: LaunchPageOptions): SafeHtml {
  const values = options.values ?? {};
  const tool = values.tool ?? TOOLS[0]?.id;
  const delivery = values.delivery ?? 'env';
  const invalid = (field: string): SafeHtml | '' =>
    options.errorField === field ? html` aria-invalid="true"` : '';
  const samples = options.files.filter((file) => file.owner === undefined);
  const uploads = options.files.filter((file) => file.owner !== undefined);
  const fileOption = (file: DataFile): SafeHtml =>
    html`<option value="${file.id}"${values.file === file.id ? html` selected` : ''}>${file.name} (${formatBytes(file.bytes)})</option>`;

  const form = html`<section class="card" aria-labelledby="launch-heading">
  <h1 id="launch-heading">Launch a tool</h1>
  <p class="sub">Each launch starts a container of its own, hands it an input JSON, and proxies it at its own URL.</p>
  <form method="post" action="/launch" enctype="multipart/form-data" id="launch-form" data-error-field="${options.errorField ?? ''}">
    <fieldset>
      <legend>Tool</legend>
      <div class="choices">
        ${TOOLS.map(
          (item) => html`<label class="choice">
          <input type="radio" name="tool" value="${item.id}"${item.id === tool ? html` checked` : ''} data-uses-data="${item.usesData}"${invalid('tool')}>
          <strong>${item.title}</strong>
          <span>${item.summary}</span>
        </label>`,
        )}
      </div>
    </fieldset>
    <fieldset id="data-fieldset">
      <legend>Data file</legend>
      <div class="field">
        <label for="file">Choose a file</label>
        <select id="file" name="file"${invalid('file')}>
          <option value="">(none)</option>
          <optgroup label="Samples">${samples.map(fileOption)}</optgroup>
          ${uploads.length > 0 ? html`<optgroup label="Your uploads">${uploads.map(fileOption)}</optgroup>` : ''}
        </select>
      </div>
      <div class="field">
        <label for="upload">…or upload your own CSV</label>
        <input id="upload" name="upload" type="file" accept=".csv,.tsv,.txt,text/csv"${invalid('upload')} aria-describedby="upload-hint">
        <span class="hint" id="upload-hint">Up to ${formatBytes(options.maxUploadBytes)}; an upload is used instead of the choice above.</span>
      </div>
    </fieldset>
    <fieldset>
      <legend>Input delivery</legend>
      <div class="inline-choices">
        ${DELIVERIES.map(
          (
            item,
          ) => html`<label><input type="radio" name="delivery" value="${item.kind}"${item.kind === delivery ? html` checked` : ''}${invalid('delivery')}>
          ${item.label} <span class="hint">(${item.hint})</span></label>`,
        )}
      </div>
    </fieldset>
    <fieldset>
      <legend>Parameters</legend>
      ${TOOLS.map((item) =>
        item.parameters.length === 0
          ? html`<div class="params" data-tool="${item.id}"><span class="hint">${item.title} takes no parameters.</span></div>`
          : html`<div class="params" data-tool="${item.id}">
        ${item.parameters.map((parameter) => {
          const field = `${item.id}.${parameter.name}`;
          return html`<div class="field">
            <label for="${field}">${item.title}: ${parameter.label}</label>
            <input id="${field}" name="${field}" type="${parameter.type}" value="${values.parameters?.[field] ?? parameter.defaultValue}"
              ${parameter.type === 'number' ? html`min="${parameter.min}" max="${parameter.max}"` : html`maxlength="${parameter.max ?? 200}"`}${invalid(field)}>
          </div>`;
        })}
      </div>`,
      )}
    </fieldset>
    <div class="field">
      <label for="name">Container name <span class="hint">(optional)</span></label>
      <input id="name" name="name" type="text" value="${values.name ?? ''}" placeholder="${options.user}-<tool>-xxxx" maxlength="63"
        autocomplete="off" spellcheck="false"${invalid('name')} aria-describedby="name-hint">
      <span class="hint" id="name-hint">Lowercase letters, digits and dashes. Leave empty for a generated one.</span>
    </div>
    <div class="actions"><button type="submit" id="launch-button">Launch</button> <span class="hint" id="launch-note" role="status"></span></div>
  </form>
</section>`;

  const side = html`<div>
  <section class="card" aria-labelledby="mine-heading">
    <h2 id="mine-heading">${options.login ? 'Your containers' : 'Containers'}</h2>
    ${
      options.containers.length === 0
        ? html`<p class="empty">None yet: launch one.</p>`
        : html`<ul class="plain" data-testid="my-containers">${options.containers.map(
            (
              row,
            ) => html`<li><a href="${row.phase === 'ready' ? row.url : `/containers/${row.name}/launch`}">${row.name}</a>
          ${phaseBadge(row.phase)} <span class="hint">${row.toolTitle}, last used ${ago(row.lastActivity)}</span></li>`,
          )}</ul>`
    }
    <p><a href="/dashboard">Open the dashboard</a></p>
  </section>
  <section class="card" aria-labelledby="how-heading">
    <h2 id="how-heading">What happens</h2>
    <ol class="hint">
      <li>The tool's image is built locally the first time (no registry needed).</li>
      <li>The container gets an input JSON: links to the data file, the parameters and its public URL.</li>
      <li>A please-wait page follows its start; then the tool opens, proxied by dde.</li>
    </ol>
  </section>
</div>`;

  return layout({
    title: 'Launch a tool',
    active: 'launch',
    user: options.user,
    login: options.login,
    notices: options.notices,
    footer: options.footer,
    scripts: ['launch-form.js'],
    body: html`<div class="grid">${form}${side}</div>`,
  });
}
