/**
 * The slow tool: warms up for `delaySeconds` (a parameter, default 8) before it listens, like a
 * notebook or a JVM would, so the demo's please-wait page has something to wait for.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  escapeHtml,
  inputSection,
  log,
  readInput,
  serveInputJson,
  startServer,
  toolPage,
} from './toolkit.ts';

const received = await readInput();
const delaySeconds = Math.min(300, Math.max(0, Number(received.input.parameters?.delaySeconds ?? 8) || 0));
const startedAt = Date.now();
for (let second = 1; second <= delaySeconds; second += 1) {
  await sleep(1000);
  log('slow', `warming up ${second}/${delaySeconds}`);
}
const warmUp = ((Date.now() - startedAt) / 1000).toFixed(1);

const page = toolPage({
  title: 'Slow starter',
  accent: '#8a4fd1',
  body: `<section><h2>Warmed up</h2>
<p data-testid="warm-up">Ready after a warm-up of ${escapeHtml(warmUp)} seconds. Until then the proxy showed its please-wait page.</p>
</section>
${inputSection(received)}`,
});

startServer('slow', (req, res) => {
  if (serveInputJson(req.url, received, res)) return;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
});
