export { Broker, type BrokerDependencies } from './broker.js';
export type { BrokerAdmin } from './admin.js';
export type { BrokerContext, ClientConnection, CloseReason } from './context.js';
export type { EmbeddedBroker } from './embedded.js';
export type { Listener, ConnectionInfo, BrokerService, ServiceStatus, ClusterHooks } from './types.js';
export type { PeerRouting, QueueRouting } from './router.js';
export { BrokerStats } from './stats.js';
export { CredentialExpiry, disconnectUser, recheckUserSubscriptions } from './user-revocation.js';
