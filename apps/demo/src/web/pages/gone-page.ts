/**
 * The page a tool URL shows once its container is gone (killed, evicted, culled, or never
 * there): what became of it and, for a launch the demo remembers, a relaunch at the same URL.
 * The proxy's `notFound` hook serves it, so it may be on a tool's host: links carry the origin.
 */
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';
import { layout } from '../layout.ts';

/** What {@link gonePage} shows. */
export interface GonePageOptions {
  /** The container name the URL names. */
  readonly name: string;
  /** What became of it (`alice-viewer-k3f9 was evicted … 3m ago.`), when known. */
  readonly what: string | undefined;
  /** Whether the demo can launch it again with the same choices. */
  readonly relaunchable: boolean;
  /** The demo's origin (the page may be served on a tool's host). */
  readonly origin: string;
  /** The signed-in user. */
  readonly user: string | undefined;
  /** Whether login is on. */
  readonly login: boolean;
}

/** The whole page. */
export function gonePage(options: GonePageOptions): SafeHtml {
  const { name, origin } = options;
  const title = options.what ? `${name} is gone` : 'No container here';
  return layout({
    title,
    user: options.user,
    login: options.login,
    origin,
    body: html`<section class="card" data-testid="gone-page">
  <h1>${title}</h1>
  <p data-testid="gone-what">${options.what ?? html`There is no container called ${name}${options.login ? ' of yours' : ''}.`}</p>
  ${
    options.relaunchable
      ? html`<p>Launch it again with the same tool, data and settings, at this same address.</p>
  <form method="post" action="${origin}/containers/${name}/relaunch" class="actions"><button type="submit" data-action="relaunch">Relaunch ${name}</button> <a class="button secondary" href="${origin}/dashboard">Dashboard</a></form>`
      : html`<p class="actions"><a class="button" href="${origin}/">Launch a tool</a> <a class="button secondary" href="${origin}/dashboard">Dashboard</a></p>`
  }
</section>`,
  });
}
