#!/usr/bin/env node
/** The `midge` command: flags → config → broker; SIGINT/SIGTERM stop it cleanly. */
import { configFromEnv, ConfigError, type ConfigInput, loadConfigFile, loadYaml, mergeConfigInputs, parseFlags, redactConfig, resolveConfig, USAGE } from './config/index.js';
import { createBroker } from './create-broker.js';
import { runPasswdCommand } from './auth/index.js';
import { runStoreCommand } from './store/index.js';
import type { Broker } from './broker/index.js';

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'passwd') return runPasswdCommand(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  if (argv[0] === 'store') return runStoreCommand(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
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
      process.stdout.write(loadYaml().stringify(redactConfig(resolveConfig(input))));
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
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.on('SIGHUP', () => reload(broker, parsed.configFile ?? process.env.MIDGE_CONFIG, parsed.config));
  try {
    await broker.listen();
  } catch (error) {
    process.stderr.write(`midge: cannot start: ${(error as Error).message}\n`);
    return 1;
  }
  const signal = await stopRequested;
  logger.info({ signal, timeoutMs: broker.config.shutdownTimeoutMs }, 'stopping');
  // A second signal means "now": no more waiting for clients or the disk.
  const exitNow = (): void => {
    logger.warn('second signal: exiting at once');
    process.exit(1);
  };
  process.once('SIGINT', exitNow);
  process.once('SIGTERM', exitNow);
  const deadline = setTimeout(() => {
    logger.error({ timeoutMs: broker.config.shutdownTimeoutMs }, 'shutdown took too long: exiting');
    process.exit(1);
  }, broker.config.shutdownTimeoutMs);
  deadline.unref();
  await broker.close();
  clearTimeout(deadline);
  return 0;
}

/** SIGHUP: re-read the config file and environment; apply what is safe to change live. */
function reload(broker: Broker, configFile: string | undefined, flags: ConfigInput): void {
  try {
    const input = mergeConfigInputs(configFile ? loadConfigFile(configFile) : {}, configFromEnv(process.env), flags);
    broker.reload(resolveConfig(input));
  } catch (error) {
    broker.logger.error({ err: (error as Error).message }, 'reload failed; keeping the running configuration');
  }
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
