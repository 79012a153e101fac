/** The page shell every demo page shares: head, header with navigation, notices, footer. */
import type { SafeHtml } from './html.ts';
import { html } from './html.ts';

/** A message shown at the top of a page. */
export interface Notice {
  /** `error` for things that went wrong (role="alert"), `info` for confirmations. */
  readonly kind: 'error' | 'info';
  /** The message. */
  readonly text: string;
}

/** What {@link layout} needs. */
export interface PageOptions {
  /** Page title (also the `<h1>` unless the body has its own). */
  readonly title: string;
  /** The page's main content. */
  readonly body: SafeHtml;
  /** Which navigation entry is current. */
  readonly active?: 'launch' | 'dashboard' | 'login';
  /** The signed-in user, when login is on. */
  readonly user?: string;
  /** Whether the demo runs with login (shows the sign-out button). */
  readonly login?: boolean;
  /** Notices above the content. */
  readonly notices?: readonly Notice[];
  /** Scripts from `/assets/` to load at the end of the body. */
  readonly scripts?: readonly string[];
  /** Without JavaScript, reload the page every N seconds. */
  readonly refreshSeconds?: number;
  /** A line about the running instance for the footer (backend, namespace, routing). */
  readonly footer?: string;
  /**
   * The demo's origin, put in front of its own links and assets: needed on pages served on a
   * tool's host (hostname routing). Default: relative links.
   */
  readonly origin?: string;
}

/** A complete HTML document. */
export function layout(options: PageOptions): SafeHtml {
  const origin = options.origin ?? '';
  const navItem = (key: PageOptions['active'], href: string, label: string): SafeHtml =>
    html`<a href="${origin}${href}"${options.active === key ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · dde demo</title>
<link rel="icon" href="${origin}/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="${origin}/assets/app.css">
${options.refreshSeconds ? html`<noscript><meta http-equiv="refresh" content="${options.refreshSeconds}"></noscript>` : ''}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="${origin}/"><span aria-hidden="true">▣</span> dde demo</a>
  <nav aria-label="Main">
    ${navItem('launch', '/', 'Launch')}
    ${navItem('dashboard', '/dashboard', 'Dashboard')}
  </nav>
  ${
    options.user
      ? html`<div class="who"><span data-testid="user">Signed in as <strong>${options.user}</strong></span>
    ${options.login ? html`<form method="post" action="${origin}/logout"><button class="link" type="submit">Sign out</button></form>` : ''}</div>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
${(options.notices ?? []).map(
  (notice) =>
    html`<div class="notice ${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}" data-testid="notice-${notice.kind}">${notice.text}</div>`,
)}
${options.body}
</main>
<footer class="foot">dde: per-user tool containers behind a reverse proxy${options.footer ? html` · ${options.footer}` : ''}</footer>
${['confirm.js', ...(options.scripts ?? [])].map((script) => html`<script src="${origin}/assets/${script}" defer></script>`)}
</body>
</html>`;
}
