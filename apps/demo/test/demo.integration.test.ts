/**
 * The demo end to end, as a person uses it: headless Chromium against the running demo (a child
 * process, as `npm run demo` starts it) and the real Docker Engine. Three instances, each with
 * its own namespace: path routing, hostname routing, and login. They share one image prefix, so
 * the tool images are built once (the first launch shows that build) and removed at the end.
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
  screenshot,
  startDemoProcess,
  testEngine,
} from './harness.ts';
import { seeAttribute, seeCount, seeText, textOf, WAIT, waitForTool } from './page-checks.ts';

const { docker, ready } = await testEngine();
const id = Math.random().toString(16).slice(2, 10);
const imagePrefix = `demo-${id}`;
const namespaces = {
  path: `demo-${id}-path`,
  hostname: `demo-${id}-host`,
  login: `demo-${id}-login`,
  hostnameLogin: `demo-${id}-hlogin`,
  idle: `demo-${id}-idle`,
};
const dataDirs: string[] = [];
const demos: DemoProcess[] = [];
const browsers: Browser[] = [];
reportDemoOutputOnFailure(demos);

async function startDemo(args: string[]): Promise<DemoProcess> {
  const dir = await dataDir();
  dataDirs.push(dir);
  const demo = await startDemoProcess([
    '--port',
    String(await freePort()),
    '--image-prefix',
    imagePrefix,
    '--data-dir',
    dir,
    ...args,
  ]);
  demos.push(demo);
  return demo;
}

async function browser(): Promise<Browser> {
  const opened = await openBrowser();
  browsers.push(opened);
  return opened;
}

interface LaunchChoice {
  tool: 'viewer' | 'live' | 'slow' | 'broken';
  name: string;
  file?: string;
  delivery?: 'env' | 'file' | 'url';
  parameters?: Record<string, string>;
  upload?: { name: string; content: string };
}

/**
 * Fills the launch form and submits it; resolves once the please-wait page is shown, or with
 * `refused` once the form shows an error.
 */
async function launch(
  page: Page,
  origin: string,
  choice: LaunchChoice,
  outcome: 'starts' | 'refused' = 'starts',
): Promise<void> {
  await page.goto(`${origin}/`);
  await page.check(`input[name="tool"][value="${choice.tool}"]`);
  if (choice.file) await page.selectOption('#file', choice.file);
  if (choice.upload) {
    await page.setInputFiles('#upload', {
      name: choice.upload.name,
      mimeType: 'text/csv',
      buffer: Buffer.from(choice.upload.content),
    });
  }
  await page.check(`input[name="delivery"][value="${choice.delivery ?? 'env'}"]`);
  for (const [field, value] of Object.entries(choice.parameters ?? {}))
    await page.fill(`[name="${field}"]`, value);
  await page.fill('#name', choice.name);
  await page.click('#launch-button');
  if (outcome === 'starts') await page.waitForURL(`**/containers/${choice.name}/launch`);
  else await page.locator('[data-testid="notice-error"]').waitFor({ state: 'visible' });
}

const LOCAL_ONLY = 'needs a Docker Engine and /usr/bin/chromium';

