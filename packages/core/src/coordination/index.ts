export type {
  AdmissionState,
  Coordination,
  Enqueued,
  LockOptions,
  LockOutcome,
  LockRan,
  LockTaken,
  QueueTicket,
  Reservation,
} from './coordination.ts';
export { MemoryCoordination, type MemoryCoordinationOptions } from './memory-coordination.ts';
