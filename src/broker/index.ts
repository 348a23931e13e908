export { Broker, type BrokerDependencies } from './broker.js';
export type { Listener } from './types.js';
export { BrokerStats } from './stats.js';
