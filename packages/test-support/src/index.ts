export type { Cleanups } from './cleanups.ts';
export { cleanupsAfterEach } from './cleanups.ts';
export type { BuildImageOptions } from './docker.ts';
export {
  BUSYBOX_DOCKERFILE,
  buildImage,
  cleanupNamespace,
  describeWithDocker,
  dockerAvailable,
  localEngineSocket,
  NAMESPACE_LABEL,
  removeImage,
  requireDocker,
  testDocker,
  uniqueNamespace,
} from './docker.ts';
export type { EngineProxy, RecordedRequest } from './engine-proxy.ts';
export { startEngineProxy } from './engine-proxy.ts';
export type { Outgoing, Reply } from './proxy/client.ts';
export { echoOnce, openWebSocket, send } from './proxy/client.ts';
export { toolManager } from './proxy/memory-tool.ts';
export type { ProxyAdapter, ScenarioApp } from './proxy/scenarios.ts';
export { describeProxyScenarios } from './proxy/scenarios.ts';
export { buildHttpdImage, buildNodeToolImage, NODE_TOOL_SCRIPT } from './proxy/tool-images.ts';
export { freePort, redisAvailable, startRedis, type TestRedis } from './redis.ts';
export type { LocalRegistry } from './registry.ts';
export { REGISTRY_BINARY, registryAvailable, startRegistry } from './registry.ts';
export { eventually, fetchWhenReady } from './wait.ts';
