export * from './config.js';
export { parseFlags, USAGE, type ParsedFlags } from './flags.js';
