export { Session, type SessionLink, type SessionLimits, type SessionEvents, type DropReason } from './session.js';
export { SessionRegistry } from './registry.js';
