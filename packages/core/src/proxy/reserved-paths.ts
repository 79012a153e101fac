import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LogEntry } from '../backend.ts';
import { isDdeError } from '../errors.ts';
import type { Route } from '../manager/route-table.ts';
import type { RouteMatch } from '../routing/router.ts';
import { send, sendError, sendFailure, sendJson, sendNotFound } from './pages.ts';
import { type ProxySettings, READY_PATH, type RouteSource } from './proxy-options.ts';

/** What {@link reservedPaths} answers. */
export interface ReservedPaths {
  /** Answers a path under the reserved prefix: readiness, the logs when enabled, else 404. */
  serveReserved(req: IncomingMessage, res: ServerResponse, match: RouteMatch, route: Route): void;
  /** The failure page of a container that failed, with the tail of its logs when there are any. */
  showFailure(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void>;
}

/**
 * The pages the proxy serves itself under a container's path: its readiness (`.dde/ready`), its
 * logs (`logsPath`, when set) and its failure page. Off the hot path: each reads the engine.
 */
export function reservedPaths(manager: RouteSource, settings: ProxySettings): ReservedPaths {
  async function showFailure(req: IncomingMessage, res: ServerResponse, route: Route): Promise<void> {
    let logs: LogEntry[] = [];
    if (settings.failureLogLines > 0) {
      try {
        logs = await manager.logs(route.name, {
          tail: settings.failureLogLines,
          signal: AbortSignal.timeout(settings.upstreamTimeoutMs),
        });
      } catch {
        // The page still helps without logs.
      }
    }
    if (!res.destroyed) sendFailure(req, res, route, logs);
  }

  function serveReserved(req: IncomingMessage, res: ServerResponse, match: RouteMatch, route: Route): void {
    const query = match.path.indexOf('?');
    const path = query === -1 ? match.path : match.path.slice(0, query);
    if (path === READY_PATH) {
      const status = route.phase === 'ready' ? 'ready' : route.phase === 'failed' ? 'failed' : 'starting';
      const code = status === 'ready' ? 200 : status === 'failed' ? 502 : 503;
      sendJson(req, res, code, {
        name: route.name,
        status,
        phase: route.phase,
        queuePosition: route.queuePosition,
      });
      return;
    }
    if (settings.logsPath !== undefined && path === settings.logsPath) {
      void serveLogs(req, res, route, query === -1 ? '' : match.path.slice(query + 1));
      return;
    }
    sendNotFound(req, res);
  }

  async function serveLogs(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    query: string,
  ): Promise<void> {
    const requested = Number(new URLSearchParams(query).get('tail') ?? 200);
    const tail = Number.isInteger(requested) && requested > 0 ? Math.min(requested, 10_000) : 200;
    try {
      const logs = await manager.logs(route.name, {
        tail,
        signal: AbortSignal.timeout(settings.upstreamTimeoutMs),
      });
      let text = '';
      for (const entry of logs) text += `${entry.text}\n`;
      send(req, res, 200, 'text/plain; charset=utf-8', text);
    } catch (error) {
      const status = isDdeError(error) ? error.httpStatus : 502;
      const code = isDdeError(error) ? error.code : 'ENGINE_ERROR';
      sendError(req, res, status, code, `Cannot read the logs of ${route.name}.`);
    }
  }

  return { serveReserved, showFailure };
}
