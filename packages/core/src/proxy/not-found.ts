import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../lifecycle/logger.ts';
import type { RouteMatch } from '../routing/router.ts';
import { send, sendNotFound, wantsPage } from './pages.ts';
import type { NotFoundAnswer, ProxyOptions } from './proxy-options.ts';

type NotFoundHook = NonNullable<ProxyOptions['notFound']>;

/**
 * How the proxy answers a name no container has: with the application's `notFound` hook's answer
 * (a page, a text or a redirect, maybe from a promise) when it has one, else a plain 404. A hook
 * that throws, rejects or answers something unusable is logged and gives the 404.
 */
export function missingAnswerer(
  hook: NotFoundHook | undefined,
  logger: Logger,
): (req: IncomingMessage, res: ServerResponse, match: RouteMatch) => void {
  /** No such container: the application's answer when it has a `notFound` hook, else a 404. */
  function answerMissing(req: IncomingMessage, res: ServerResponse, match: RouteMatch): void {
    if (hook === undefined) {
      sendNotFound(req, res);
      return;
    }
    let answer: ReturnType<NotFoundHook>;
    try {
      answer = hook({ req, name: match.name, path: match.path, page: wantsPage(req) });
    } catch (error) {
      notFoundHookFailed(req, res, error);
      return;
    }
    if (isThenable(answer)) {
      Promise.resolve(answer).then(
        (resolved) => writeNotFoundAnswer(req, res, resolved),
        (error: unknown) => notFoundHookFailed(req, res, error),
      );
    } else writeNotFoundAnswer(req, res, answer);
  }

  function notFoundHookFailed(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    logger.error({ url: req.url, error }, 'the notFound hook failed');
    if (!res.destroyed) sendNotFound(req, res);
  }

  function writeNotFoundAnswer(
    req: IncomingMessage,
    res: ServerResponse,
    answer: NotFoundAnswer | undefined,
  ): void {
    if (res.destroyed) return;
    if (answer === undefined) {
      sendNotFound(req, res);
      return;
    }
    const status = answer.status;
    if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
      notFoundHookFailed(
        req,
        res,
        new Error(`notFound answered status ${String(status)}: not an HTTP status`),
      );
      return;
    }
    if ('redirect' in answer) {
      send(req, res, status ?? 303, 'text/plain; charset=utf-8', `See ${answer.redirect}\n`, [
        'location',
        answer.redirect,
      ]);
    } else if ('html' in answer) send(req, res, status ?? 404, 'text/html; charset=utf-8', answer.html);
    else if ('text' in answer) send(req, res, status ?? 404, 'text/plain; charset=utf-8', answer.text);
    else notFoundHookFailed(req, res, new Error('notFound answered neither html, text nor redirect'));
  }

  return answerMissing;
}

/** A promise, from this realm or not (a hook may return any thenable). */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}
