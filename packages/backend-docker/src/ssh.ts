import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { Duplex } from 'node:stream';

/** Where and how {@link SshAgent} runs `ssh`. */
export interface SshTarget {
  /** SSH host. */
  readonly host: string;
  /** SSH port. */
  readonly port: number;
  /** SSH user, or undefined for ssh's own default (`~/.ssh/config`, else the local user). */
  readonly username: string | undefined;
  /** Extra arguments for `ssh`, before the host (e.g. `['-i', key, '-o', 'UserKnownHostsFile=...']`). */
  readonly sshArgs: readonly string[];
}

/** Idle pooled connections (each an ssh process) end after this long without traffic. */
const IDLE_MS = 30_000;
/** How much of ssh's error output a failure message quotes. */
const STDERR_LIMIT = 2_000;

/**
 * An HTTP agent whose connections are `ssh [args] host docker system dial-stdio` processes,
 * as the docker CLI connects to `ssh://` engines: the system ssh applies `~/.ssh/config`,
 * `known_hosts` (host keys are checked; `BatchMode` refuses to prompt), keys and the agent.
 * Connections are kept alive and reused, so the many short calls of a busy backend do not each
 * pay an SSH handshake.
 */
export class SshAgent extends Agent {
  /** What this agent connects to. */
  readonly target: SshTarget;

  /** An agent for `target`; no process starts before the first request. */
  constructor(target: SshTarget) {
    super({ keepAlive: true, timeout: IDLE_MS });
    this.target = target;
  }

  /** Starts one ssh process and returns its stdio as the request's socket. */
  override createConnection(): Duplex {
    const { host, port, username, sshArgs } = this.target;
    const args = [
      '-o',
      'BatchMode=yes',
      '-p',
      String(port),
      ...(username === undefined ? [] : ['-l', username]),
      ...sshArgs,
      '--',
      host,
      'docker',
      'system',
      'dial-stdio',
    ];
    return new SshStream(spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] }), this.target);
  }
}

/** The `code` of errors from a failed ssh connection (see `toDdeError`). */
export const SSH_FAILED = 'DDE_SSH_FAILED';

/** One ssh process's stdin and stdout as a duplex stream, with the socket methods `http` calls. */
class SshStream extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(child: ChildProcessWithoutNullStreams, target: SshTarget) {
    super({ allowHalfOpen: false });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => {
      this.touch();
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < STDERR_LIMIT) this.stderr += chunk.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // the exit below reports why
    child.on('error', (error) => this.destroy(error));
    // 'close' comes after the exit and the end of output: a failed ssh (an unknown host key)
    // fails the request with ssh's reason instead of a bare "socket hang up".
    child.on('close', (code, signal) => {
      if (this.destroyed) return;
      const stderr = this.stderr.trim().slice(0, STDERR_LIMIT);
      if (code === 0) {
        this.push(null);
        return;
      }
      const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
      const where = `${target.username ? `${target.username}@` : ''}${target.host}:${target.port}`;
      this.destroy(
        Object.assign(new Error(`ssh to ${where} ${how}${stderr ? `: ${stderr}` : ''}`), {
          code: SSH_FAILED,
          stderr,
        }),
      );
    });
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.touch();
    // A write error (ssh already gone) is not the reason: the exit status and stderr are, and
    // 'close' reports them.
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
    callback(error);
  }

  // The socket methods http's client and agent call.

  setTimeout(ms: number, onTimeout?: () => void): this {
    this.idleMs = ms;
    if (onTimeout) {
      if (ms === 0) this.removeListener('timeout', onTimeout);
      else this.once('timeout', onTimeout);
    }
    this.touch();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    this.child.ref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      (stream as unknown as { ref?: () => void }).ref?.();
    }
    return this;
  }

  unref(): this {
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      (stream as unknown as { unref?: () => void }).unref?.();
    }
    return this;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.idleMs > 0) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleMs);
      this.idleTimer.unref();
    }
  }
}
