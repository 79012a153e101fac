export { FileHistory, type FileHistoryOptions } from './file-history.ts';
export type { ActivityRecord, History, HistoryQuery, HttpActivity, WebSocketActivity } from './history.ts';
export { MemoryHistory, type MemoryHistoryOptions } from './memory-history.ts';
