import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';

const README = fileURLToPath(new URL('../README.md', import.meta.url));
// Inside the package so that the example's `@dde/aws-provision` import resolves; gitignored.
const script = fileURLToPath(new URL(`../.readme-example-certificates-${process.pid}.ts`, import.meta.url));
let certRoot: string;

beforeAll(async () => {
  certRoot = await mkdtemp(join(tmpdir(), 'dde-aws-readme-'));
});
afterAll(async () => {
  await rm(script, { force: true });
  await rm(certRoot, { recursive: true, force: true });
});

/** The TypeScript block after the `readme-example certificates` marker. */
async function readmeExample(): Promise<string> {
  const text = await readFile(README, 'utf8');
  const match = /<!-- readme-example certificates -->\s*```ts\n([\s\S]*?)```/.exec(text);
  if (!match?.[1]) throw new Error('README.md has no certificates example');
  return match[1];
}

it('runs the README certificate example, whose files make a working mutual TLS pair', async () => {
  await writeFile(script, `const certRoot = ${JSON.stringify(certRoot)};\n${await readmeExample()}`);
  const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=dev-source', script], {
    timeout: 30_000,
  });
  const [daemon, exportLine, notAfter] = stdout.trim().split('\n');
  const server = join(certRoot, 'server');
  const client = join(certRoot, 'client');
  expect(daemon).toBe(
    `dockerd --tlsverify --tlscacert ${server}/ca.pem --tlscert ${server}/server-cert.pem --tlskey ${server}/server-key.pem -H tcp://127.0.0.1:2376`,
  );
  expect(exportLine).toBe(
    `export DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${client}`,
  );
  const days = (Date.parse(notAfter ?? '') - Date.now()) / 86_400_000;
  expect(days).toBeGreaterThan(89.99);
  expect(days).toBeLessThan(90);
  for (const file of ['ca.pem', 'cert.pem', 'key.pem']) {
    expect((await stat(join(client, file))).mode & 0o777).toBe(0o600);
  }

  // The written files work together exactly as dockerd and the docker CLI would use them.
  const read = (dir: string, file: string) => readFile(join(dir, file), 'utf8');
  const tlsServer = createServer(
    {
      ca: await read(server, 'ca.pem'),
      cert: await read(server, 'server-cert.pem'),
      key: await read(server, 'server-key.pem'),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => socket.end('ok'),
  );
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  try {
    const socket = connect({
      host: '127.0.0.1',
      port: (tlsServer.address() as AddressInfo).port,
      ca: await read(client, 'ca.pem'),
      cert: await read(client, 'cert.pem'),
      key: await read(client, 'key.pem'),
    });
    socket.setEncoding('utf8');
    let greeting = '';
    socket.on('data', (chunk: string) => {
      greeting += chunk;
    });
    await once(socket, 'end');
    expect(greeting).toBe('ok');
  } finally {
    tlsServer.close();
  }
});
