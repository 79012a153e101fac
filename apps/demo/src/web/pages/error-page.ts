/** The page for anything that went wrong outside a form: a title, a sentence, a way back. */
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';
import { layout } from '../layout.ts';

/** What {@link errorPage} shows. */
export interface ErrorPageOptions {
  /** Short title, e.g. `Not found`. */
  readonly title: string;
  /** What went wrong and what to do. */
  readonly message: string;
  /** The signed-in user. */
  readonly user?: string;
  /** Whether login is on. */
  readonly login?: boolean;
  /** The demo's origin, for pages served on a tool's host (hostname routing). Default: relative links. */
  readonly origin?: string;
}

/** A whole error page. */
export function errorPage(options: ErrorPageOptions): SafeHtml {
  const origin = options.origin ?? '';
  return layout({
    title: options.title,
    user: options.user,
    login: options.login,
    origin,
    body: html`<section class="card" data-testid="error-page">
  <h1>${options.title}</h1>
  <p role="alert">${options.message}</p>
  <p class="actions"><a class="button" href="${origin}/">Launch a tool</a> <a class="button secondary" href="${origin}/dashboard">Dashboard</a></p>
</section>`,
  });
}
