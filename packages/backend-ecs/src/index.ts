export { EcsBackend } from './ecs-backend.ts';
export type { FargateSize } from './fargate.ts';
export { fargateSize } from './fargate.ts';
export type {
  EcsBackendOptions,
  EcsCredentials,
  LaunchType,
  NetworkMode,
  TaskDefinitionRelease,
  UpstreamAddress,
} from './options.ts';
export { DEFAULT_INPUT_WRITER_IMAGE, validateEcsBackendOptions } from './options.ts';
export { MAX_OVERRIDES_CHARACTERS } from './task-definition.ts';
