export { RedisCoordination } from './redis-coordination.ts';
export { RedisHistory } from './redis-history.ts';
export { RedisStore, type RedisStoreOptions } from './redis-store.ts';
