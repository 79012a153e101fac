export type {
  BackendCapabilities,
  BackendEvent,
  ContainerBackend,
  ContainerDiedEvent,
  ContainerEventBase,
  ContainerHealthEvent,
  ContainerInfo,
  ContainerLifecycleEvent,
  ContainerNetworkEvent,
  ContainerPauseEvent,
  ContainerState,
  LaunchOptions,
  LaunchProgress,
  LayerProgress,
  LogEntry,
  LogOptions,
  OperationOptions,
  ReadinessSettings,
  ResyncEvent,
  Upstream,
} from './backend.ts';
export * from './coordination/index.ts';
export type { DdeErrorCode, DdeErrorOptions } from './errors.ts';
export {
  abortError,
  DdeError,
  httpStatusOf,
  invalidOption,
  invalidSpec,
  isDdeError,
  throwIfAborted,
} from './errors.ts';
export * from './history/index.ts';
export type {
  EnvInputOptions,
  FileInputOptions,
  InputContext,
  InputDelivery,
  InputPlan,
  PlannedFile,
  UrlInputOptions,
} from './input.ts';
export { envInput, fileInput, MAX_ENV_STRING_BYTES, planInputs, urlInput } from './input.ts';
export type { JsonValue } from './json.ts';
export type { FieldList } from './known-fields.ts';
export { refuseUnknownFields } from './known-fields.ts';
export type { ManagedLabels } from './labels.ts';
export {
  DEFAULT_NAMESPACE,
  LABELS,
  labelsFor,
  namespaceFilter,
  parseLabels,
  specHash,
  validateNamespace,
} from './labels.ts';
export type {
  CapacityCandidate,
  CapacityDecision,
  CapacityRequest,
  OverBudgetPolicy,
} from './lifecycle/capacity.ts';
export { evictionOrder, planCapacity } from './lifecycle/capacity.ts';
export type { CullCandidate, CullDecision, CullPolicy, CullReason } from './lifecycle/culling.ts';
export { selectForCulling } from './lifecycle/culling.ts';
export { formatDuration, parseDuration } from './lifecycle/duration.ts';
export type { Logger } from './lifecycle/logger.ts';
export { silentLogger } from './lifecycle/logger.ts';
export type { MetricsOptions, RemovalReason } from './lifecycle/metrics.ts';
export { DdeMetrics } from './lifecycle/metrics.ts';
export * from './manager/index.ts';
export type { LaunchPlan } from './plan.ts';
export { planLaunch } from './plan.ts';
export * from './proxy/index.ts';
export * from './routing/index.ts';
export type { ResolvedSecurity, SecuritySpec } from './security.ts';
export { LINUX_CAPABILITIES } from './security.ts';
export type { ContainerSpec, ReadinessSpec, ResolvedSpec } from './spec.ts';
export {
  DEFAULT_READINESS_TIMEOUT_MS,
  isValidName,
  normalizeImage,
  validateContainerPath,
  validateName,
  validateSpec,
} from './spec.ts';
export type {
  UpstreamClient,
  UpstreamPoolOptions,
  UpstreamPoolStats,
  UpstreamRequestOptions,
  UpstreamResponse,
} from './upstream/pool.ts';
