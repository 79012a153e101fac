/** The coloured phase label used in lists and tables. */

import type { RowPhase } from '../dashboard-model.ts';
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';

const LABELS: Readonly<Record<RowPhase, string>> = {
  image: 'building image',
  queued: 'queued',
  pulling: 'pulling',
  creating: 'creating',
  starting: 'starting',
  probing: 'probing',
  ready: 'ready',
  failed: 'failed',
};

/** A badge for a container's phase. */
export function phaseBadge(phase: RowPhase): SafeHtml {
  return html`<span class="badge ${phase}" data-phase="${phase}">${LABELS[phase]}</span>`;
}
