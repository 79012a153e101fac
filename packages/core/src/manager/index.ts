export {
  ContainerManager,
  type ContainerManagerEvents,
  type ContainerManagerOptions,
  type PhaseChange,
  type RouteRemoved,
  type WaitOptions,
} from './container-manager.ts';
export type { ContainerPhase, Route, RouteFailure, UpstreamPoolOptions } from './route-table.ts';
