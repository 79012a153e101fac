export {
  ContainerManager,
  type ContainerManagerEvents,
  type ContainerManagerOptions,
  declaredTools,
  type LookupOptions,
  type PhaseChange,
  type PurgeOptions,
  type RemoveOptions,
  type RouteRemoved,
  type WaitOptions,
} from './container-manager.ts';
export type { CapacityOptions, CapacitySnapshot, CullingOptions, LimitOptions } from './policies.ts';
export type { ContainerPhase, Route, RouteFailure, UpstreamPoolOptions } from './route-table.ts';
