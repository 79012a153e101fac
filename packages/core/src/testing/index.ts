export type { ConformanceFixture, DeliveredInput } from './conformance.ts';
export { describeBackendConformance } from './conformance.ts';
export type { LifecycleFixture, LifecycleStore } from './lifecycle-conformance.ts';
export { describeLifecycleConformance } from './lifecycle-conformance.ts';
export type { BackendMethod, MemoryBackendOptions, MemoryContainer } from './memory-backend.ts';
export { MemoryBackend } from './memory-backend.ts';
export type { SharedStateFixture } from './shared-state-conformance.ts';
export { describeSharedStateConformance } from './shared-state-conformance.ts';
