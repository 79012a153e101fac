/**
 * What a new user hit (issue 16), end to end in Chromium against the running demo and the real
 * engine: a launch the engine refuses (its network is gone) ends on the failure page with the
 * engine's message and one dashboard row that agrees; Kill asks first; the tool under the
 * portal's bar; a bookmarked tool URL after its container is gone offers a relaunch at the same
 * URL; the wait page's title follows the launch. Own namespace and image prefix (`nc-`).
 */
import { rm } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, DemoProcess } from './harness.ts';
import {
  containerNames,
  dataDir,
  freePort,
  openBrowser,
  removeEverything,
  reportDemoOutputOnFailure,
  runId,
  screenshot,
  startDemoProcess,
  testEngine,
} from './harness.ts';
import { seeText, WAIT } from './page-checks.ts';

const { docker, ready } = await testEngine();
const id = runId();
const namespace = `nc-${id}`;
const imagePrefix = `nc-${id}`;
const network = `nc-net-${id}`;

let demo: DemoProcess;
/** The one demo, once started (for {@link reportDemoOutputOnFailure}). */
const started: DemoProcess[] = [];
reportDemoOutputOnFailure(started);
let web: Browser;
let page: Page;
let dir: string;

async function launchLive(name: string): Promise<void> {
  await page.goto(`${demo.url}/`);
  await page.check('input[name="tool"][value="live"]');
  await page.check('input[name="delivery"][value="env"]');
  await page.fill('#name', name);
  await page.click('#launch-button');
  await page.waitForURL(`**/containers/${name}/launch`);
}

describe.skipIf(!ready.ok)('what a new user hit (issue 16)', () => {
  beforeAll(async () => {
    // The demo starts on a network that exists (it reads its gateway), which then goes away.
    await docker.createNetwork({ Name: network });
    dir = await dataDir();
    demo = await startDemoProcess([
      '--port',
      String(await freePort()),
      '--namespace',
      namespace,
      '--image-prefix',
      imagePrefix,
      '--data-dir',
      dir,
      '--network',
      network,
    ]);
    started.push(demo);
    await docker.getNetwork(network).remove();
    web = await openBrowser();
    page = await web.page();
  });

  it("a launch the engine refuses ends on the failure page with the engine's message, and the dashboard agrees", async () => {
    const name = `nc-refused-${id}`;
    await launchLive(name);
    const failure = page.locator('[data-testid="failure"]');
    await seeText(failure, `network ${network} not found`, 120_000); // the first launch builds the images
    await seeText(page.locator('#wait-heading'), `${name} could not start`);
    expect(await page.title()).toBe(`${name} could not start · dde demo`);
    expect(await page.locator('[data-action="relaunch"]').count()).toBe(1);
    expect(await page.locator('[data-action="remove"]').count()).toBe(1);
    await screenshot(page, 'newcomer', '01-engine-refused');
    await page.goto(`${demo.url}/dashboard`);
    const row = page.locator(`tr[data-container="${name}"]`);
    // One row, failed, that can be dismissed; the container is not listed as removed as well.
    await expect.poll(() => row.locator('[data-phase]').getAttribute('data-phase'), WAIT).toBe('failed');
    await seeText(row, 'not created');
    expect(await page.locator(`[data-removed="${name}"]`).count()).toBe(0);
    await screenshot(page, 'newcomer', '02-dashboard-agrees');
    // Remove from the failure page.
    await page.goto(`${demo.url}/containers/${name}/launch`);
    await page.click('[data-action="remove"]');
    await page.waitForURL(`**/dashboard?removed=${name}`);
    expect(await page.locator(`tr[data-container="${name}"]`).count()).toBe(0);
  });

  it('relaunches a failed launch from its failure page once the network is back', async () => {
    const name = `nc-again-${id}`;
    await launchLive(name);
    await seeText(page.locator('[data-testid="failure"]'), `network ${network} not found`);
    await docker.createNetwork({ Name: network });
    await page.click('[data-action="relaunch"]');
    await page.waitForURL(`${demo.url}/docker/${name}/`, { timeout: 120_000 });
    await expect.poll(() => page.locator('body').getAttribute('data-ws'), WAIT).toBe('open');
    // The launch's own page, once ready, says so (it used to say "Starting ..." beside "ready").
    const status = (await (await page.request.get(`${demo.url}/containers/${name}/status`)).json()) as {
      title: string;
    };
    expect(status.title).toBe('Live counter is ready · dde demo');
  });

  it('opens the tool under a thin bar back to the portal, and Kill asks first (naming the open WebSocket)', async () => {
    const name = `nc-again-${id}`;
    const framed = await web.page();
    await framed.goto(`${demo.url}/dashboard`);
    await framed.click(`tr[data-container="${name}"] [data-action="open-with-bar"]`);
    await framed.waitForURL(`**/containers/${name}/view`);
    await seeText(framed.locator('[data-testid="tool-bar"]'), `Live counter · ${name}`);
    const tool = framed.frameLocator('[data-testid="tool-frame"]');
    await expect
      .poll(() => tool.locator('body').getAttribute('data-ws', { timeout: 1000 }), WAIT)
      .toBe('open');
    await screenshot(framed, 'newcomer', '03-tool-under-bar');
    expect(await framed.locator('[data-action="full-window"]').getAttribute('href')).toBe(
      `${demo.url}/docker/${name}/`,
    );

    await page.goto(`${demo.url}/dashboard`);
    const kill = page.locator(`tr[data-container="${name}"] [data-action="kill"]`);
    await seeText(page.locator(`tr[data-container="${name}"]`), 'WebSocket');
    let question = '';
    page.once('dialog', (dialog) => {
      question = dialog.message();
      void dialog.dismiss();
    });
    await kill.click();
    await expect.poll(() => question, WAIT).toContain(`Kill ${name}?`);
    expect(question).toMatch(/open WebSocket(s)?: someone is using it right now/);
    expect(await containerNames(docker, namespace)).toContain(name);
    page.once('dialog', (dialog) => void dialog.accept());
    await kill.click();
    await page.waitForURL(`**/dashboard?removed=${name}`);
    expect(await containerNames(docker, namespace)).not.toContain(name);
    await framed.close();
  });

  it('a bookmarked tool URL whose container is gone says so and relaunches it at the same URL', async () => {
    const name = `nc-again-${id}`;
    const url = `${demo.url}/docker/${name}/`;
    const gone = await page.goto(url);
    expect(gone?.status()).toBe(404);
    expect(await page.title()).toBe(`${name} is gone · dde demo`);
    await seeText(page.locator('[data-testid="gone-what"]'), `${name} was removed on request`);
    await screenshot(page, 'newcomer', '04-gone-offers-relaunch');
    await page.click('[data-action="relaunch"]');
    await page.waitForURL(url, { timeout: 60_000 });
    await expect.poll(() => page.locator('body').getAttribute('data-ws'), WAIT).toBe('open');
    // Never heard of: a demo page too, without a relaunch.
    await page.goto(`${demo.url}/docker/nc-never-${id}/`);
    await seeText(page.locator('[data-testid="gone-what"]'), `There is no container called nc-never-${id}.`);
    expect(await page.locator('[data-action="relaunch"]').count()).toBe(0);
  });
});

afterAll(async () => {
  await web?.close();
  await demo?.stop('SIGTERM').catch(() => null);
  await removeEverything(docker, [namespace], imagePrefix);
  await docker
    .getNetwork(network)
    .remove()
    .catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);
