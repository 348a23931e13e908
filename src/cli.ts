#!/usr/bin/env node
/** The `midge` command: flags → config → broker; SIGINT/SIGTERM stop it cleanly. */
import { stringify as stringifyYaml } from 'yaml';
import { configFromEnv, ConfigError, loadConfigFile, mergeConfigInputs, parseFlags, redactConfig, resolveConfig, USAGE } from './config/index.js';
import { createBroker } from './create-broker.js';

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`midge: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (parsed.isHelp) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let broker;
  try {
    const configFile = parsed.configFile ?? process.env.MIDGE_CONFIG;
    const input = mergeConfigInputs(configFile ? loadConfigFile(configFile) : {}, configFromEnv(process.env), parsed.config);
    if (parsed.isPrintConfig) {
      process.stdout.write(stringifyYaml(redactConfig(resolveConfig(input))));
      return 0;
    }
    broker = createBroker(input);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`midge: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = broker.logger;
  // Handlers go in before listening: a signal that arrives during start-up still stops cleanly.
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'stopping');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  try {
    await broker.listen();
  } catch (error) {
    process.stderr.write(`midge: cannot start: ${(error as Error).message}\n`);
    return 1;
  }
  await stopRequested;
  await broker.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`midge: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
