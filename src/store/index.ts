export * from './types.js';
export { MemoryStore } from './memory.js';
export { LevelStore, StoreOpenError, type LevelStoreOptions } from './level.js';
export { GroupCommitter, type CommitCallback, type CommitLog } from './group-commit.js';
export { CorruptRecordError, RECORD_VERSION } from './codec.js';
