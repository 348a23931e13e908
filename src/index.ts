/** Midge as a library: `createBroker(config, parts)` → `listen()` / `close()`. */
import type { EmbeddedBroker } from './broker/index.js';
import { createBroker as assembleBroker, type BrokerParts, type CreateBrokerConfig } from './create-broker.js';

/** Builds a broker from its configuration and injected parts; the result is the public `Broker` interface, not the class. */
export const createBroker: (config?: CreateBrokerConfig, parts?: BrokerParts) => EmbeddedBroker = assembleBroker;
export { createStore, type BrokerParts, type CreateBrokerConfig, type CreateBrokerOptions } from './create-broker.js';
export type { EmbeddedBroker as Broker, BrokerAdmin, ClientConnection, ConnectionInfo, Listener, BrokerService } from './broker/index.js';
export { ManualClock, systemClock, type Clock } from './clock/index.js';
export { resolveConfig, ConfigError, type BrokerConfig, type ConfigInput } from './config/index.js';
export { MemoryStore, LevelStore, type Store } from './store/index.js';
export { ReasonCode, MqttError } from './protocol/index.js';
export type { Authenticator, Authorizer } from './auth/index.js';
