/**
 * The demo's pages and forms: sign in, launch, please-wait, dashboard, container details, kill,
 * and the container manager's Prometheus metrics. In login mode each person sees and acts on
 * their own containers only.
 */
import type { Route } from '@dde/core';
import { Router } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import { isValidUsername } from '../auth/session.ts';
import type { LaunchRequest } from '../launch/launcher.ts';
import { DEMO_LABELS } from '../launch/launcher.ts';
import { launchStatus } from '../launch/status.ts';
import { findTool } from '../tools/catalog.ts';
import type { AppParts, DemoState } from './app.ts';
import { dashboardModel } from './dashboard-model.ts';
import { showError } from './errors.ts';
import { FormError } from './form-error.ts';
import { ago } from './format.ts';
import { readLaunchForm, readUrlEncoded } from './forms.ts';
import type { Notice } from './layout.ts';
import { containerPage } from './pages/container-page.ts';
import { dashboardLive, dashboardPage } from './pages/dashboard-page.ts';
import { errorPage } from './pages/error-page.ts';
import { framePage } from './pages/frame-page.ts';
import type { LaunchFormValues } from './pages/launch-page.ts';
import { launchPage } from './pages/launch-page.ts';
import { loginPage } from './pages/login-page.ts';
import { waitBody, waitPage, waitTitle } from './pages/wait-page.ts';

type Ctx = ParameterizedContext<DemoState>;

