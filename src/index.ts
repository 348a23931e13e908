/** Midge as a library: `createBroker(options)` → `listen()` / `close()`. */
export { createBroker, createStore, type CreateBrokerOptions } from './create-broker.js';
export { Broker } from './broker/index.js';
export type { Listener } from './broker/index.js';
export { ManualClock, systemClock, type Clock } from './clock/index.js';
export { resolveConfig, ConfigError, type BrokerConfig, type ConfigInput } from './config/index.js';
export { MemoryStore, LevelStore, type Store } from './store/index.js';
export { ReasonCode, MqttError } from './protocol/index.js';
export type { Authenticator, Authorizer } from './auth/index.js';
