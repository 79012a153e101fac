export type { EngineSummary } from './docker-backend.ts';
export { DockerBackend } from './docker-backend.ts';
export type {
  EngineClientOptions,
  EngineEndpoint,
  EngineTls,
  ResolvedEngine,
  ResolveEngineOptions,
  SocketEndpoint,
  SshEndpoint,
  TcpEndpoint,
} from './engine.ts';
export { createDockerClient, DEFAULT_SOCKET_PATH, dockerodeOptions, resolveEngine } from './engine.ts';
export {
  DEFAULT_DROPPED_CAPABILITIES,
  DEFAULT_MEMORY_LIMIT_FACTOR,
  DEFAULT_PIDS_LIMIT,
} from './hardening.ts';
export type { RegistryAuth, RegistryCredentials } from './image.ts';
export { namespaceNetworkName } from './network.ts';
export type { DockerBackendOptions, PullPolicy } from './options.ts';
export type { SshTarget } from './ssh.ts';
export { SshAgent } from './ssh.ts';
export type { UpstreamMode } from './upstream.ts';
export { VOLUME_CONTAINER_LABEL } from './volumes.ts';
