export { Session, DeliveryOutcome, type SessionLink, type SessionLimits, type SessionEvents, type DropReason, type DeliveryOwner } from './session.js';
export type { OverflowPolicy } from './delivery-queue.js';
export { SessionRegistry } from './registry.js';
