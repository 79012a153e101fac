import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DockerTlsBundle } from './certificates.ts';

/** Where {@link writeClientCertificates} put the client's files. */
export interface ClientCertificateFiles {
  /** The directory: the value of `DOCKER_CERT_PATH`. */
  readonly dir: string;
  /** `<dir>/ca.pem`. */
  readonly ca: string;
  /** `<dir>/cert.pem`. */
  readonly cert: string;
  /** `<dir>/key.pem`. */
  readonly key: string;
}

/** Where {@link writeServerCertificates} put dockerd's files. */
export interface ServerCertificateFiles {
  /** The directory. */
  readonly dir: string;
  /** `<dir>/ca.pem`: dockerd's `--tlscacert`. */
  readonly ca: string;
  /** `<dir>/server-cert.pem`: dockerd's `--tlscert`. */
  readonly cert: string;
  /** `<dir>/server-key.pem`: dockerd's `--tlskey`. */
  readonly key: string;
}

/**
 * Writes the client side of `bundle` as the docker CLI and `DOCKER_CERT_PATH` expect:
 * `ca.pem`, `cert.pem` and `key.pem`, each mode 0600, in `dir` (created mode 0700 if missing).
 * Existing files are replaced atomically, so a reader never sees half a key.
 */
export async function writeClientCertificates(
  dir: string,
  bundle: DockerTlsBundle,
): Promise<ClientCertificateFiles> {
  const target = resolve(dir);
  const files = {
    dir: target,
    ca: join(target, 'ca.pem'),
    cert: join(target, 'cert.pem'),
    key: join(target, 'key.pem'),
  };
  await writeAll(target, [
    [files.ca, bundle.ca],
    [files.cert, bundle.client.certificate],
    [files.key, bundle.client.privateKey],
  ]);
  return files;
}

/**
 * Writes the server side of `bundle` for a dockerd started with
 * `--tlsverify --tlscacert <ca> --tlscert <cert> --tlskey <key>`: `ca.pem`, `server-cert.pem` and
 * `server-key.pem`, each mode 0600, in `dir` (created mode 0700 if missing).
 */
export async function writeServerCertificates(
  dir: string,
  bundle: DockerTlsBundle,
): Promise<ServerCertificateFiles> {
  const target = resolve(dir);
  const files = {
    dir: target,
    ca: join(target, 'ca.pem'),
    cert: join(target, 'server-cert.pem'),
    key: join(target, 'server-key.pem'),
  };
  await writeAll(target, [
    [files.ca, bundle.ca],
    [files.cert, bundle.server.certificate],
    [files.key, bundle.server.privateKey],
  ]);
  return files;
}

async function writeAll(dir: string, entries: ReadonlyArray<readonly [string, string]>): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [path, content] of entries) {
    // A fresh temporary file gets mode 0600 at creation (writeFile's mode does not change an
    // existing file's), and the rename replaces the old file in one step.
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