const NAME_PARAM = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The router with every page and form of the demo. */
export function demoRoutes(parts: AppParts): Router<DemoState> {
  const { config, manager, launcher, removals, files, sessions } = parts;
  const routes = new Router<DemoState>();
  const publicUrlOf = (name: string): string => parts.router.publicUrl(name, { origin: config.publicOrigin });
  const dashboardSources = {
    manager,
    launcher,
    removals,
    policies: {
      budgetMb: config.budgetMb,
      idleTimeoutMs: config.idleTimeoutMs,
      maxPerOwner: config.maxPerOwner,
    },
    publicUrlOf,
  };

  /** What became of a container the user may see that was removed lately, if it was. */
  const removedMessage = (name: string, user: string): string | undefined => {
    const removal = NAME_PARAM.test(name) ? removals.latest(name) : undefined;
    if (!removal || (config.login && removal.owner !== user)) return undefined;
    return `${name} ${removal.what} ${ago(removal.at)}. Launch it again from the launch page.`;
  };

  /** "There is no container called x", or what became of it. */
  const missing = (name: string, user: string): string =>
    removedMessage(name, user) ??
    `There is no container called "${name.slice(0, 63)}"${config.login ? ' of yours' : ''}.`;

  const html = (ctx: Ctx, body: { value: string }, status = 200): void => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('cache-control', 'no-store');
    ctx.body = body.value;
  };

  /** The signed-in user; redirects to the sign-in page (and returns undefined) when there is none. */
  const requireUser = (ctx: Ctx): string | undefined => {
    if (ctx.state.user !== undefined) return ctx.state.user;
    ctx.redirect(`/login?next=${encodeURIComponent(ctx.originalUrl)}`);
    return undefined;
  };

  /** The rows a user may see: everything without login, their own with it. */
  const ownerFilter = (user: string): string | undefined => (config.login ? user : undefined);

  /** The container if the user may see it; throws a 404 that does not reveal others' containers. */
  const visibleRoute = (name: string, user: string): Route => {
    const route = NAME_PARAM.test(name) ? manager.get(name) : undefined;
    if (!route || (config.login && route.info.owner !== user))
      throw new FormError('name', missing(name, user), 404);
    return route;
  };

  const mayFollow = (name: string, user: string): boolean => {
    if (!NAME_PARAM.test(name)) return false;
    if (!config.login) return true;
    const owner = launcher.job(name)?.details.owner ?? manager.get(name)?.info.owner;
    return owner === user;
  };

  const renderLaunch = (
    ctx: Ctx,
    user: string,
    extra: { values?: LaunchFormValues; notices?: Notice[]; errorField?: string; status?: number } = {},
  ): void => {
    const containers = dashboardModel(dashboardSources, ownerFilter(user)).rows;
    html(
      ctx,
      launchPage({
        user,
        login: config.login,
        files: files.list(user),
        containers,
        maxUploadBytes: files.maxUploadBytes,
        values: extra.values,
        notices: extra.notices,
        errorField: extra.errorField,
        footer: parts.footer,
      }),
      extra.status,
    );
  };

  // Browsers ask every page for it: answer with the demo's mark instead of a 404 each time.
  routes.get('/favicon.ico', (ctx) => {
    ctx.type = 'image/svg+xml';
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.body = FAVICON_SVG;
  });

  routes.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', containers: manager.list().length };
  });

  // The manager's Prometheus metrics: launches, start phases, removals by reason, proxied
  // requests, open WebSockets. Like /healthz it needs no sign-in (scrapers do not sign in).
  routes.get('/metrics', async (ctx) => {
    const metrics = manager.metrics;
    if (!metrics) return;
    ctx.respond = false;
    await metrics.handler(ctx.req, ctx.res);
  });

  routes.get('/login', (ctx) => {
    if (!config.login) return ctx.redirect('/');
    html(ctx, loginPage({ next: safeNext(String(ctx.query.next ?? '/'), config) }));
  });

  routes.post('/login', async (ctx) => {
    if (!config.login) return ctx.redirect('/');
    const form = await readUrlEncoded(ctx.req);
    const username = (form.username ?? '').trim().toLowerCase();
    const next = safeNext(form.next ?? '/', config);
    if (!isValidUsername(username)) {
      html(
        ctx,
        loginPage({
          next,
          username,
          notices: [
            {
              kind: 'error',
              text: 'Usernames are 1 to 24 lowercase letters, digits and dashes, starting with a letter and not ending with a dash.',
            },
          ],
        }),
        400,
      );
      return;
    }
    ctx.set('set-cookie', sessions.issue(username));
    ctx.redirect(next);
  });

  routes.post('/logout', (ctx) => {
    ctx.set('set-cookie', sessions.clear());
    ctx.redirect(config.login ? '/login' : '/');
  });

  routes.get('/', (ctx) => {
    const user = requireUser(ctx);
    if (user) renderLaunch(ctx, user);
  });

  routes.post('/launch', async (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    let values: LaunchFormValues = {};
    try {
      const form = await readLaunchForm(ctx.req, files, user);
      const fields = form.fields;
      values = {
        tool: fields.tool,
        file: form.upload?.id ?? fields.file,
        delivery: fields.delivery,
        name: fields.name,
        parameters: fields,
      };
      const request: LaunchRequest = {
        tool: fields.tool ?? '',
        file: form.upload?.id ?? fields.file,
        delivery: fields.delivery ?? 'env',
        name: fields.name,
        parameters: fields,
      };
      const job = launcher.start(request, user);
      ctx.status = 303;
      ctx.redirect(`/containers/${job.name}/launch`);
    } catch (error) {
      const shown = showError(error);
      if (shown.status >= 500 && shown.status !== 503) console.error('dde demo: launch failed:', error);
      renderLaunch(ctx, user, {
        values,
        notices: [{ kind: 'error', text: shown.message }],
        errorField: shown.field,
        status: shown.status,
      });
    }
  });

  routes.get('/containers/:name/launch', async (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    const name = ctx.params.name ?? '';
    const status = mayFollow(name, user)
      ? await launchStatus(name, launcher, manager, publicUrlOf)
      : undefined;
    if (!status) {
      html(
        ctx,
        errorPage({
          title: 'Not found',
          message: removedMessage(name, user) ?? `There is no launch of "${name.slice(0, 63)}".`,
          user,
          login: config.login,
        }),
        404,
      );
      return;
    }
    html(ctx, waitPage(status, user, config.login, parts.footer));
  });

  routes.get('/containers/:name/status', async (ctx) => {
    const user = ctx.state.user;
    const name = ctx.params.name ?? '';
    const status =
      user && mayFollow(name, user) ? await launchStatus(name, launcher, manager, publicUrlOf) : undefined;
    ctx.set('cache-control', 'no-store');
    if (!status) {
      ctx.status = 404;
      ctx.body = { error: 'Not found', message: `There is no launch of "${name.slice(0, 63)}".` };
      return;
    }
    ctx.body = {
      name: status.name,
      phase: status.phase,
      url: status.publicUrl,
      failure: status.failure,
      title: `${waitTitle(status)} · dde demo`,
      html: waitBody(status).value,
    };
  });

  routes.get('/dashboard', (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    const model = dashboardModel(dashboardSources, ownerFilter(user));
    const options = { model, user, login: config.login, footer: parts.footer };
    if (ctx.query.fragment === '1') {
      html(ctx, dashboardLive(options));
      return;
    }
    const removed = typeof ctx.query.removed === 'string' ? ctx.query.removed : undefined;
    const notices: Notice[] =
      removed && NAME_PARAM.test(removed) ? [{ kind: 'info', text: `Removed ${removed}.` }] : [];
    html(ctx, dashboardPage({ ...options, notices }));
  });

  routes.get('/containers/:name', async (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    const route = visibleRoute(ctx.params.name ?? '', user);
    const history = await manager.history.query(route.name, { limit: 500 });
    let logs: Awaited<ReturnType<typeof manager.logs>> = [];
    let logsError: string | undefined;
    try {
      logs = await manager.logs(route.name, { tail: 200, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      logsError = `The logs could not be read: ${showError(error).message}`;
    }
    html(
      ctx,
      containerPage({
        route,
        url: publicUrlOf(route.name),
        history,
        logs,
        logsError,
        user,
        login: config.login,
        footer: parts.footer,
      }),
    );
  });

  // The tool under a thin bar back to the portal (opening it directly stays the default).
  routes.get('/containers/:name/view', (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    const route = visibleRoute(ctx.params.name ?? '', user);
    const toolId = route.info.labels[DEMO_LABELS.tool] ?? '';
    html(
      ctx,
      framePage({
        name: route.name,
        toolTitle: findTool(toolId)?.title ?? 'Tool',
        url: publicUrlOf(route.name),
      }),
    );
  });

  // Launch again what a launch of this name asked for: after its container went away (from the
  // gone page at its URL), or after it failed (from its failure page). A running one is left be.
  routes.post('/containers/:name/relaunch', async (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    const name = ctx.params.name ?? '';
    const request = NAME_PARAM.test(name) ? launcher.relaunchable(name, ownerFilter(user)) : undefined;
    if (!request) {
      throw new FormError(
        'name',
        `${name.slice(0, 63)} cannot be relaunched: this demo does not remember its launch (it restarted meanwhile?). Launch it from the launch page.`,
        404,
      );
    }
    const route = manager.get(name);
    const job = launcher.job(name);
    const failed = route ? route.phase === 'failed' : job?.stage === 'failed';
    if ((route || job) && !failed) {
      ctx.status = 303;
      ctx.redirect(`/containers/${name}/launch`);
      return;
    }
    if (route) await manager.remove(name, { signal: AbortSignal.timeout(30_000) });
    launcher.forget(name);
    launcher.start(request, user);
    ctx.status = 303;
    ctx.redirect(`/containers/${name}/launch`);
  });

  routes.post('/containers/:name/remove', async (ctx) => {
    const user = requireUser(ctx);
    if (!user) return;
    const name = ctx.params.name ?? '';
    const job = launcher.job(name);
    if (job && !manager.get(name) && (!config.login || job.details.owner === user)) {
      if (job.stage === 'image') {
        throw new FormError(
          'name',
          `${name} is still building its image: remove it once it has started.`,
          409,
        );
      }
      launcher.forget(name);
    } else {
      visibleRoute(name, user);
      await manager.remove(name, { signal: AbortSignal.timeout(30_000) });
      launcher.forget(name);
    }
    ctx.status = 303;
    ctx.redirect(`/dashboard?removed=${encodeURIComponent(name)}`);
  });

  return routes;
}

/**
 * Where to go after signing in: a path of the demo, or a URL of one of its tools; anything
 * else (another site) becomes `/`.
 */
export function safeNext(
  next: string,
  config: { publicOrigin: string; routing: string; domain: string },
): string {
  if (next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\')) return next;
  try {
    const url = new URL(next);
    const publicUrl = new URL(config.publicOrigin);
    if (url.origin === publicUrl.origin) return url.href;
    if (
      config.routing === 'hostname' &&
      url.protocol === publicUrl.protocol &&
      url.port === publicUrl.port &&
      url.hostname.endsWith(`.${config.domain}`)
    ) {
      return url.href;
    }
  } catch {
    // Not a URL: fall through.
  }
  return '/';
}

/** The demo's mark (the ▣ of its header), as the tab icon. */
const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="1" width="14" height="14" rx="2" fill="#3b5bdb"/><rect x="4.5" y="4.5" width="7" height="7" rx="1" fill="#fff"/></svg>';
