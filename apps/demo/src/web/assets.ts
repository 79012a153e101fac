/** Serves the stylesheet and the few scripts in `assets/`, by exact name only. */
import { readFile } from 'node:fs/promises';
import type { Context } from 'koa';

const ASSETS = new URL('../../assets/', import.meta.url);
const TYPES: Readonly<Record<string, string>> = {
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};
const NAME = /^\/assets\/([a-z][a-z0-9-]*\.(css|js))$/;

/** Answers `GET /assets/<name>.css|js`; 404 for anything else. */
export async function serveAsset(ctx: Context): Promise<void> {
  const match = NAME.exec(ctx.path);
  if (!match || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) {
    ctx.status = 404;
    return;
  }
  try {
    ctx.body = await readFile(new URL(match[1] as string, ASSETS));
  } catch {
    ctx.status = 404;
    return;
  }
  ctx.type = TYPES[match[2] as string] ?? 'application/octet-stream';
  ctx.set('cache-control', 'no-cache');
}
