export type { AwsCredentials, AwsOptions } from './aws.ts';
export type { ClientCertificateFiles, ServerCertificateFiles } from './certificate-files.ts';
export { writeClientCertificates, writeServerCertificates } from './certificate-files.ts';
export type { DockerTlsBundle, DockerTlsOptions, PemKeyPair } from './certificates.ts';
export { generateDockerTlsCertificates } from './certificates.ts';
export type { CliIo } from './cli/main.ts';
export { main } from './cli/main.ts';
export type { OutputStream } from './cli/progress.ts';
export type {
  CreateDockerHostOptions,
  DeleteDockerHostOptions,
  DeletedDockerHost,
  DockerEnv,
  DockerHost,
  DockerHostTarget,
} from './docker-host.ts';
export {
  certPathOf,
  createDockerHost,
  deleteDockerHost,
  describeDockerHost,
  exportLine,
  parameterPathOf,
} from './docker-host.ts';
export type {
  CreateEcsSetupOptions,
  DeleteEcsSetupOptions,
  EcsBackendSettings,
  EcsSetup,
  EcsSetupTarget,
} from './ecs-setup.ts';
export { createEcsSetup, deleteEcsSetup, describeEcsSetup } from './ecs-setup.ts';
export type { AttachPolicyOptions, PolicyKind, ResolvedPolicy, ResolvePolicyOptions } from './iam.ts';
export { attachPolicy, resolvePolicy } from './iam.ts';
export type { PortRange } from './options.ts';
export type {
  EcsRuntimePolicyOptions,
  PolicyDocument,
  PolicyStatement,
  ProvisioningPolicyOptions,
} from './policies.ts';
export { ecsRuntimePolicy, provisioningPolicy } from './policies.ts';
export type { StackProgress, StackWatchOptions } from './stacks.ts';
export { KIND_TAG, MANAGED_TAG, NAME_TAG } from './tags.ts';
