import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { describe, it } from 'vitest';
import { requireDocker, testDocker } from './docker.ts';
import { freePort } from './ports.ts';

/** TLS files (paths) for a test engine's TCP listener: clients must show a certificate `ca` signed. */
export interface TestEngineTls {
  /** CA that signs client certificates (`--tlscacert`). */
  readonly ca: string;
  /** The engine's certificate (`--tlscert`). */
  readonly cert: string;
  /** The engine's key (`--tlskey`). */
  readonly key: string;
}

/** Options of {@link startTestEngine}. */
export interface TestEngineOptions {
  /** Also listen on a free loopback TCP port with mutual TLS (`--tlsverify`). */
  readonly tls?: TestEngineTls;
  /** Keep containers running while dockerd is stopped (`--live-restore`). Default false. */
  readonly liveRestore?: boolean;
  /** How long to wait for dockerd to answer after each start. Default 60 s. */
  readonly startTimeoutMs?: number;
}

/** A second Docker Engine owned by one test file (see {@link startTestEngine}). */
export interface TestEngine {
  /** The engine's unix socket. */
  readonly socketPath: string;
  /** Its loopback TCP port with mutual TLS, when {@link TestEngineOptions.tls} was given. */
  readonly tcpPort: number | undefined;
  /** A dockerode client on {@link socketPath} (for test setup and checks). */
  readonly docker: Dockerode;
  /** The bridge its containers join (created by the helper, deleted by {@link close}). */
  readonly bridge: string;
  /** The bridge's address with prefix, e.g. `172.29.41.1/24`. */
  readonly bridgeAddress: string;
  /** The directory holding its data root, exec root, pidfile, socket and `dockerd.log`. */
  readonly directory: string;
  /** Whether dockerd is running (between {@link start} and {@link stop}). */
  readonly running: boolean;
  /** Stops dockerd (SIGTERM, as a service manager would); with live-restore containers keep running. */
  stop(): Promise<void>;
  /** Starts dockerd again with the same settings and waits until it answers. */
  start(): Promise<void>;
  /**
   * Turns live-restore on or off in the running dockerd (rewrites its config file and sends
   * SIGHUP: live-restore is one of dockerd's reloadable settings); resolves once it reports it.
   */
  setLiveRestore(enabled: boolean): Promise<void>;
  /** Copies `image` from the main engine (`docker save | docker load`). */
  loadImage(image: string): Promise<void>;
  /** The last lines of dockerd's log, for failure messages. */
  logTail(lines?: number): string;
  /** Removes every container, stops dockerd and its containerd, unmounts and deletes everything, deletes the bridge. */
  close(): Promise<void>;
}

const ROOT_DIR = '/tmp';
const BRIDGE_PREFIX = 'ddet';
const SUBNET = '172.29';
const PREDEFINED_NETWORKS = new Set(['bridge', 'host', 'none']);
const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';

/**
 * Why this machine cannot run a second engine (not root, no dockerd, no `ip`), or undefined.
 * Under `CI=true` tests must fail rather than skip when this is defined.
 */
