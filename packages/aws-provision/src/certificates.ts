import { createHash, generateKeyPair, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { type FieldList, invalidOption, refuseUnknownFields } from '@dde/core';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';

/** Options of {@link generateDockerTlsCertificates}. */
export interface DockerTlsOptions {
  /** DNS names the server certificate is valid for (its subject alternative names). */
  readonly hostnames?: readonly string[];
  /** IPv4 or IPv6 addresses the server certificate is valid for. */
  readonly ipAddresses?: readonly string[];
  /** How long all three certificates stay valid, in whole days from `notBefore`. Default 365. */
  readonly validityDays?: number;
  /** A name for the host, written into the certificates' common names. Default `dde docker host`. */
  readonly name?: string;
  /**
   * When the certificates start being valid. Default: five minutes ago, so that an engine whose
   * clock runs slightly behind the caller's accepts them at once.
   */
  readonly notBefore?: Date;
}

/** A certificate and its private key, both PEM. */
export interface PemKeyPair {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  readonly certificate: string;
  /** Its unencrypted PKCS#8 private key, PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly privateKey: string;
}

/**
 * What {@link generateDockerTlsCertificates} makes: a CA that exists for one host only, a server
 * certificate for dockerd and a client certificate for whoever drives it. The CA's private key is
 * discarded once both are signed, so nobody (the caller included) can mint another certificate
 * that host trusts: rotating means generating a new bundle.
 */
export interface DockerTlsBundle {
  /** The CA certificate, PEM: `ca.pem` on both sides. */
  readonly ca: string;
  /** dockerd's certificate (extended key usage `serverAuth`, the hostnames and addresses as SANs). */
  readonly server: PemKeyPair;
  /** The client's certificate (extended key usage `clientAuth`). */
  readonly client: PemKeyPair;
  /** Start of validity, shared by the three certificates. */
  readonly notBefore: Date;
  /** End of validity, shared by the three certificates. */
  readonly notAfter: Date;
}

const OPTION_FIELDS: FieldList<DockerTlsOptions> = {
  hostnames: true,
  ipAddresses: true,
  validityDays: true,
  name: true,
  notBefore: true,
};

const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_VALIDITY_DAYS = 3650;
const COMMON_NAME = '2.5.4.3';
// ecdsa-with-SHA256 (RFC 5758): its AlgorithmIdentifier carries no parameters.
const SIGNATURE_ALGORITHM = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/**
 * Generates the certificates for a Docker Engine reached over mutual TLS: a per-host CA, a server
 * certificate naming the host's `hostnames` and `ipAddresses`, and a client certificate. Keys are
 * ECDSA P-256 and signatures ECDSA with SHA-256, both made by Node's crypto (OpenSSL);
 * `@peculiar/asn1-x509` only encodes the certificates.
 *
 * Throws `INVALID_OPTION` (naming the field) for an unknown field, a malformed hostname or address,
 * no name at all, or a validity outside 1..3650 days.
 */
export async function generateDockerTlsCertificates(options: DockerTlsOptions): Promise<DockerTlsBundle> {
  const settings = validateOptions(options);
  const caKeys = await generateKeys();
  const caName = distinguishedName(`${settings.name} CA`);
  const caKeyId = keyIdentifier(caKeys.publicKey);
  const signCertificate = (fields: CertificateFields): string =>
    issueCertificate(fields, { name: caName, keyId: caKeyId, privateKey: caKeys.privateKey }, settings);

  const ca = signCertificate({
    subject: caName,
    publicKey: caKeys.publicKey,
    extensions: [
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
    ],
  });
  const leaf = async (commonName: string, purpose: string, extra: Extension[]): Promise<PemKeyPair> => {
    const keys = await generateKeys();
    const certificate = signCertificate({
      subject: distinguishedName(commonName),
      publicKey: keys.publicKey,
      extensions: [
        extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
        // ECDSA keys sign the handshake; keyEncipherment belongs to RSA key exchange only.
        extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
        extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([purpose])),
        extension(
          id_ce_authorityKeyIdentifier,
          false,
          new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(caKeyId) }),
        ),
        ...extra,
      ],
    });
    return { certificate, privateKey: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  };
  const subjectAltNames = new SubjectAlternativeName([
    ...settings.hostnames.map((dNSName) => new GeneralName({ dNSName })),
    ...settings.ipAddresses.map((iPAddress) => new GeneralName({ iPAddress })),
  ]);
  const server = await leaf(settings.name, id_kp_serverAuth, [
    extension(id_ce_subjectAltName, false, subjectAltNames),
  ]);
  const client = await leaf(`${settings.name} client`, id_kp_clientAuth, []);
  return { ca, server, client, notBefore: settings.notBefore, notAfter: settings.notAfter };
}

interface CertificateFields {
  readonly subject: Name;
  readonly publicKey: KeyObject;
  readonly extensions: readonly Extension[];
}

