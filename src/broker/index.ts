export { Broker, type BrokerDependencies } from './broker.js';
export type { Listener, ConnectionInfo, BrokerService, ServiceStatus } from './types.js';
export { BrokerStats } from './stats.js';
export { CredentialExpiry, disconnectUser, recheckUserSubscriptions } from './user-revocation.js';
