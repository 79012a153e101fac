import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { isDdeError } from '@dde/core';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_kp_clientAuth,
  id_kp_serverAuth,
  KeyUsage,
  KeyUsageFlags,
} from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeClientCertificates, writeServerCertificates } from './certificate-files.ts';
import { type DockerTlsBundle, generateDockerTlsCertificates } from './certificates.ts';

let bundle: DockerTlsBundle;
let otherBundle: DockerTlsBundle;
beforeAll(async () => {
  bundle = await generateDockerTlsCertificates({
    hostnames: ['localhost', 'docker.example.org'],
    ipAddresses: ['127.0.0.1', '::1'],
  });
  otherBundle = await generateDockerTlsCertificates({ hostnames: ['localhost'], ipAddresses: ['127.0.0.1'] });
});

describe('generateDockerTlsCertificates', () => {
  it('issues the server and client certificates from the per-host CA', () => {
    const ca = new X509Certificate(bundle.ca);
    const server = new X509Certificate(bundle.server.certificate);
    const client = new X509Certificate(bundle.client.certificate);
    expect(ca.ca).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    for (const leaf of [server, client]) {
      expect(leaf.ca).toBe(false);
      expect(leaf.checkIssued(ca)).toBe(true);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      // Another host's CA signed neither.
      expect(leaf.verify(new X509Certificate(otherBundle.ca).publicKey)).toBe(false);
    }
    // Each private key belongs to its certificate.
    expect(server.checkPrivateKey(createPrivateKey(bundle.server.privateKey))).toBe(true);
    expect(client.checkPrivateKey(createPrivateKey(bundle.client.privateKey))).toBe(true);
    expect(server.checkPrivateKey(createPrivateKey(bundle.client.privateKey))).toBe(false);
  });

  it('names the hostnames and addresses in the server certificate only', () => {
    const server = new X509Certificate(bundle.server.certificate);
    expect(server.subjectAltName).toBe(
      'DNS:localhost, DNS:docker.example.org, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(server.checkHost('docker.example.org')).toBe('docker.example.org');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('other.example.org')).toBeUndefined();
    expect(new X509Certificate(bundle.client.certificate).subjectAltName).toBeUndefined();
  });

  it('sets key usages: the CA signs certificates only, the server serves, the client authenticates', () => {
    const usages = (pem: string) => {
      const certificate = AsnConvert.parse(new X509Certificate(pem).raw, Certificate);
      const find = (id: string) => certificate.tbsCertificate.extensions?.find((item) => item.extnID === id);
      const basic = find(id_ce_basicConstraints);
      const keyUsage = find(id_ce_keyUsage);
      const extended = find(id_ce_extKeyUsage);
      const basicValue = basic && AsnConvert.parse(basic.extnValue, BasicConstraints);
      return {
        ca: basicValue?.cA,
        pathLength: basicValue?.pathLenConstraint,
        basicCritical: basic?.critical,
        keyUsage: keyUsage && AsnConvert.parse(keyUsage.extnValue, KeyUsage).toNumber(),
        keyUsageCritical: keyUsage?.critical,
        extended: extended && [...AsnConvert.parse(extended.extnValue, ExtendedKeyUsage)],
      };
    };
    expect(usages(bundle.ca)).toEqual({
      ca: true,
      pathLength: 0,
      basicCritical: true,
      keyUsage: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign,
      keyUsageCritical: true,
      extended: undefined,
    });
    expect(usages(bundle.server.certificate)).toEqual({
      ca: false,
      pathLength: undefined,
      basicCritical: true,
      keyUsage: KeyUsageFlags.digitalSignature,
      keyUsageCritical: true,
      extended: [id_kp_serverAuth],
    });
    expect(usages(bundle.client.certificate)).toEqual({
      ca: false,
      pathLength: undefined,
      basicCritical: true,
      keyUsage: KeyUsageFlags.digitalSignature,
      keyUsageCritical: true,
      extended: [id_kp_clientAuth],
    });
    // Node reads the same extended key usages.
    expect(new X509Certificate(bundle.server.certificate).keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(new X509Certificate(bundle.client.certificate).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('makes the certificates valid for the configured number of days', async () => {
    const notBefore = new Date('2026-03-01T12:00:00.750Z');
    const short = await generateDockerTlsCertificates({
      ipAddresses: ['10.0.0.5'],
      validityDays: 30,
      notBefore,
    });
    expect(short.notBefore.toISOString()).toBe('2026-03-01T12:00:00.000Z');
    expect(short.notAfter.toISOString()).toBe('2026-03-31T12:00:00.000Z');
    for (const pem of [short.ca, short.server.certificate, short.client.certificate]) {
      const certificate = new X509Certificate(pem);
      expect(new Date(certificate.validFrom).toISOString()).toBe('2026-03-01T12:00:00.000Z');
      expect(new Date(certificate.validTo).toISOString()).toBe('2026-03-31T12:00:00.000Z');
    }
    // The default: a year from five minutes ago.
    const server = new X509Certificate(bundle.server.certificate);
    const days = (Date.parse(server.validTo) - Date.parse(server.validFrom)) / 86_400_000;
    expect(days).toBe(365);
    expect(Date.now() - Date.parse(server.validFrom)).toBeGreaterThanOrEqual(4 * 60_000);
    expect(Date.now() - Date.parse(server.validFrom)).toBeLessThan(6 * 60_000);
  });

  it('gives every certificate its own random serial number', () => {
    const serials = [bundle.ca, bundle.server.certificate, bundle.client.certificate, otherBundle.ca].map(
      (pem) => new X509Certificate(pem).serialNumber,
    );
    expect(new Set(serials).size).toBe(4);
  });

  it.each([
    [
      { hostnames: ['docker.example.org'], validity: 3 },
      'validity',
      'is not a field of the certificate options',
    ],
    [{ hostnames: ['docker.example.org'], validitydays: 3 }, 'validitydays', 'did you mean validityDays?'],
    [{ hostnames: ['*.example.org'] }, 'hostnames[0]', 'no wildcards'],
    [{ hostnames: ['ok.example.org', 'bad_name'] }, 'hostnames[1]', 'is not a DNS name'],
    [{ ipAddresses: ['10.0.0.256'] }, 'ipAddresses[0]', 'is not an IPv4 or IPv6 address'],
    [{ hostnames: 'docker.example.org' }, 'hostnames', 'must be an array of strings'],
    [{}, 'hostnames', 'name at least one hostname or address'],
    [{ ipAddresses: ['10.0.0.1'], validityDays: 0 }, 'validityDays', 'from 1 to 3650'],
    [{ ipAddresses: ['10.0.0.1'], validityDays: 1.5 }, 'validityDays', 'whole number'],
    [{ ipAddresses: ['10.0.0.1'], name: 'a,b=c' }, 'name', 'letters, digits'],
    [{ ipAddresses: ['10.0.0.1'], notBefore: new Date('nope') }, 'notBefore', 'valid Date'],
  ])('refuses %j naming the field', async (options, field, message) => {
    const failure = await generateDockerTlsCertificates(options as never).catch((error: unknown) => error);
    expect(isDdeError(failure)).toBe(true);
    expect(failure).toMatchObject({ code: 'INVALID_OPTION', field });
    expect((failure as Error).message).toContain(message);
  });
});

describe('the certificates in a real TLS handshake', () => {
  const servers: Array<ReturnType<typeof createServer>> = [];
  afterAll(async () => {
    for (const server of servers) server.close();
  });

  /**
   * A mutual-TLS server on a loopback port that, like dockerd --tlsverify, talks only to clients
   * whose certificate verifies against `ca`; `refused` settles with OpenSSL's reason for the first
   * client it turned away.
   */
  async function listen(
    certificate: { certificate: string; privateKey: string },
    ca: string,
  ): Promise<{ port: number; refused: Promise<string> }> {
    let refuse: (reason: string) => void = () => {};
    const refused = new Promise<string>((resolve) => {
      refuse = resolve;
    });
    // rejectUnauthorized: false only so that the refusal below can record OpenSSL's reason; the
    // server still never answers an unverified client.
    const server = createServer(
      {
        cert: certificate.certificate,
        key: certificate.privateKey,
        ca,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (socket) => {
        if (socket.authorized) {
          socket.end('hello over mutual TLS');
          return;
        }
        refuse(String(socket.authorizationError));
        socket.destroy();
      },
    );
    server.on('tlsClientError', () => {});
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, refused };
  }

  /** Connects as a client with `certificate`, trusting `ca`; the greeting, or the error that ended the attempt. */
  async function talk(
    port: number,
    certificate: { certificate: string; privateKey: string },
    ca: string,
    checkHostname = true,
  ): Promise<string | Error> {
    return new Promise((resolve) => {
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca,
        cert: certificate.certificate,
        key: certificate.privateKey,
        ...(checkHostname ? {} : { checkServerIdentity: () => undefined }),
      });
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      socket.on('end', () => resolve(received));
      socket.on('error', (error) => {
        socket.destroy();
        resolve(error);
      });
    });
  }

  it('completes a mutual TLS handshake with the server and client certificates', async () => {
    const { port } = await listen(bundle.server, bundle.ca);
    expect(await talk(port, bundle.client, bundle.ca)).toBe('hello over mutual TLS');
  });

  it('refuses the client certificate presented as a server certificate', async () => {
    // Hostname checks are off so that only the certificate's purpose can fail the handshake.
    const { port } = await listen(bundle.client, bundle.ca);
    const failure = await talk(port, bundle.client, bundle.ca, false);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as NodeJS.ErrnoException).code).toBe('INVALID_PURPOSE');
  });

  it('makes the server refuse the server certificate presented as a client certificate', async () => {
    const { port, refused } = await listen(bundle.server, bundle.ca);
    // Under TLS 1.3 the client finishes its side first; the server's refusal ends the connection
    // without a byte of greeting.
    expect(await talk(port, bundle.server, bundle.ca)).not.toBe('hello over mutual TLS');
    expect(await refused).toBe('INVALID_PURPOSE');
  });

  it('makes the server refuse a client certificate from another host', async () => {
    const { port, refused } = await listen(bundle.server, bundle.ca);
    expect(await talk(port, otherBundle.client, bundle.ca)).not.toBe('hello over mutual TLS');
    expect(await refused).toMatch(
      /^(SELF_SIGNED_CERT_IN_CHAIN|CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
    );
  });

  it('makes a client refuse a server certificate from another host', async () => {
    const { port } = await listen(otherBundle.server, otherBundle.ca);
    const failure = await talk(port, bundle.client, bundle.ca);
    expect(failure).toBeInstanceOf(Error);
    // Both CAs carry the default name, so OpenSSL finds the wrong one by name and its signature fails.
    expect((failure as NodeJS.ErrnoException).code).toMatch(
      /^(SELF_SIGNED_CERT_IN_CHAIN|CERT_SIGNATURE_FAILURE|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/,
    );
  });
});

describe('writeClientCertificates and writeServerCertificates', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dde-aws-certs-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lays the client files out as DOCKER_CERT_PATH expects, mode 0600 in a 0700 directory', async () => {
    const files = await writeClientCertificates(join(dir, 'client', 'host-a'), bundle);
    expect(files).toEqual({
      dir: join(dir, 'client', 'host-a'),
      ca: join(dir, 'client', 'host-a', 'ca.pem'),
      cert: join(dir, 'client', 'host-a', 'cert.pem'),
      key: join(dir, 'client', 'host-a', 'key.pem'),
    });
    expect(await readFile(files.ca, 'utf8')).toBe(bundle.ca);
    expect(await readFile(files.cert, 'utf8')).toBe(bundle.client.certificate);
    expect(await readFile(files.key, 'utf8')).toBe(bundle.client.privateKey);
    for (const file of [files.ca, files.cert, files.key]) expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(files.dir)).mode & 0o777).toBe(0o700);
  });

  it('replaces existing files, a world-readable one included, with mode 0600 files', async () => {
    const target = join(dir, 'rotate');
    await writeClientCertificates(target, otherBundle);
    await writeFile(join(target, 'key.pem'), 'old', { mode: 0o644 });
    const files = await writeClientCertificates(target, bundle);
    expect(await readFile(files.key, 'utf8')).toBe(bundle.client.privateKey);
    expect((await stat(files.key)).mode & 0o777).toBe(0o600);
  });

  it('writes the server side under the names dockerd --tlscacert/--tlscert/--tlskey are given', async () => {
    const files = await writeServerCertificates(join(dir, 'server'), bundle);
    expect(files.cert).toBe(join(dir, 'server', 'server-cert.pem'));
    expect(await readFile(files.cert, 'utf8')).toBe(bundle.server.certificate);
    expect(await readFile(files.key, 'utf8')).toBe(bundle.server.privateKey);
    expect(await readFile(files.ca, 'utf8')).toBe(bundle.ca);
    for (const file of [files.ca, files.cert, files.key]) expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
