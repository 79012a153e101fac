import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Makes, with the openssl CLI, a CA (`ca.pem`, `ca-key.pem`), a server certificate for
 * 127.0.0.1 (`server-cert.pem`, `server-key.pem`) and a client certificate, the latter also as
 * `cert.pem`/`key.pem` as `DOCKER_CERT_PATH` expects. For tests of TLS fronts and refusals; the
 * engine tests use `@dde/aws-provision`'s generator, the one users run.
 */
export function makeTestCertificates(directory: string): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: 'ignore' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=dde-test-ca',
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
  );
  for (const [name, extension] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    writeFileSync(join(directory, `${name}.ext`), `${extension}\n`);
    run(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}-key.pem`,
      '-out',
      `${name}.csr`,
    );
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}-cert.pem`,
    );
  }
  writeFileSync(join(directory, 'cert.pem'), readFileSync(join(directory, 'client-cert.pem')));
  writeFileSync(join(directory, 'key.pem'), readFileSync(join(directory, 'client-key.pem')));
}
