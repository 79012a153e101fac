/**
 * Polls `probe` every `intervalMs` until it returns something other than undefined, and
 * returns that; throws after `timeoutMs`. For conditions that settle asynchronously (an event
 * arriving, a server starting to listen).
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** GETs `http://host:port/path` until it answers 200, and returns the body. */
export async function fetchWhenReady(
  upstream: { readonly host: string; readonly port: number } | undefined,
  path: string,
  options: { timeoutMs?: number } = {},
): Promise<string> {
  if (!upstream) throw new Error('No upstream: is the container running?');
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  return eventually(
    async () => {
      try {
        const response = await fetch(`http://${host}:${upstream.port}${path}`, {
          signal: AbortSignal.timeout(5_000),
        });
        const body = await response.text();
        return response.status === 200 ? body : undefined;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: options.timeoutMs ?? 30_000 },
  );
}
