export type { ClientCertificateFiles, ServerCertificateFiles } from './certificate-files.ts';
export { writeClientCertificates, writeServerCertificates } from './certificate-files.ts';
export type { DockerTlsBundle, DockerTlsOptions, PemKeyPair } from './certificates.ts';
export { generateDockerTlsCertificates } from './certificates.ts';