describe.skipIf(!ready.ok)(
  `the demo with path routing (${ready.ok ? 'real engine, Chromium' : LOCAL_ONLY})`,
  () => {
    let demo: DemoProcess;
    let web: Browser;
    let page: Page;
    const name = (tool: string): string => `p-${tool}-${id}`;

    beforeAll(async () => {
      demo = await startDemo(['--namespace', namespaces.path]);
      web = await browser();
      page = await web.page();
    });

    it('launches the file viewer: please-wait page with the image build, then the tool showing the sample', async () => {
      await page.goto(`${demo.url}/`);
      await seeText(page.locator('h1'), 'Launch a tool');
      await screenshot(page, 'path', '01-launch-form');
      await launch(page, demo.url, {
        tool: 'viewer',
        name: name('viewer'),
        file: 's-planets',
        delivery: 'url',
      });
      // The images of this run's prefix do not exist yet: the page shows them being built.
      await seeAttribute(page.locator('[data-step="image"]'), 'data-state', 'current');
      await seeText(
        page.locator('[data-testid="build-progress"]'),
        /Sending the build context|Building demo-/,
      );
      await screenshot(page, 'path', '02-please-wait-building-image');
      await waitForTool(page, `${demo.url}/docker/${name('viewer')}/`, 90_000);
      const table = page.locator('[data-testid="data-table"]');
      await seeCount(table.locator('tbody tr'), 8);
      await seeText(table, 'Jupiter');
      await seeText(page.locator('[data-testid="delivery"]'), 'url http://');
      await seeText(page.locator('[data-testid="public-url"]'), `${demo.url}/docker/${name('viewer')}/`);
      await screenshot(page, 'path', '03-viewer');
    });

    it('uploads a CSV of ones own and shows it (file delivery)', async () => {
      await launch(page, demo.url, {
        tool: 'viewer',
        name: name('upload'),
        delivery: 'file',
        upload: { name: 'my-birds.csv', content: 'bird,count\n"Robin, European",3\nWren,11\n' },
      });
      await waitForTool(page, `**/docker/${name('upload')}/`, 60_000);
      await seeCount(page.locator('[data-testid="data-table"] tbody tr'), 2);
      await seeText(page.locator('[data-testid="data-table"]'), 'Robin, European');
      await seeText(page.locator('[data-testid="delivery"]'), /^file \/input\/input\.json$/);
      await screenshot(page, 'path', '04-viewer-uploaded-file');
    });

    it('live tool: the counter and the echo work over a WebSocket through the proxy; its own cookie survives', async () => {
      await launch(page, demo.url, {
        tool: 'live',
        name: name('live'),
        parameters: { 'live.greeting': 'Hi from the test' },
      });
      await waitForTool(page, `**/docker/${name('live')}/`, 60_000);
      await seeAttribute(page.locator('body'), 'data-ws', 'open');
      await seeText(page.locator('h2#live-heading'), 'Hi from the test');
      await page.click('#increment');
      await page.click('#increment');
      await seeText(page.locator('[data-testid="count"]'), /^2$/);
      await page.fill('#text', 'ping through dde');
      await page.keyboard.press('Enter');
      await seeText(page.locator('#messages'), 'echo: ping through dde');
      await page.reload();
      await seeText(page.locator('[data-testid="visits"]'), '2 times');
      await seeAttribute(page.locator('body'), 'data-ws', 'open');
      await seeText(page.locator('[data-testid="count"]'), /^2$/);
      await screenshot(page, 'path', '05-live-websocket');
    });

    it("slow tool: the please-wait page follows the warm-up (and the tool's URL shows the proxy's own wait page)", async () => {
      await launch(page, demo.url, {
        tool: 'slow',
        name: name('slow'),
        parameters: { 'slow.delaySeconds': '6' },
      });
      await seeAttribute(page.locator('[data-step="probe"]'), 'data-state', 'current');
      await seeText(page.locator('[data-testid="headline"]'), 'waiting for the tool to answer');
      await screenshot(page, 'path', '06-please-wait-probing');
      const direct = await web.page();
      const response = await direct.goto(`${demo.url}/docker/${name('slow')}/`);
      expect(response?.status()).toBe(503);
      await seeText(direct.locator('h1'), `Starting ${name('slow')}`);
      await screenshot(direct, 'path', '07-proxy-please-wait');
      await waitForTool(page, `**/docker/${name('slow')}/`, 60_000);
      await seeText(page.locator('[data-testid="warm-up"]'), 'Ready after a warm-up');
      // The proxy's page reloads itself once the tool answers.
      await seeText(direct.locator('[data-testid="warm-up"]'), 'Ready after a warm-up');
      await direct.close();
      await screenshot(page, 'path', '08-slow-ready');
    });

    it('crashing tool: the failure page shows why, with the container logs', async () => {
      await launch(page, demo.url, { tool: 'broken', name: name('broken'), delivery: 'env' });
      await page.locator('[data-testid="failure"]').waitFor({ state: 'visible', timeout: 60_000 });
      await seeText(page.locator('[data-testid="failure"]'), 'exited with code 3');
      await seeText(
        page.locator('[data-testid="failure-logs"]'),
        'cannot open /models/weights.bin: no such file or directory',
      );
      await seeAttribute(page.locator('[data-step="probe"]'), 'data-state', 'failed');
      await screenshot(page, 'path', '09-failure-with-logs');
    });

    it('bad input gets a clear message on the page, never a stack trace', async () => {
      // Name clash.
      await page.goto(`${demo.url}/`);
      await page.check('input[name="tool"][value="live"]');
      await page.fill('#name', name('viewer'));
      await page.click('#launch-button');
      const notice = page.locator('[data-testid="notice-error"]');
      await seeText(notice, `A container named "${name('viewer')}" already exists`);
      await seeAttribute(page.locator('#name'), 'aria-invalid', 'true');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('name');
      await screenshot(page, 'path', '10-error-name-clash');
      // Missing file.
      await page.check('input[name="tool"][value="viewer"]');
      await page.fill('#name', '');
      await page.click('#launch-button');
      await seeText(notice, 'File viewer shows a data file: pick one or upload your own.');
      // Invalid name.
      await page.check('input[name="tool"][value="live"]');
      await page.fill('#name', 'Not A Name!');
      await page.click('#launch-button');
      await seeText(notice, 'must be lowercase letters, digits and hyphens');
      // An unknown tool and an unknown file, as a hand-made form post.
      for (const [form, message, status] of [
        [{ tool: 'spreadsheet', delivery: 'env' }, 'There is no tool called &quot;spreadsheet&quot;', 400],
        [{ tool: 'viewer', file: 's-nothing', delivery: 'env' }, 'That data file does not exist', 404],
      ] as const) {
        const response = await page.request.post(`${demo.url}/launch`, { form: { ...form } });
        expect(response.status()).toBe(status);
        const body = await response.text();
        expect(body).toContain(message);
        expect(body).not.toMatch(/\bat .+\.ts:\d+/);
      }
      const missing = await page.goto(`${demo.url}/containers/no-such-container`);
      expect(missing?.status()).toBe(404);
      await seeText(
        page.locator('[data-testid="error-page"]'),
        'There is no container called "no-such-container"',
      );
    });

    it('the dashboard lists every container with tool, owner, phase, memory, age and activity, and the budget', async () => {
      await page.goto(`${demo.url}/dashboard`);
      const rows = page.locator('[data-testid="containers"] tbody tr');
      await seeCount(rows, 5);
      const viewer = page.locator(`tr[data-container="${name('viewer')}"]`);
      await seeText(viewer, 'File viewer');
      await seeText(viewer, 'planets.csv');
      await seeText(viewer, 'guest');
      await seeText(viewer, '128 MB');
      await seeAttribute(viewer.locator('[data-phase]'), 'data-phase', 'ready');
      await seeText(viewer, /ago/);
      await seeAttribute(
        page.locator(`tr[data-container="${name('broken')}"] [data-phase]`),
        'data-phase',
        'failed',
      );
      // 2 viewers (128 each), live and slow (96 each); the failed one (64) has exited, so it
      // holds no memory.
      await seeText(page.locator(`tr[data-container="${name('broken')}"]`), 'freed');
      await seeText(page.locator('[data-testid="used-mb"]'), '448 MB');
      expect(await page.locator('[data-testid="eviction-order"] code').count()).toBeGreaterThan(0);
      // The README's picture; `npm run screenshot -w @dde/demo` copies it there (tests never
      // write tracked files).
      await screenshot(page, 'path', '11-dashboard');
    });

    it("a container's page lists its request history and shows its logs", async () => {
      await page.goto(`${demo.url}/dashboard`);
      await page.click(`tr[data-container="${name('live')}"] [data-action="details"]`);
      await page.waitForURL(`**/containers/${name('live')}`);
      const history = page.locator('[data-testid="history"]');
      await seeText(history, 'GET');
      await seeText(history, 'WebSocket open');
      await seeText(history, 'WebSocket close');
      await seeText(page.locator('[data-testid="logs"]'), 'live: WebSocket opened');
      await seeText(page.locator('[data-testid="logs"]'), 'counter is now 2');
      await screenshot(page, 'path', '12-history-and-logs');
    });

    it('kill removes the container', async () => {
      await page.goto(`${demo.url}/dashboard`);
      page.once('dialog', (dialog) => void dialog.accept());
      await page.click(`tr[data-container="${name('live')}"] [data-action="kill"]`);
      await page.waitForURL(`**/dashboard?removed=${name('live')}`);
      await seeText(page.locator('[data-testid="notice-info"]'), `Removed ${name('live')}.`);
      await seeCount(page.locator(`tr[data-container="${name('live')}"]`), 0);
      expect(await containerNames(docker, namespaces.path)).not.toContain(name('live'));
      const gone = await page.goto(`${demo.url}/docker/${name('live')}/`);
      expect(gone?.status()).toBe(404);
      await screenshot(page, 'path', '13-after-kill');
    });

    it('a shutdown leaves the containers running, and the next start adopts them', async () => {
      const dir = dataDirs[dataDirs.length - 1] as string;
      expect(await demo.stop('SIGTERM')).toBe(0);
      expect(demo.output()).toContain('containers keep running');
      expect(await containerNames(docker, namespaces.path)).toContain(name('viewer'));
      const again = await startDemoProcess([
        '--port',
        String(demo.port),
        '--image-prefix',
        imagePrefix,
        '--data-dir',
        dir,
        '--namespace',
        namespaces.path,
      ]);
      demos.push(again);
      expect(again.output()).toContain('adopted 4 existing container(s)');
      await page.goto(`${again.url}/docker/${name('viewer')}/`);
      await seeText(page.locator('[data-testid="data-table"]'), 'Jupiter');
      await page.goto(`${again.url}/containers/${name('viewer')}`);
      // The history was kept on disk across the restart.
      expect(await page.locator('[data-testid="history"] tbody tr').count()).toBeGreaterThan(0);
      expect(await again.stop('SIGINT')).toBe(0);
    });
  },
);

