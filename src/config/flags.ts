/** Command-line flags of the `midge` command, turned into config input. */
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfig, firstListener, LOG_LEVELS, type ConfigInput, type LogLevel } from './config.js';

/** The defaults the usage text quotes: the schema's, not a second copy. */
const DEFAULTS = defaultConfig();

export interface ParsedFlags {
  config: ConfigInput;
  isHelp: boolean;
  /** --config: the YAML/JSON file to read. */
  configFile: string | undefined;
  isPrintConfig: boolean;
}

export const USAGE = `Usage: midge [options]
       midge passwd [-c] [-b] [-D] <file> <user> [password]
       midge store check|repair [--data-dir <path>]   (with the broker stopped)

  --config <file>       YAML or JSON config file (also MIDGE_CONFIG); flags and MIDGE_* win
  --print-config        print the effective configuration and exit

  --host <addr>         address of the MQTT listener (default ${DEFAULTS.listeners[0]!.host})
  --port <n>            port of the MQTT listener, 0 = any free port (default ${DEFAULTS.listeners[0]!.port})
  --data-dir <path>     where the store keeps its files (default ${DEFAULTS.dataDir})
  --store <type>        level (default, durable) or memory
  --fsync               sync every commit batch to disk (survives power loss)
  --max-packet-size <n> largest MQTT packet accepted, bytes (default ${DEFAULTS.limits.maxPacketSize})
  --max-connections <n> most simultaneous connections (default ${DEFAULTS.limits.maxConnections})
  --allow-anonymous     accept anonymous clients on a non-loopback --host
  --log-level <level>   ${LOG_LEVELS.join(' | ')} (default ${DEFAULTS.logLevel})
  -h, --help            this text`;

function parseInteger(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(flag, `expected a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new ConfigError('--port', `expected an integer from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

export function parseFlags(argv: readonly string[]): ParsedFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        store: { type: 'string' },
        fsync: { type: 'boolean' },
        'allow-anonymous': { type: 'boolean' },
        'max-packet-size': { type: 'string' },
        'max-connections': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        config: { type: 'string' },
        'print-config': { type: 'boolean' },
      },
    }));
  } catch (error) {
    // parseArgs names the offending flag in its message.
    throw new ConfigError('flags', (error as Error).message);
  }
  const config: ConfigInput = {};
  if (values.host !== undefined || values.port !== undefined) {
    if (values.host === '') throw new ConfigError('--host', 'expected a host name or address');
    config.listeners = [firstListener(values.host, values.port === undefined ? undefined : parsePort(values.port))];
  }
  if (values['data-dir'] !== undefined) {
    if (values['data-dir'] === '') throw new ConfigError('--data-dir', 'expected a path');
    config.dataDir = values['data-dir'];
  }
  if (values.store !== undefined) {
    if (values.store !== 'level' && values.store !== 'memory') {
      throw new ConfigError('--store', `expected level or memory, got ${JSON.stringify(values.store)}`);
    }
    config.store = { type: values.store };
  }
  if (values.fsync) config.store = { ...config.store, fsync: true };
  if (values['allow-anonymous']) config.auth = { allowAnonymous: true };
  if (values['max-packet-size'] !== undefined) config.limits = { ...config.limits, maxPacketSize: parseInteger('--max-packet-size', values['max-packet-size']) };
  if (values['max-connections'] !== undefined) config.limits = { ...config.limits, maxConnections: parseInteger('--max-connections', values['max-connections']) };
  if (values['log-level'] !== undefined) {
    if (!LOG_LEVELS.includes(values['log-level'] as LogLevel)) {
      throw new ConfigError('--log-level', `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(values['log-level'])}`);
    }
    config.logLevel = values['log-level'] as LogLevel;
  }
  if (values.config === '') throw new ConfigError('--config', 'expected a file path');
  return { config, isHelp: values.help === true, configFile: values.config, isPrintConfig: values['print-config'] === true };
}
