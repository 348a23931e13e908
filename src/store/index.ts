export * from './types.js';
export { MemoryStore } from './memory.js';
export { LevelStore, StoreOpenError, type LevelStoreOptions } from './level.js';
export { GroupCommitter, type CommitCallback, type CommitSink } from './group-commit.js';
export { CorruptRecordError, RECORD_VERSION } from './codec.js';
// The record codec, for a store backend outside this module (the cluster's engine store).
export { encodeMessage, decodeMessage, encodeOutgoing, decodeOutgoing, encodeSession, decodeSession, encodeSubscription, decodeSubscription } from './codec.js';
