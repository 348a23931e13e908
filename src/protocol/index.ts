export * from './reasons.js';
export * from './packets.js';
export * from './fast-encode.js';
export * from './frames.js';
export * from './decoder.js';
export * from './encoder.js';
export * from './validate.js';
export * from './outgoing-topic-aliases.js';
