export * from './config.js';
export { parseFlags, USAGE, type ParsedFlags } from './flags.js';
export { loadConfigFile, configFromEnv, mergeConfigInputs, redactConfig } from './load.js';
