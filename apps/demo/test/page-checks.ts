/** Waiting for what a page shows, the way a person would: poll until it appears or time runs out. */
import type { Locator } from 'playwright-core';
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
