/**
 * configurable-http-proxy (JupyterHub's proxy, http-proxy-3 underneath): the Node proxy dde
 * replaces. Runs as a child process on loopback; the route is added through its REST API.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { processTreeCpuTime } from '../cpu.ts';
import { freePort, startChild, waitForHttp } from '../processes.ts';
import { publicPath, type Target } from './types.ts';

const require = createRequire(import.meta.url);

/** Path and version of the installed configurable-http-proxy command. */
function chpPackage(): { bin: string; version: string } {
  const manifestPath = require.resolve('configurable-http-proxy/package.json');
  const manifest = require(manifestPath) as { version: string; bin: Record<string, string> };
  const bin = manifest.bin['configurable-http-proxy'] ?? 'bin/configurable-http-proxy';
  return { bin: join(dirname(manifestPath), bin), version: manifest.version };
}

/** configurable-http-proxy from npm (a devDependency of this workspace). */
export const chpTarget: Target = {
  id: 'chp',
  get label() {
    try {
      return `configurable-http-proxy ${chpPackage().version}`;
    } catch {
      return 'configurable-http-proxy';
    }
  },
  async unavailable() {
    try {
      chpPackage();
      return undefined;
    } catch {
      return 'not installed (npm ci in the repository root)';
    }
  },
  async start(target) {
    const { bin, version } = chpPackage();
    const [port, apiPort] = [await freePort(), await freePort()];
    const token = randomBytes(16).toString('hex');
    const args = [
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--api-ip',
      '127.0.0.1',
      '--api-port',
      String(apiPort),
    ];
    const child = startChild(process.execPath, [bin, ...args, '--log-level', 'warn'], {
      env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: token },
    });
    const api = `http://127.0.0.1:${apiPort}/api/routes`;
    await waitForHttp(api);
    const route = publicPath(target.name).replace(/\/$/, '');
    const response = await fetch(`${api}${route}`, {
      method: 'POST',
      headers: { authorization: `token ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: `http://${target.upstream.host}:${target.upstream.port}` }),
    });
    if (response.status !== 201) {
      throw new Error(
        `configurable-http-proxy ${version} refused the route: ${response.status} ${await response.text()}`,
      );
    }
    const url = `http://127.0.0.1:${port}${publicPath(target.name)}`;
    await waitForHttp(url);
    return {
      httpUrl: url,
      wsUrl: url.replace('http:', 'ws:'),
      cpuTime: () => processTreeCpuTime(child.process.pid ?? -1),
      stop: () => child.stop(),
    };
  },
};
