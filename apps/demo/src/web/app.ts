/**
 * The demo's Koa application: the proxy in front (tool URLs never reach the pages), then the
 * demo's own pages and forms. Every failure ends as a page with a sentence, never a stack trace.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { ContainerManager, Router as DdeRouter } from '@dde/core';
import type { KoaProxy } from '@dde/proxy-koa';
import { koaProxy } from '@dde/proxy-koa';
import Koa from 'koa';
import { dropCookie, SESSION_COOKIE, type Sessions } from '../auth/session.ts';
import type { DemoConfig } from '../config.ts';
import type { DataFiles } from '../data/files.ts';
import type { Launcher } from '../launch/launcher.ts';
import type { RemovalLog } from '../launch/removals.ts';
import { serveAsset } from './assets.ts';
import { showError } from './errors.ts';
import { ago } from './format.ts';
import { errorPage } from './pages/error-page.ts';
import { gonePage } from './pages/gone-page.ts';
import { demoRoutes } from './routes.ts';

/** The user of every request when login is off. */
export const GUEST = 'guest';

/** What the application is made of. */
export interface AppParts {
  /** Settings. */
  readonly config: DemoConfig;
  /** Tracks the containers. */
  readonly manager: ContainerManager;
  /** Starts launches. */
  readonly launcher: Launcher;
  /** Containers that went away lately, and why. */
  readonly removals: RemovalLog;
  /** Data files. */
  readonly files: DataFiles;
  /** Session cookies. */
  readonly sessions: Sessions;
  /** Maps tool URLs onto containers. */
  readonly router: DdeRouter;
  /** A line for page footers. */
  readonly footer: string;
}

/** The application and its proxy (whose `attach` wires WebSocket upgrades on the server). */
export interface DemoApp {
  /** The Koa application. */
  readonly app: Koa;
  /** The proxy (attach it to the HTTP server). */
  readonly proxy: KoaProxy;
}

/** State the middleware puts on each request. */
export interface DemoState {
  /** The signed-in user (`guest` without login), or undefined when nobody is signed in. */
  user: string | undefined;
}

