export * from './reasons.js';
export * from './packets.js';
