export { Broker, type BrokerDependencies } from './broker.js';
export type { Listener, ConnectionInfo, BrokerService, ServiceStatus, ClusterHooks } from './types.js';
export type { PeerRouting } from './router.js';
export { BrokerStats } from './stats.js';
export { CredentialExpiry, disconnectUser, recheckUserSubscriptions } from './user-revocation.js';
