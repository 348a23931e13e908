/**
 * Where configuration comes from, in order of precedence: flags > environment (`MIDGE_*`) >
 * config file (YAML or JSON) > defaults. Each source is checked against the schema on its own
 * (every key optional), so an error names the source and the key; resolveConfig then parses
 * their deep merge, which fills in the defaults.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, configInputSchema, firstListener, toConfigError, type ConfigInput } from './config.js';

export function loadConfigFile(file: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let data: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both. Loaded here, not at start-up: a broker
    // started without a config file does not pay its ~18 ms.
    data = loadYaml().parse(text) ?? {};
  } catch (error) {
    throw new ConfigError(file, `not valid YAML/JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  const result = configInputSchema.safeParse(data);
  if (!result.success) throw toConfigError(result.error, `${file}: `);
  // The file as written, not as parsed: defaults are filled in once, after the sources are merged.
  return data as ConfigInput;
}

/** `MIDGE_` + the key in SCREAMING_SNAKE_CASE, `__` between levels: MIDGE_LIMITS__MAX_INFLIGHT. */
function envKeyToPath(key: string): string[] {
  return key
    .slice('MIDGE_'.length)
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

/** Numbers and booleans are read as such; `listeners` takes JSON; anything else is a string. */
function envValue(raw: string): unknown {
  if (/^-?\d+$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw.startsWith('[') || raw.startsWith('{')) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/**
 * Reads MIDGE_* variables. MIDGE_HOST and MIDGE_PORT shape the first MQTT listener, as the
 * --host and --port flags do; MIDGE_CONFIG names the file and is not a key.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const input: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('MIDGE_') || raw === undefined || key === 'MIDGE_CONFIG' || key === 'MIDGE_HOST' || key === 'MIDGE_PORT') continue;
    if (key.startsWith('MIDGE_TEST_')) continue; // test-harness switches, not configuration
    if (key.startsWith('MIDGE_SECRET_')) continue; // secrets a connector names as ${env:MIDGE_SECRET_…}
    const path = envKeyToPath(key);
    let node = input;
    for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]!] = envValue(raw);
  }
  if (env.MIDGE_HOST !== undefined || env.MIDGE_PORT !== undefined) {
    // A port that is not a number is left to the schema, which names the key.
    input.listeners = [firstListener(env.MIDGE_HOST, env.MIDGE_PORT === undefined ? undefined : (envValue(env.MIDGE_PORT) as number))];
  }
  const result = configInputSchema.safeParse(input);
  if (!result.success) {
    const error = toConfigError(result.error);
    throw new ConfigError(`environment MIDGE_* (${error.key})`, error.message.slice(error.key.length + 2));
  }
  return input as ConfigInput;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Later inputs win; objects merge key by key at every level (a file's `auth.lockout.maxFailures`
 * survives an environment's `MIDGE_AUTH__LOCKOUT__WINDOW_MS`), lists (listeners, bridges,
 * connectors) are replaced whole, and `null` replaces (a `cluster: null` means a single node).
 */
export function mergeConfigInputs(...inputs: ConfigInput[]): ConfigInput {
  return inputs.reduce<Record<string, unknown>>((merged, input) => deepMerge(merged, input as Record<string, unknown>), {}) as ConfigInput;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = merged[key];
    merged[key] = isPlainObject(value) && isPlainObject(current) ? deepMerge(current, value) : value;
  }
  return merged;
}

/**
 * The effective config for printing, with anything secret-looking masked: password, token and
 * secret keys, a password inside a URL, and credential headers (Authorization, *-Key, *-Token).
 */
export function redactConfig<T>(config: T): T {
  const secretKeys = new Set(['password', 'token', 'secret']);
  const secretHeader = /^(authorization|proxy-authorization|cookie)$|(key|token|secret)$/i;
  return JSON.parse(JSON.stringify(config), function (this: Record<string, unknown>, key, value: unknown) {
    if (secretKeys.has(key) && value) return '***';
    if (key === 'url' && typeof value === 'string') return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
    if (key === 'headers' && value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).map(([name, v]) => [name, secretHeader.test(name) && name.toLowerCase() !== 'idempotency-key' ? '***' : v]));
    }
    return value;
  }) as T;
}

/** The `yaml` package, loaded (synchronously) the first time a config file is read or printed. */
export function loadYaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}
