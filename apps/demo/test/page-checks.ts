/** Waiting for what a page shows, the way a person would: poll until it appears or time runs out. */
import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';

/** How long and how often the checks poll. */
export const WAIT: { readonly timeout: number; readonly interval: number } = {
  timeout: 30_000,
  interval: 200,
};

/** The element's text once it exists ('' until then). */
export function textOf(locator: Locator): Promise<string> {
  return locator
    .first()
    .textContent({ timeout: 1000 })
    .then((text) => text ?? '')
    .catch(() => '');
}

/** Waits until the element's text contains `expected` (or matches it). */
export async function seeText(
  locator: Locator,
  expected: string | RegExp,
  timeout = WAIT.timeout,
): Promise<void> {
  const poll = expect.poll(() => textOf(locator), { ...WAIT, timeout });
  if (typeof expected === 'string') await poll.toContain(expected);
  else await poll.toMatch(expected);
}

/** Waits until the element's attribute matches. */
export async function seeAttribute(
  locator: Locator,
  name: string,
  expected: string | RegExp,
  timeout = WAIT.timeout,
): Promise<void> {
  const value = (): Promise<string> =>
    locator
      .first()
      .getAttribute(name, { timeout: 1000 })
      .then((found) => found ?? '')
      .catch(() => '');
  const poll = expect.poll(value, { ...WAIT, timeout });
  if (typeof expected === 'string') await poll.toBe(expected);
  else await poll.toMatch(expected);
}

/** Waits until the locator matches `count` elements. */
export async function seeCount(locator: Locator, count: number, timeout = WAIT.timeout): Promise<void> {
  await expect.poll(() => locator.count(), { ...WAIT, timeout }).toBe(count);
}

/**
 * Waits until the launch page opens the tool at `url` (a URL or glob, as for `waitForURL`).
 * Fails at once, with the page's message, when the launch page shows a failure instead: a
 * launch the engine refused then costs seconds, not the whole timeout, and says why.
 */
export async function waitForTool(page: Page, url: string, timeout = 90_000): Promise<void> {
  const deadline = Date.now() + timeout;
  const failure = page.locator('[data-testid="failure"]');
  for (;;) {
    try {
      await page.waitForURL(url, { timeout: 1000 });
      return;
    } catch (error) {
      if (!(error instanceof Error && error.name === 'TimeoutError')) throw error;
    }
    if ((await failure.count()) > 0) {
      const message = (await textOf(failure)).trim();
      throw new Error(`The launch failed instead of opening ${url}: ${message} (page ${page.url()})`);
    }
    if (Date.now() > deadline) {
      // What the launch page says it is doing: the step it is at and its latest activity lines.
      const step = await page
        .locator('[data-state="current"]')
        .first()
        .getAttribute('data-step', { timeout: 1000 })
        .catch(() => null);
      const activity = (await textOf(page.locator('[data-testid="events"]')))
        .trim()
        .split('\n')
        .slice(-5)
        .join(' | ');
      throw new Error(
        `${url} did not open within ${timeout / 1000} s; the page is at ${page.url()}, step ${step ?? 'unknown'}, activity: ${activity || 'none shown'}`,
      );
    }
  }
}