describe.skipIf(!ready.ok)('the demo with hostname routing', () => {
  let demo: DemoProcess;
  let web: Browser;
  let page: Page;
  const name = (tool: string): string => `h-${tool}-${id}`;

  beforeAll(async () => {
    demo = await startDemo([
      '--namespace',
      namespaces.hostname,
      '--routing',
      'hostname',
      '--budget-mb',
      '200',
    ]);
    web = await browser();
    page = await web.page();
  });

  it('serves the pages on docker.localhost and each tool on its own host, WebSocket included', async () => {
    expect(demo.url).toBe(`http://docker.localhost:${demo.port}`);
    await page.goto(`http://localhost:${demo.port}/`);
    expect(page.url()).toBe(`${demo.url}/`);
    await launch(page, demo.url, { tool: 'live', name: name('live') });
    await waitForTool(page, `http://${name('live')}.docker.localhost:${demo.port}/`, 90_000);
    await seeAttribute(page.locator('body'), 'data-ws', 'open');
    await page.click('#increment');
    await seeText(page.locator('[data-testid="count"]'), /^1$/);
    await seeText(
      page.locator('[data-testid="public-url"]'),
      `http://${name('live')}.docker.localhost:${demo.port}/`,
    );
    await screenshot(page, 'hostname', '01-live-on-its-own-host');
  });

  it('refuses a launch that does not fit the memory budget while the other container is in use', async () => {
    // The live tool (96 MB) has an open WebSocket, so it cannot be evicted; a viewer needs 128 MB of 200.
    const other = await web.page();
    await launch(other, demo.url, { tool: 'viewer', name: name('viewer'), file: 's-cafe-orders' }, 'refused');
    await seeText(other.locator('[data-testid="notice-error"]'), 'Not enough memory');
    await screenshot(other, 'hostname', '02-capacity-refused');
    // Once the WebSocket is closed, LRU eviction makes room.
    await page.goto('about:blank');
    await other.goto(`${demo.url}/dashboard`);
    await expect
      .poll(
        async () => (await textOf(other.locator(`tr[data-container="${name('live')}"]`))) || 'not shown yet',
        WAIT,
      )
      .not.toMatch(/WebSocket|not shown yet/);
    await seeText(other.locator('[data-testid="eviction-order"]'), name('live'));
    await launch(other, demo.url, { tool: 'viewer', name: name('viewer'), file: 's-cafe-orders' });
    await waitForTool(other, `http://${name('viewer')}.docker.localhost:${demo.port}/`, 60_000);
    await seeText(other.locator('[data-testid="data-table"]'), 'Cappuccino');
    expect(await containerNames(docker, namespaces.hostname)).toEqual([name('viewer')]);
    // The dashboard says the live tool went away; the metrics say why (read in the browser:
    // Node does not resolve *.localhost).
    await other.goto(`${demo.url}/dashboard`);
    const removed = other.locator(`[data-removed="${name('live')}"]`);
    await seeText(removed, 'LRU eviction');
    await seeText(removed, 'Live counter) was evicted to make room');
    await seeAttribute(removed, 'data-reason', 'lru');
    // The viewer's launch log said so.
    const status = await other.evaluate(
      async (url) => ((await (await fetch(url)).json()) as { html: string }).html,
      `${demo.url}/containers/${name('viewer')}/status`,
    );
    expect(status).toContain(`Evicting ${name('live')} to make room`);
    const metrics = await other.evaluate(async (url) => (await fetch(url)).text(), `${demo.url}/metrics`);
    expect(metrics).toContain('dde_removals_total{reason="lru"} 1');
    await screenshot(other, 'hostname', '03-dashboard-after-eviction');
    await other.close();
  });

  it('history, logs and kill work the same', async () => {
    await page.goto(`${demo.url}/containers/${name('viewer')}`);
    await seeText(page.locator('[data-testid="history"]'), 'GET');
    await seeText(page.locator('[data-testid="logs"]'), 'loaded cafe-orders.csv: 240 rows');
    await screenshot(page, 'hostname', '04-history-and-logs');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('[data-action="kill"]');
    await page.waitForURL(`**/dashboard?removed=${name('viewer')}`);
    await seeCount(page.locator('[data-testid="containers"]'), 0);
    expect(await containerNames(docker, namespaces.hostname)).toEqual([]);
  });
});

