export { FileHistory, type FileHistoryOptions } from './file-history.ts';
export {
  type ActivityRecord,
  type History,
  type HistoryQuery,
  type HttpActivity,
  selectRecords,
  type WebSocketActivity,
} from './history.ts';
export { MemoryHistory, type MemoryHistoryOptions } from './memory-history.ts';
