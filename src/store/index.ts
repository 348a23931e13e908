export * from './types.js';
export { MemoryStore } from './memory.js';
export { LevelStore, StoreOpenError, type LevelStoreOptions } from './level.js';
export { describeStoreHealth, GroupCommitter, type CommitCallback, type CommitLog, type CommitSink, type GroupCommitOptions, type StoreHealth } from './group-commit.js';
export { CorruptRecordError, RECORD_VERSION } from './codec.js';
// The record codec, for a store backend outside this module (the cluster's engine store).
export { encodeMessage, decodeMessage, encodeOutgoing, decodeOutgoing, encodeSession, decodeSession, encodeSubscription, decodeSubscription } from './codec.js';
export { checkStore, repairStore, isStoreSound, type StoreCheckReport, type RepairReport } from './check.js';
export { runStoreCommand } from './store-command.js';
