export { Broker, type BrokerDependencies } from './broker.js';
export type { Listener, ConnectionInfo } from './types.js';
export { BrokerStats } from './stats.js';