describe.skipIf(!ready.ok)('the demo with login', () => {
  let demo: DemoProcess;
  let alice: Page;
  let bob: Page;
  let toolUrl: string;
  const container = `alice-live-${id}`;

  beforeAll(async () => {
    demo = await startDemo(['--namespace', namespaces.login, '--login']);
    alice = await (await browser()).page();
    bob = await (await browser()).page();
  });

  async function signIn(page: Page, user: string): Promise<void> {
    await page.fill('#username', user);
    await page.click('button[type="submit"]');
  }

  it('asks people to sign in, then lets alice launch and use her tool', async () => {
    await alice.goto(`${demo.url}/dashboard`);
    expect(new URL(alice.url()).pathname).toBe('/login');
    await screenshot(alice, 'login', '01-sign-in');
    await signIn(alice, 'alice');
    await alice.waitForURL(`${demo.url}/dashboard`);
    await launch(alice, demo.url, { tool: 'live', name: container });
    toolUrl = `${demo.url}/docker/${container}/`;
    await waitForTool(alice, toolUrl, 90_000);
    await seeAttribute(alice.locator('body'), 'data-ws', 'open');
    await alice.click('#increment');
    await seeText(alice.locator('[data-testid="count"]'), /^1$/);
    await alice.reload();
    // The tool's own cookie works; the demo's session cookie never reaches the tool.
    await seeText(alice.locator('[data-testid="visits"]'), '2 times');
    await seeText(alice.locator('[data-testid="cookies"]'), /^Cookies this tool received: live_visits$/);
    await screenshot(alice, 'login', '02-alice-tool');
  });

  it("keeps bob away from alice's container: dashboard, pages, proxy and WebSocket", async () => {
    await bob.goto(`${demo.url}/`);
    await signIn(bob, 'bob');
    await bob.waitForURL(`${demo.url}/`);
    await bob.goto(`${demo.url}/dashboard`);
    await seeText(bob.locator('[data-testid="user"]'), 'bob');
    await seeCount(bob.locator(`tr[data-container="${container}"]`), 0);
    await screenshot(bob, 'login', '03-bob-dashboard');
    const proxied = await bob.goto(toolUrl);
    expect(proxied?.status()).toBe(403);
    await seeText(bob.locator('[data-testid="error-page"]'), `${container} is not one of your containers`);
    expect(await textOf(bob.locator('body'))).not.toContain('Live counter');
    await screenshot(bob, 'login', '04-bob-forbidden');
    // The proxy's authorization hook itself, for any client: the page above is only a courtesy.
    const direct = await bob.request.get(`${toolUrl}input.json`);
    expect(direct.status()).toBe(403);
    const details = await bob.goto(`${demo.url}/containers/${container}`);
    expect(details?.status()).toBe(404);
    const kill = await bob.request.post(`${demo.url}/containers/${container}/remove`);
    expect(kill.status()).toBe(404);
    await bob.goto(`${demo.url}/`);
    const socket = await bob.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(url);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('refused');
        }),
      `${toolUrl.replace('http:', 'ws:')}ws`,
    );
    expect(socket).toBe('refused');
    expect(await containerNames(docker, namespaces.login)).toEqual([container]);
  });

  it('sends a signed-out visitor of a tool URL to sign in, then back to the tool', async () => {
    const visitor = await (await browser()).page();
    await visitor.goto(toolUrl);
    expect(new URL(visitor.url()).pathname).toBe('/login');
    await signIn(visitor, 'alice');
    await visitor.waitForURL(toolUrl);
    await seeAttribute(visitor.locator('body'), 'data-ws', 'open');
  });

  it('lets alice kill her container', async () => {
    await alice.goto(`${demo.url}/dashboard`);
    alice.once('dialog', (dialog) => void dialog.accept());
    await alice.click(`tr[data-container="${container}"] [data-action="kill"]`);
    await alice.waitForURL(`**/dashboard?removed=${container}`);
    expect(await containerNames(docker, namespaces.login)).toEqual([]);
  });
});

