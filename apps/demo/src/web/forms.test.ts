import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DataFiles } from '../data/files.ts';
import type { LaunchForm } from './forms.ts';
import { readLaunchForm } from './forms.ts';

describe('readLaunchForm', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup() {
    const uploadDir = await mkdtemp(join(tmpdir(), 'dde-demo-forms-'));
    cleanups.push(() => rm(uploadDir, { recursive: true, force: true }));
    const files = await DataFiles.open({
      samplesDir: fileURLToPath(new URL('../../samples/', import.meta.url)),
      uploadDir,
      maxUploadBytes: 1024 * 1024,
    });
    let settled!: (outcome: PromiseSettledResult<LaunchForm>) => void;
    const outcome = new Promise<PromiseSettledResult<LaunchForm>>((resolve) => {
      settled = resolve;
    });
    const server: Server = createServer((req) => {
      readLaunchForm(req, files, 'alice').then(
        (value) => settled({ status: 'fulfilled', value }),
        (reason: unknown) => settled({ status: 'rejected', reason }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return { uploadDir, outcome, port: (server.address() as AddressInfo).port };
  }

  it('stores a complete upload with the fields', async () => {
    const { outcome, port } = await setup();
    const body =
      '--b\r\nContent-Disposition: form-data; name="tool"\r\n\r\nviewer\r\n' +
      '--b\r\nContent-Disposition: form-data; name="upload"; filename="../a.csv"\r\n\r\na,b\n1,2\n\r\n--b--\r\n';
    void fetch(`http://127.0.0.1:${port}/launch`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body,
    }).catch(() => {});
    const result = await outcome;
    expect(result.status).toBe('fulfilled');
    const form = (result as PromiseFulfilledResult<LaunchForm>).value;
    expect(form.fields).toEqual({ tool: 'viewer' });
    expect(form.upload).toMatchObject({ name: 'a.csv', bytes: 8, owner: 'alice' });
  });

  it('gives up on an upload whose client goes away, keeping no partial file', async () => {
    const { uploadDir, outcome, port } = await setup();

    // Half an upload, then the connection drops (a closed tab, a lost network).
    const socket = connect(port, '127.0.0.1');
    socket.write(
      'POST /launch HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=b\r\n' +
        'Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name="upload"; filename="a.csv"\r\n\r\n' +
        'a,b\n'.repeat(5000),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();

    const result = await Promise.race([
      outcome,
      new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 2000)),
    ]);
    expect(result).toMatchObject({ status: 'rejected' });
    expect(await readdir(uploadDir)).toEqual([]);
  });
});
