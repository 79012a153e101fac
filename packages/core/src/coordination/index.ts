export type {
  Coordination,
  LockOptions,
  LockOutcome,
  LockRan,
  LockTaken,
  Reservation,
} from './coordination.ts';
export { MemoryCoordination, type MemoryCoordinationOptions } from './memory-coordination.ts';
