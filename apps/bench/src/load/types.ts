/** What every load generator reports for one run against one URL. */
export interface LoadResult {
  /** Completed requests per second over the measured duration. */
  readonly requestsPerSecond: number;
  /** Median latency, in milliseconds. */
  readonly p50Ms: number;
  /** 99th percentile latency, in milliseconds. */
  readonly p99Ms: number;
  /** Requests completed. */
  readonly requests: number;
  /** Responses that were not 2xx/3xx plus socket errors and timeouts. */
  readonly errors: number;
  /** The measured duration, in seconds. */
  readonly seconds: number;
  /** CPU time the proxy under test spent per completed request (user + system), in µs, where measurable. */
  readonly proxyCpuUsPerRequest?: number;
  /** The share of that CPU time spent in the kernel (system calls, TCP). */
  readonly proxySystemShare?: number;
}

/** How a load run goes: the same for every target. */
export interface LoadOptions {
  /** Concurrent keep-alive connections. */
  readonly connections: number;
  /** Measured duration, in seconds. */
  readonly seconds: number;
}

/** An HTTP load generator running in its own process. */
export interface LoadGenerator {
  /** Its name and version, as printed with the results. */
  readonly name: string;
  /** Runs GET requests against `url` and reports. */
  run(url: string, options: LoadOptions): Promise<LoadResult>;
}