describe.skipIf(!ready.ok)('the demo with idle culling and a per-owner limit', () => {
  const IDLE_SECONDS = 6;
  let demo: DemoProcess;
  let web: Browser;
  let livePage: Page;
  let page: Page;
  const name = (tool: string): string => `i-${tool}-${id}`;

  beforeAll(async () => {
    demo = await startDemo([
      '--namespace',
      namespaces.idle,
      '--idle-timeout',
      `${IDLE_SECONDS}s`,
      '--max-per-owner',
      '2',
    ]);
    web = await browser();
    livePage = await web.page();
    page = await web.page();
  });

  it('refuses a launch over the per-owner limit with a clear message', async () => {
    await launch(livePage, demo.url, { tool: 'live', name: name('live') });
    await waitForTool(livePage, `**/docker/${name('live')}/`, 90_000);
    await seeAttribute(livePage.locator('body'), 'data-ws', 'open');
    await launch(page, demo.url, { tool: 'viewer', name: name('viewer'), file: 's-planets' });
    await waitForTool(page, `**/docker/${name('viewer')}/`, 60_000);
    await seeText(page.locator('[data-testid="data-table"]'), 'Jupiter');
    await launch(page, demo.url, { tool: 'viewer', name: name('third'), file: 's-planets' }, 'refused');
    await seeText(
      page.locator('[data-testid="notice-error"]'),
      'Limit reached: guest already has 2 containers, the most one person may have at once.',
    );
    await screenshot(page, 'idle', '01-per-owner-limit');
    expect((await containerNames(docker, namespaces.idle)).sort()).toEqual([name('live'), name('viewer')]);
    // The refused launch left nothing behind, not even a row on the dashboard.
    await page.goto(`${demo.url}/dashboard`);
    await seeCount(page.locator(`tr[data-container="${name('third')}"]`), 0);
  });

  it('removes a container without activity after the idle timeout, and keeps one with an open WebSocket', async () => {
    await page.goto(`${demo.url}/dashboard`);
    await seeText(
      page.locator('[data-testid="policies"]'),
      `without activity for ${IDLE_SECONDS}s are removed`,
    );
    // The viewer had its last request before the live tool's WebSocket went quiet: once it is
    // culled, both have been idle longer than the timeout, and only the WebSocket keeps the
    // live tool.
    await seeCount(page.locator(`tr[data-container="${name('viewer')}"]`), 0, 60_000);
    const removed = page.locator(`[data-removed="${name('viewer')}"]`);
    await seeText(removed, `File viewer) was removed after ${IDLE_SECONDS}s without activity`);
    await seeAttribute(removed, 'data-reason', 'idle');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // two more culling rounds
    await seeText(page.locator(`tr[data-container="${name('live')}"]`), '1 WebSocket');
    expect(await containerNames(docker, namespaces.idle)).toEqual([name('live')]);
    await screenshot(page, 'idle', '02-dashboard-after-idle-cull');
    expect(demo.output()).toContain(`${name('viewer')} was removed`);
    // The live tool still works, over the same WebSocket.
    await livePage.click('#increment');
    await seeText(livePage.locator('[data-testid="count"]'), /^1$/);
    // A link to the removed container says what became of it.
    const gone = await page.goto(`${demo.url}/containers/${name('viewer')}`);
    expect(gone?.status()).toBe(404);
    await seeText(page.locator('[data-testid="error-page"]'), `${name('viewer')} was removed`);
  });

  it('counts the cull and the refusal in the Prometheus metrics at /metrics', async () => {
    const response = await page.request.get(`${demo.url}/metrics`);
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toContain('text/plain');
    const metrics = await response.text();
    expect(metrics).toContain('dde_removals_total{reason="idle"} 1');
    expect(metrics).toContain('dde_launches_total{result="success"} 2');
    expect(metrics).toContain('dde_launch_failures_total{code="LIMIT_EXCEEDED"} 1');
    expect(metrics).toContain('dde_active_websockets 1');
    expect(metrics).toMatch(/dde_containers\{state="ready"\} 1/);
  });

  it('lets the refused launch through once the cull made room under the limit', async () => {
    await launch(page, demo.url, { tool: 'viewer', name: name('third'), file: 's-planets' });
    await waitForTool(page, `**/docker/${name('third')}/`, 60_000);
    await seeText(page.locator('[data-testid="data-table"]'), 'Jupiter');
  });
});