export function testEngineUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'a second Docker Engine needs root (dockerd, ip link)';
  for (const tool of ['dockerd', 'ip']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt-get install docker.io iproute2)`;
    }
  }
  return undefined;
}

/**
 * Declares a suite that starts second engines (see {@link startTestEngine}): it needs the main
 * engine (images come from it) and root. Without them it shows as skipped locally and fails
 * under `CI=true`.
 */
export async function describeWithTestEngine(
  title: string,
  factory: (main: Dockerode) => void,
): Promise<void> {
  const main = await requireDocker();
  const reason = testEngineUnavailable();
  if (main && reason === undefined) {
    describe(title, () => factory(main));
    return;
  }
  if (process.env.CI === 'true') throw new Error(`CI=true but ${title} cannot run: ${reason}`);
  describe.skip(title, () => {
    it(`needs a Docker Engine and root: ${reason ?? 'no engine answered'}`, () => {});
  });
}

/**
 * Starts a second real dockerd owned by the calling test: its own data root, exec root (so its
 * own managed containerd, whose state lives there), pidfile, config file, unix socket and,
 * optionally, a loopback TCP port with mutual TLS. Its containers join a bridge created here
 * first, with a unique name and a free `172.29.x.0/24`, so that several test files can each run
 * one in parallel (`--bridge ddet<id>`); `--iptables=false` keeps it away from the main engine's
 * rules. The bridge option is never the value "none", and no `--default-address-pool` is given:
 * with either, dockerd deletes the main engine's `docker0` (with the address pool, when it starts
 * again on the same data root). Its networks therefore
 * share the main engine's address pools: {@link TestEngine.close} removes them, bridges too.
 *
 * Always `close()` it (in `afterAll`): it is cleaned up even when starting failed half way.
 */
export async function startTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const reason = testEngineUnavailable();
  if (reason) throw new Error(`Cannot start a test Docker Engine: ${reason}`);
  const id = randomBytes(3).toString('hex');
  // Short paths: containerd's socket lives under the exec root and unix socket paths are short.
  const directory = join(ROOT_DIR, `eng-${id}`);
  const bridge = `${BRIDGE_PREFIX}${id}`;
  const configFile = join(directory, 'daemon.json');
  const socketPath = join(directory, 'docker.sock');
  const pidFile = join(directory, 'dockerd.pid');
  const logFile = join(directory, 'dockerd.log');
  let bridgeAddress = '';
  let tcpPort: number | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const docker = new Dockerode({ socketPath });
  const writeConfig = (enabled: boolean) => {
    writeFileSync(configFile, `${JSON.stringify({ 'live-restore': enabled })}\n`);
  };
  const logTail = (lines = 30) =>
    existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';

  const start = async () => {
    if (child) return;
    const log = openSync(logFile, 'a');
    const args = [
      '--config-file',
      configFile,
      '--data-root',
      join(directory, 'data'),
      '--exec-root',
      join(directory, 'x'),
      '--pidfile',
      pidFile,
      '-H',
      `unix://${socketPath}`,
      '--bridge',
      bridge,
      '--iptables=false',
      '--ip-masq=false',
    ];
    if (options.tls) {
      args.push(
        '-H',
        `tcp://127.0.0.1:${tcpPort}`,
        '--tlsverify',
        '--tlscacert',
        options.tls.ca,
        '--tlscert',
        options.tls.cert,
        '--tlskey',
        options.tls.key,
      );
    }
    const process_ = spawn('dockerd', args, { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    child = process_;
    exited = new Promise<void>((resolve) => process_.once('exit', () => resolve()));
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    while (!(await pings(socketPath))) {
      if (gone || Date.now() > deadline) {
        const why = gone ? 'dockerd exited' : 'dockerd did not answer in time';
        throw new Error(`${why} (${directory}):\n${logTail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const stop = async () => {
    const current = child;
    if (!current) return;
    current.kill('SIGTERM');
    const killed = setTimeout(() => current.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killed);
    child = undefined;
  };

  const close = async () => {
    // A stopped engine is brought back to remove what it made: live-restored containers outlive
    // it, and its networks' bridges live in the host's namespace, where each one left behind
    // holds an address range that no engine on the machine can use any more.
    if (!child && existsSync(join(directory, 'data'))) await start().catch(() => undefined);
    const links: string[] = [];
    if (child) {
      const containers = await docker.listContainers({ all: true }).catch(() => []);
      for (const container of containers) {
        await docker
          .getContainer(container.Id)
          .remove({ force: true, v: true })
          .catch(() => undefined);
      }
      const networks = await docker.listNetworks().catch(() => []);
      for (const network of networks) {
        if (PREDEFINED_NETWORKS.has(network.Name)) continue;
        links.push(network.Options?.[BRIDGE_NAME_OPTION] ?? `br-${network.Id.slice(0, 12)}`);
        await docker
          .getNetwork(network.Id)
          .remove()
          .catch(() => undefined);
      }
      await stop();
    }
    killProcessesUnder(directory); // containerd and shims left by a crash or a live-restore stop
    unmountUnder(directory);
    rmSync(directory, { recursive: true, force: true });
    if (bridgeAddress !== '') links.push(bridge);
    for (const link of links) deleteLink(link);
  };

  try {
    mkdirSync(directory, { recursive: false, mode: 0o700 });
    writeConfig(options.liveRestore === true);
    bridgeAddress = createBridge(bridge);
    if (options.tls) tcpPort = await freePort();
    await start();
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }

  return {
    socketPath,
    get tcpPort() {
      return tcpPort;
    },
    docker,
    bridge,
    bridgeAddress,
    directory,
    get running() {
      return child !== undefined;
    },
    stop,
    start,
    logTail,
    async setLiveRestore(enabled) {
      if (!child) throw new Error('setLiveRestore needs a running test engine');
      writeConfig(enabled);
      child.kill('SIGHUP');
      for (const deadline = Date.now() + 10_000; ; ) {
        const info = (await docker.info()) as { LiveRestoreEnabled?: boolean };
        if (info.LiveRestoreEnabled === enabled) return;
        if (Date.now() > deadline)
          throw new Error(`dockerd did not reload live-restore=${enabled}:\n${logTail()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async loadImage(image) {
      const archive = await testDocker().getImage(image).get();
      const answer = (await docker.loadImage(
        archive as unknown as NodeJS.ReadableStream,
      )) as NodeJS.ReadableStream;
      const chunks: Buffer[] = [];
      for await (const chunk of answer) chunks.push(Buffer.from(chunk as Uint8Array));
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.includes('"error"')) throw new Error(`Loading ${image} into the test engine failed: ${text}`);
    },
    close,
  };
}

/** Deletes a network interface of the host; one already gone is fine. */
function deleteLink(name: string): void {
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone (dockerd removed it with its network)
  }
}

/** Creates the bridge with a free 172.29.x.1/24 and brings it up; returns its address. */
function createBridge(name: string): string {
  execFileSync('ip', ['link', 'add', name, 'type', 'bridge'], { stdio: 'pipe' });
  const used = new Set(
    [
      ...execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).matchAll(/172\.29\.(\d+)\./g),
    ].map((match) => Number(match[1])),
  );
  const free = Array.from({ length: 254 }, (_, index) => index + 1).filter((third) => !used.has(third));
  const third = free[Math.floor(Math.random() * free.length)];
  if (third === undefined) throw new Error(`No free ${SUBNET}.x.0/24 subnet for the test engine's bridge`);
  const address = `${SUBNET}.${third}.1/24`;
  execFileSync('ip', ['addr', 'add', address, 'dev', name], { stdio: 'pipe' });
  execFileSync('ip', ['link', 'set', name, 'up'], { stdio: 'pipe' });
  return address;
}

function pings(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** SIGKILLs every process whose command line names `directory` (its containerd and shims). */
function killProcessesUnder(directory: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(`${directory}/`)) {
      try {
        process.kill(Number(entry), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }
}

/** Unmounts whatever dockerd left mounted under `directory`, deepest first. */
function unmountUnder(directory: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((target) => target === directory || target.startsWith(`${directory}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    try {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    } catch {
      // already unmounted with its parent
    }
  }
}
