export type { Coordination, LockOptions, LockOutcome, Reservation } from './coordination.ts';
export { MemoryCoordination, type MemoryCoordinationOptions } from './memory-coordination.ts';