describe.skipIf(!ready.ok)('the demo with hostname routing and login', () => {
  it("signs in on the domain, reaches one's own tool host with its WebSocket, and keeps others out", async () => {
    const demo = await startDemo([
      '--namespace',
      namespaces.hostnameLogin,
      '--routing',
      'hostname',
      '--login',
    ]);
    const container = `alice-hl-${id}`;
    const toolUrl = `http://${container}.docker.localhost:${demo.port}/`;
    const alice = await (await browser()).page();
    await alice.goto(`${demo.url}/`);
    await alice.fill('#username', 'alice');
    await alice.click('button[type="submit"]');
    await alice.waitForURL(`${demo.url}/`);
    await launch(alice, demo.url, { tool: 'live', name: container });
    await waitForTool(alice, toolUrl, 90_000);
    await seeAttribute(alice.locator('body'), 'data-ws', 'open');
    // The session cookie is set for the domain so that tool hosts get it; the proxy takes it out.
    await seeText(alice.locator('[data-testid="cookies"]'), /^Cookies this tool received: none$/);
    await alice.reload();
    await seeText(alice.locator('[data-testid="cookies"]'), /^Cookies this tool received: live_visits$/);
    await seeAttribute(alice.locator('body'), 'data-ws', 'open');
    await screenshot(alice, 'hostname-login', '01-alice-tool-host');
    const bob = await (await browser()).page();
    await bob.goto(toolUrl);
    expect(new URL(bob.url()).pathname).toBe('/login');
    await bob.fill('#username', 'bob');
    await bob.click('button[type="submit"]');
    await seeText(bob.locator('[data-testid="error-page"]'), `${container} is not one of your containers`);
    expect(new URL(bob.url()).host).toBe(`${container}.docker.localhost:${demo.port}`);
    await screenshot(bob, 'hostname-login', '02-bob-refused');
  });
});

afterAll(async () => {
  for (const opened of browsers) await opened.close();
  for (const demo of demos) await demo.stop('SIGTERM').catch(() => null);
  await removeEverything(docker, Object.values(namespaces), imagePrefix);
  for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
}, 120_000);
