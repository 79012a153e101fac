/**
 * A tool under a thin bar back to the portal, for those who want one (ShinyProxy shows its apps
 * this way). Opening the tool itself stays the default: tools that use the whole window, open
 * their own windows or refuse to be framed keep working exactly as before.
 */
import type { SafeHtml } from '../html.ts';
import { html } from '../html.ts';

/** What {@link framePage} shows. */
export interface FramePageOptions {
  /** Container name. */
  readonly name: string;
  /** Tool title. */
  readonly toolTitle: string;
  /** The tool's public URL. */
  readonly url: string;
}

/** The whole page: the bar, then the tool filling the rest of the window. */
export function framePage(options: FramePageOptions): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.toolTitle} · ${options.name} · dde demo</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="/assets/app.css">
</head>
<body class="framed">
<nav class="tool-bar" aria-label="Portal" data-testid="tool-bar">
  <a class="brand" href="/"><span aria-hidden="true">▣</span> dde demo</a>
  <span>${options.toolTitle} · <strong>${options.name}</strong></span>
  <a href="/dashboard">Dashboard</a>
  <a href="/containers/${options.name}">History &amp; logs</a>
  <a href="${options.url}" data-action="full-window">Full window</a>
</nav>
<iframe class="tool-frame" src="${options.url}" title="${options.toolTitle} (${options.name})" data-testid="tool-frame"></iframe>
</body>
</html>`;
}
