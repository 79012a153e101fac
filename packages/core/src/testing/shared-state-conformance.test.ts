import { MemoryCoordination } from '../coordination/memory-coordination.ts';
import { MemoryHistory } from '../history/memory-history.ts';
import { describeSharedStateConformance } from './shared-state-conformance.ts';

describeSharedStateConformance('in-memory shared state', async () => {
  const history = new MemoryHistory({ maxRecordsPerContainer: 5 });
  const coordinationA = new MemoryCoordination();
  const coordinationB = new MemoryCoordination({ peerOf: coordinationA });
  return {
    historyA: history,
    historyB: history,
    coordinationA,
    coordinationB,
    settle: async () => {},
    cleanup: async () => {
      await coordinationA.close();
      await coordinationB.close();
    },
  };
});
