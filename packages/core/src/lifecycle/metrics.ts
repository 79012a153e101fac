import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter, Gauge, Histogram } from 'prom-client';
import client from 'prom-client';

/** Options of {@link DdeMetrics}. */
export interface MetricsOptions {
  /** Registry to register in. Default: a new registry of dde's own. */
  registry?: client.Registry;
  /** Prefix of every metric name. Default `dde_`. */
  prefix?: string;
}

/** Why a container was removed. */
export type RemovalReason = 'lru' | 'idle' | 'max-lifetime' | 'manual' | 'failed' | 'label';

/**
 * Prometheus metrics of a manager and its proxy (prom-client). Mount {@link DdeMetrics.handler}
 * at `/metrics`. Recording is cheap: per-label children are cached, so the proxy's hot path
 * does one map lookup and one increment.
 */
export class DdeMetrics {
  /** The registry holding dde's metrics. */
  readonly registry: client.Registry;
  readonly #launches: Counter<'result'>;
  readonly #launchFailures: Counter<'code'>;
  readonly #phaseSeconds: Histogram<'phase'>;
  readonly #removals: Counter<'reason'>;
  readonly #requests: Counter<'status'>;
  readonly #websockets: Gauge;
  readonly #upstreamSeconds: Histogram;
  readonly #requestChildren = new Map<number, client.Counter.Internal>();
  #countStates: () => Readonly<Record<string, number>> = () => ({});

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? new client.Registry();
    const prefix = options.prefix ?? 'dde_';
    const registers = [this.registry];
    const countStates = (): Readonly<Record<string, number>> => this.#countStates();
    new client.Gauge({
      name: `${prefix}containers`,
      help: 'Managed containers by readiness phase.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const [state, count] of Object.entries(countStates())) this.set({ state }, count);
      },
    });
    this.#launches = new client.Counter({
      name: `${prefix}launches_total`,
      help: 'Container launches by result.',
      labelNames: ['result'],
      registers,
    });
    this.#launchFailures = new client.Counter({
      name: `${prefix}launch_failures_total`,
      help: 'Failed launches by error code.',
      labelNames: ['code'],
      registers,
    });
    this.#phaseSeconds = new client.Histogram({
      name: `${prefix}start_phase_seconds`,
      help: 'Time spent in each start phase (pulling, creating, starting, probing).',
      labelNames: ['phase'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.#removals = new client.Counter({
      name: `${prefix}removals_total`,
      help: 'Containers removed, by reason (lru eviction, idle or max-lifetime cull, manual, failed, label purge).',
      labelNames: ['reason'],
      registers,
    });
    this.#requests = new client.Counter({
      name: `${prefix}proxied_requests_total`,
      help: 'Requests answered by the proxy, by HTTP status.',
      labelNames: ['status'],
      registers,
    });
    this.#websockets = new client.Gauge({
      name: `${prefix}active_websockets`,
      help: 'WebSocket sessions open through the proxy.',
      registers,
    });
    this.#upstreamSeconds = new client.Histogram({
      name: `${prefix}upstream_latency_seconds`,
      help: 'Time from forwarding a request to the upstream response headers.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
  }

  /** Sets how the `containers` gauge is computed at scrape time (the manager does this). */
  countContainersWith(count: () => Readonly<Record<string, number>>): void {
    this.#countStates = count;
  }

  /** Counts a launch that succeeded. */
  launchSucceeded(): void {
    this.#launches.inc({ result: 'success' });
  }

  /** Counts a launch that failed, by its error code. */
  launchFailed(code: string): void {
    this.#launches.inc({ result: 'failure' });
    this.#launchFailures.inc({ code });
  }

  /** Records how long a start phase took. */
  phaseDuration(phase: string, seconds: number): void {
    this.#phaseSeconds.observe({ phase }, seconds);
  }

  /** Counts a removal by reason. */
  removed(reason: RemovalReason): void {
    this.#removals.inc({ reason });
  }

  /** Counts a proxied response by status. Hot path: a cached child per status. */
  proxied(status: number): void {
    let child = this.#requestChildren.get(status);
    if (!child) {
      child = this.#requests.labels(String(status));
      this.#requestChildren.set(status, child);
    }
    child.inc();
  }

  /** Records the upstream latency of one request. */
  upstreamLatency(seconds: number): void {
    this.#upstreamSeconds.observe(seconds);
  }

  /** Counts a WebSocket session opening. */
  websocketOpened(): void {
    this.#websockets.inc();
  }

  /** Counts a WebSocket session closing. */
  websocketClosed(): void {
    this.#websockets.dec();
  }

  /** Answers a scrape with the text exposition format. Mount it at `/metrics`. */
  readonly handler = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await this.registry.metrics();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' });
    res.end(body);
  };
}