/** Builds the application. */
export function createApp(parts: AppParts): DemoApp {
  const { config, sessions, router } = parts;
  // The demo's own pages (never the tools' answers, which the proxy passes untouched): no
  // framing (the kill and launch buttons cannot be clickjacked), no sniffing, and scripts and
  // styles from the demo only (its assets, also from a tool host in hostname mode).
  const pageHeaders = (ctx: Koa.Context): void => {
    ctx.set({
      'content-security-policy': [
        "default-src 'self'",
        `script-src 'self' ${config.publicOrigin}`,
        `style-src 'self' ${config.publicOrigin} 'unsafe-inline'`,
        "img-src 'self' data:",
        // The tool under the portal's bar (/containers/<name>/view): on the tools' hosts in
        // hostname mode.
        `frame-src 'self'${config.routing === 'hostname' ? ` ${toolHosts(config.publicOrigin, config.domain)}` : ''}`,
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].join('; '),
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'same-origin',
    });
  };
  const app = new Koa<DemoState>({ proxy: false });
  app.silent = true;
  const knownHost = allowedHost(config);
  const userOf = (req: IncomingMessage): string | undefined =>
    config.login ? sessions.userFrom(req.headers.cookie) : GUEST;
  // The proxy learns the user from the session cookie, which it then takes out of the request:
  // tools get their own cookies, never the demo's session.
  const users = new WeakMap<IncomingMessage, string>();
  const proxy = koaProxy({
    manager: parts.manager,
    router,
    authorize: ({ req, container }) => {
      if (!knownHost(req.headers.host)) return false;
      const user = userOf(req);
      if (user !== undefined) users.set(req, user);
      dropCookie(req, SESSION_COOKIE);
      return !config.login || (user !== undefined && container.owner === user);
    },
    userOf: (req) => users.get(req),
    // A tool URL whose container is gone: what became of it, and a relaunch at the same URL for
    // a launch this demo remembers (the person's own, with login).
    notFound: ({ req, name, page }) => {
      if (!page) return undefined;
      const user = userOf(req);
      const mine = (owner: string | undefined): boolean =>
        !config.login || (user !== undefined && owner === user);
      const removal = parts.removals.latest(name);
      const what = removal && mine(removal.owner) ? `${name} ${removal.what} ${ago(removal.at)}.` : undefined;
      const relaunchable =
        user !== undefined &&
        parts.launcher.relaunchable(name, config.login ? user : undefined) !== undefined;
      return {
        status: 404,
        html: gonePage({ name, what, relaunchable, origin: config.publicOrigin, user, login: config.login })
          .value,
      };
    },
    pleaseWait: {
      title: (name) => `Starting ${name}…`,
      body: (name) =>
        `<p>The tool is starting; this page reloads by itself when it answers.</p><p><a href="${config.publicOrigin}/containers/${name}/launch">Follow its launch</a> · <a href="${config.publicOrigin}/dashboard">Dashboard</a></p>`,
    },
  });

  app.use(async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined && ctx.respond !== false) {
        ctx.status = 404;
        ctx.type = 'html';
        ctx.body = errorPage({
          title: 'Not found',
          message: `There is nothing at ${ctx.path}.`,
          user: ctx.state.user,
          login: config.login,
        }).value;
      }
    } catch (error) {
      const shown = showError(error);
      if (shown.status >= 500) console.error(`dde demo: ${ctx.method} ${ctx.path} failed:`, error);
      ctx.status = shown.status;
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: shown.title, message: shown.message };
      } else {
        ctx.type = 'html';
        ctx.body = errorPage({
          title: shown.title,
          message: shown.message,
          user: ctx.state.user,
          login: config.login,
        }).value;
      }
    }
  });

  // Only the demo's own host names (and IP addresses) are served: a page of another site whose
  // name is made to resolve to this machine (DNS rebinding) must not read or post to the demo
  // and its tools as if it were them.
  app.use(async (ctx, next) => {
    if (knownHost(ctx.get('host'))) return next();
    pageHeaders(ctx);
    ctx.status = 421;
    ctx.type = 'html';
    ctx.body = errorPage({
      title: 'Unknown host',
      message: `This demo is served at ${config.publicOrigin}, not at ${ctx.get('host') || 'an unnamed host'}: open it there, or start it with --public-url set to the address people use.`,
      origin: config.publicOrigin,
    }).value;
  });

  // People opening a tool page get the demo's own answers where the proxy would only say 403:
  // signed out, the sign-in page (and back); someone else's container, a page that says so.
  // The proxy's authorization hook still guards every request and WebSocket.
  app.use(async (ctx, next) => {
    if (config.login && (ctx.method === 'GET' || ctx.method === 'HEAD') && ctx.accepts('html')) {
      const match = router.match(ctx.get('host'), ctx.originalUrl);
      if (match?.kind === 'match') {
        const user = sessions.userFrom(ctx.get('cookie'));
        if (user === undefined) {
          const here = `${ctx.protocol}://${ctx.get('host')}${ctx.originalUrl}`;
          ctx.redirect(`${config.publicOrigin}/login?next=${encodeURIComponent(here)}`);
          return;
        }
        const owner = parts.manager.get(match.name)?.info.owner;
        if (owner !== undefined && owner !== user) {
          pageHeaders(ctx);
          ctx.status = 403;
          ctx.type = 'html';
          ctx.body = errorPage({
            title: 'Not your container',
            message: `You are signed in as ${user}, and ${match.name} is not one of your containers. Launch your own.`,
            user,
            login: true,
            origin: config.publicOrigin,
          }).value;
          return;
        }
      }
    }
    await next();
  });

  app.use(proxy.middleware);

  app.use(async (ctx, next) => {
    pageHeaders(ctx);
    await next();
  });

  // In hostname mode the pages live on one host (the domain itself): send other hosts there.
  if (config.routing === 'hostname') {
    const publicHost = new URL(config.publicOrigin).host;
    app.use(async (ctx, next) => {
      if (ctx.get('host') !== publicHost && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
        ctx.redirect(`${config.publicOrigin}${ctx.originalUrl}`);
        return;
      }
      await next();
    });
  }

  app.use(async (ctx, next) => {
    if (ctx.path.startsWith('/assets/')) {
      await serveAsset(ctx);
      return;
    }
    await next();
  });

  app.use(async (ctx, next) => {
    ctx.state.user = userOf(ctx.req);
    // Forms post to the demo's own origin only (path mode shares that origin with tools, which
    // is why hostname mode is the one for untrusted tools).
    const origin = ctx.get('origin');
    if (
      ctx.method === 'POST' &&
      origin &&
      origin !== config.publicOrigin &&
      origin !== `${ctx.protocol}://${ctx.get('host')}` &&
      !relaunchFromToolHost(ctx.path, origin)
    ) {
      ctx.status = 403;
      ctx.type = 'html';
      ctx.body = errorPage({ title: 'Not allowed', message: 'This form was sent from another site.' }).value;
      return;
    }
    await next();
  });

  /**
   * A relaunch posted from the gone page on the tool's own host (hostname routing): that host
   * may ask for its own container again, nothing else.
   */
  function relaunchFromToolHost(path: string, origin: string): boolean {
    const name = /^\/containers\/([a-z0-9-]{1,63})\/relaunch$/.exec(path)?.[1];
    if (name === undefined || config.routing !== 'hostname') return false;
    return new URL(router.publicUrl(name, { origin: config.publicOrigin })).origin === origin;
  }

  const routes = demoRoutes(parts);
  app.use(routes.routes());
  app.use(routes.allowedMethods());
  return { app, proxy };
}

/**
 * Which `Host` headers the demo answers: its public host, IP addresses and `localhost` (which
 * no other site can make a browser send), and in hostname mode the tools' hosts.
 */
export function allowedHost(config: Pick<DemoConfig, 'publicOrigin' | 'routing' | 'domain'>) {
  const publicHost = new URL(config.publicOrigin).hostname;
  return (host: string | undefined): boolean => {
    if (!host) return false;
    let hostname: string;
    try {
      hostname = new URL(`http://${host}`).hostname;
    } catch {
      return false;
    }
    return (
      hostname === publicHost ||
      hostname === 'localhost' ||
      isIP(hostname.replace(/^\[|\]$/g, '')) !== 0 ||
      (config.routing === 'hostname' &&
        (hostname === config.domain || hostname.endsWith(`.${config.domain}`)))
    );
  };
}

/** The tools' origins as a CSP source: `http://*.docker.localhost:8000`. */
function toolHosts(publicOrigin: string, domain: string): string {
  const url = new URL(publicOrigin);
  return `${url.protocol}//*.${domain}${url.port ? `:${url.port}` : ''}`;
}
