export type { Cleanups } from './cleanups.ts';
export { cleanupsAfterEach } from './cleanups.ts';
export type { BuildImageOptions, ExecResult } from './docker.ts';
export {
  BUSYBOX_DOCKERFILE,
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  dockerAvailable,
  execIn,
  localEngineSocket,
  NAMESPACE_LABEL,
  removeImage,
  requireDocker,
  testDocker,
  uniqueNamespace,
} from './docker.ts';
export type {
  EcsEmulator,
  EcsEmulatorFaults,
  EcsEmulatorOptions,
  RecordedCall,
} from './ecs-emulator/index.ts';
export {
  EMULATOR_LABEL,
  OVERRIDES_LIMIT,
  removeEcsEmulatorLeftovers,
  startEcsEmulator,
} from './ecs-emulator/index.ts';
export type { EngineProxy, RecordedRequest } from './engine-proxy.ts';
export { startEngineProxy } from './engine-proxy.ts';
export { describeManagerLifecycle, type ManagerLifecycleFixture } from './manager-lifecycle.ts';
export { freePort } from './ports.ts';
export type { Outgoing, Reply } from './proxy/client.ts';
export { echoOnce, openWebSocket, send } from './proxy/client.ts';
export { buildFaultToolImage, FAULT_TOOL_SCRIPT } from './proxy/fault-tool.ts';
export { toolManager } from './proxy/memory-tool.ts';
export type { ProxyAdapter, ScenarioApp } from './proxy/scenarios.ts';
export { describeProxyScenarios } from './proxy/scenarios.ts';
export type { ServedManager } from './proxy/serve.ts';
export { serveManager } from './proxy/serve.ts';
export type { ShutdownApp } from './proxy/shutdown.ts';
export { expectGracefulShutdown, expectRefusedWhileDraining } from './proxy/shutdown.ts';
export {
  buildHttpdImage,
  buildNodeScriptImage,
  buildNodeToolImage,
  NODE_TOOL_SCRIPT,
} from './proxy/tool-images.ts';
export {
  describeWithDockerAndRedis,
  describeWithRedis,
  redisAvailable,
  skippedWithoutRedis,
  startRedis,
  type TestRedis,
} from './redis.ts';
export type { LocalRegistry } from './registry.ts';
export { REGISTRY_BINARY, registryAvailable, startRegistry } from './registry.ts';
export type { SshServer, SshServerOptions } from './ssh-server.ts';
export { sshServerUnavailable, startSshServer } from './ssh-server.ts';
export type { TestEngine, TestEngineOptions, TestEngineTls } from './test-engine.ts';
export { describeWithTestEngine, startTestEngine, testEngineUnavailable } from './test-engine.ts';
export { makeTestCertificates } from './tls.ts';
export { eventually, fetchWhenReady } from './wait.ts';
