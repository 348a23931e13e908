export * from './config.js';
export { parseFlags, USAGE, type ParsedFlags } from './flags.js';
export { loadConfigFile, loadYaml, configFromEnv, mergeConfigInputs, redactConfig } from './load.js';
export * from './auth-config.js';