interface Issuer {
  readonly name: Name;
  readonly keyId: Buffer;
  readonly privateKey: KeyObject;
}

/** Encodes and signs one X.509 v3 certificate; the signature comes from Node's OpenSSL. */
function issueCertificate(fields: CertificateFields, issuer: Issuer, validity: ValidatedOptions): string {
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    signature: SIGNATURE_ALGORITHM,
    issuer: issuer.name,
    validity: new Validity({ notBefore: validity.notBefore, notAfter: validity.notAfter }),
    subject: fields.subject,
    subjectPublicKeyInfo: AsnConvert.parse(
      fields.publicKey.export({ type: 'spki', format: 'der' }),
      SubjectPublicKeyInfo,
    ),
    extensions: new Extensions([
      ...fields.extensions,
      extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(fields.publicKey))),
    ]),
  });
  // Node signs ECDSA as the DER ECDSA-Sig-Value that X.509 carries.
  const signatureValue = sign('sha256', Buffer.from(AsnConvert.serialize(tbsCertificate)), issuer.privateKey);
  const certificate = new Certificate({
    tbsCertificate,
    signatureAlgorithm: SIGNATURE_ALGORITHM,
    signatureValue: toArrayBuffer(signatureValue),
  });
  // Parsing it back through Node both checks the encoding and gives the PEM.
  return new X509Certificate(Buffer.from(AsnConvert.serialize(certificate))).toString();
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function distinguishedName(commonName: string): Name {
  return new Name([
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: commonName }) }),
    ]),
  ]);
}

// RFC 5280 4.2.1.2 method 1: the SHA-1 of the subjectPublicKey bits (an identifier, not a security
// boundary).
function keyIdentifier(publicKey: KeyObject): Buffer {
  const info = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  return createHash('sha1').update(Buffer.from(info.subjectPublicKey)).digest();
}

const generateEcKeyPair = promisify(generateKeyPair);

// ECDSA P-256: accepted by dockerd (Go's crypto/tls), Node's TLS and the docker CLI, and its keys
// are generated in a millisecond where RSA-2048 takes a hundred.
function generateKeys(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return generateEcKeyPair('ec', { namedCurve: 'P-256' });
}

// 16 random bytes with the top bit cleared and the first byte non-zero: a positive serial whose
// DER encoding is minimal, unpredictable as RFC 5280 advises.
function serialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return toArrayBuffer(bytes);
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

interface ValidatedOptions {
  readonly hostnames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly name: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function validateOptions(options: DockerTlsOptions): ValidatedOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidOption('options', 'must be an object such as { hostnames: ["docker.example.org"] }');
  }
  refuseUnknownFields(options, OPTION_FIELDS, 'the certificate options', invalidOption);
  const hostnames = stringList(options.hostnames, 'hostnames');
  for (const [index, hostname] of hostnames.entries()) {
    if (!isDnsName(hostname)) {
      throw invalidOption(
        `hostnames[${index}]`,
        `"${hostname}" is not a DNS name (letters, digits and hyphens in dot-separated labels; no wildcards)`,
      );
    }
  }
  const ipAddresses = stringList(options.ipAddresses, 'ipAddresses');
  for (const [index, address] of ipAddresses.entries()) {
    if (isIP(address) === 0) {
      throw invalidOption(`ipAddresses[${index}]`, `"${address}" is not an IPv4 or IPv6 address`);
    }
  }
  if (hostnames.length + ipAddresses.length === 0) {
    throw invalidOption(
      'hostnames',
      'and ipAddresses are both empty: name at least one hostname or address the engine is reached at',
    );
  }
  const validityDays = options.validityDays ?? 365;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
    throw invalidOption('validityDays', `must be a whole number of days from 1 to ${MAX_VALIDITY_DAYS}`);
  }
  const name = options.name ?? 'dde docker host';
  // Kept to characters that need no escaping in a distinguished name.
  if (typeof name !== 'string' || !/^[\w .-]{1,56}$/.test(name)) {
    throw invalidOption('name', 'must be 1 to 56 letters, digits, spaces, dots, hyphens or underscores');
  }
  const notBefore = options.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  if (!(notBefore instanceof Date) || Number.isNaN(notBefore.getTime())) {
    throw invalidOption('notBefore', 'must be a valid Date');
  }
  // Certificates carry whole seconds: round so that notAfter reads back exactly as returned.
  const start = new Date(Math.floor(notBefore.getTime() / 1000) * 1000);
  return {
    hostnames,
    ipAddresses,
    name,
    notBefore: start,
    notAfter: new Date(start.getTime() + validityDays * DAY_MS),
  };
}

function stringList(value: unknown, field: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw invalidOption(field, 'must be an array of strings');
  }
  return value;
}

function isDnsName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((label) => DNS_LABEL.test(label));
}
