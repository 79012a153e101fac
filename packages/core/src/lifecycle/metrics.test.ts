import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { DdeMetrics } from './metrics.ts';

describe('DdeMetrics', () => {
  it('exposes every series through its handler', async () => {
    const metrics = new DdeMetrics();
    metrics.countContainersWith(() => ({ ready: 2, starting: 1 }));
    metrics.launchSucceeded();
    metrics.launchFailed('IMAGE_PULL_FAILED');
    metrics.phaseDuration('probing', 0.3);
    metrics.removed('lru');
    metrics.removed('idle');
    for (let i = 0; i < 3; i++) metrics.proxied(200);
    metrics.proxied(502);
    metrics.upstreamLatency(0.002);
    metrics.websocketOpened();
    metrics.websocketOpened();
    metrics.websocketClosed();

    const server = createServer((req, res) => void metrics.handler(req, res)).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
      expect(response.headers.get('content-type')).toMatch(/text\/plain/);
      const text = await response.text();
      expect(text).toContain('dde_containers{state="ready"} 2');
      expect(text).toContain('dde_containers{state="starting"} 1');
      expect(text).toContain('dde_launches_total{result="success"} 1');
      expect(text).toContain('dde_launch_failures_total{code="IMAGE_PULL_FAILED"} 1');
      expect(text).toContain('dde_start_phase_seconds_count{phase="probing"} 1');
      expect(text).toContain('dde_removals_total{reason="lru"} 1');
      expect(text).toContain('dde_proxied_requests_total{status="200"} 3');
      expect(text).toContain('dde_proxied_requests_total{status="502"} 1');
      expect(text).toContain('dde_upstream_latency_seconds_count 1');
      expect(text).toContain('dde_active_websockets 1');
    } finally {
      server.close();
    }
  });
});
