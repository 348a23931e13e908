export { Bridge, type BridgeConfig, type BridgeStatus } from './bridge.js';
export { toLocal, toRemote, type BridgeTopicRule, type BridgeDirection } from './topic-map.js';
