import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

/** An sshd owned by a test (see {@link startSshServer}). */
export interface SshServer {
  /** Its loopback port. */
  readonly port: number;
  /** A client key the server accepts (private key file). */
  readonly identityFile: string;
  /** A known_hosts file holding the server's host key for `[127.0.0.1]:port`. */
  readonly knownHostsFile: string;
  /**
   * ssh arguments that use only these files, with host-key checking on: no `~/.ssh/config`,
   * no default keys, no agent.
   */
  readonly sshArgs: readonly string[];
  /** Stops sshd and deletes its keys and config. */
  close(): Promise<void>;
}

/** Options of {@link startSshServer}. */
export interface SshServerOptions {
  /** The only command the client key may run (`command="..."` in authorized_keys). */
  readonly forcedCommand: string;
}

/** Why this machine cannot run {@link startSshServer} (no sshd or ssh-keygen), or undefined. */
export function sshServerUnavailable(): string | undefined {
  for (const tool of ['/usr/sbin/sshd', 'ssh-keygen', 'ssh']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt-get install openssh-server openssh-client)`;
    }
  }
  return undefined;
}

/**
 * Starts Debian's sshd on a free loopback port with its own config, a host key and a client key
 * made now, accepting only that key (public-key authentication only) and only to run
 * `forcedCommand`, whatever the client asks: a remote Docker host reduced to
 * `docker system dial-stdio`, as a careful operator would set one up.
 */
export async function startSshServer(options: SshServerOptions): Promise<SshServer> {
  const directory = mkdtempSync(join(tmpdir(), 'eng-ssh-'));
  let child: ChildProcess | undefined;
  const close = async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const keygen = (file: string) =>
      execFileSync('ssh-keygen', [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        'dde-test',
        '-f',
        join(directory, file),
      ]);
    keygen('host_ed25519');
    keygen('client_ed25519');
    const port = await freePort();
    const clientKey = readFileSync(join(directory, 'client_ed25519.pub'), 'utf8').trim();
    writeFileSync(
      join(directory, 'authorized_keys'),
      `command="${options.forcedCommand.replaceAll('"', '\\"')}",restrict ${clientKey}\n`,
      { mode: 0o600 },
    );
    const hostKey = readFileSync(join(directory, 'host_ed25519.pub'), 'utf8')
      .trim()
      .split(' ')
      .slice(0, 2)
      .join(' ');
    const knownHostsFile = join(directory, 'known_hosts');
    writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey}\n`);
    const config = join(directory, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${join(directory, 'host_ed25519')}`,
        `PidFile ${join(directory, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(directory, 'authorized_keys')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        // The key files live in a temporary directory, not a home directory.
        'StrictModes no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    // sshd refuses to start without its privilege separation directory.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const log: string[] = [];
    child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (chunk: Buffer) => log.push(chunk.toString('utf8')));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`sshd did not start on 127.0.0.1:${port}: ${log.join('')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const identityFile = join(directory, 'client_ed25519');
    return {
      port,
      identityFile,
      knownHostsFile,
      sshArgs: [
        '-F',
        '/dev/null',
        '-i',
        identityFile,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'IdentityAgent=none',
        '-o',
        `UserKnownHostsFile=${knownHostsFile}`,
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        'StrictHostKeyChecking=yes',
      ],
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
