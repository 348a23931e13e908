import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configFromEnv, ConfigError, firstListener, loadConfigFile, mergeConfigInputs, parseFlags, redactConfig, resolveConfig } from '../../src/config/index.js';
import { createBroker } from '../../src/index.js';
import { runCli } from '../helpers/process.js';
import { makeTempDir } from '../helpers/temp.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function file(name: string, text: string): Promise<string> {
  const dir = await makeTempDir('midge-config-');
  dirs.push(dir);
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('configuration', () => {
  it('defaults: loopback listener on 1883, level store under ./data', () => {
    const config = resolveConfig();
    expect(config.listeners).toEqual([{ type: 'mqtt', host: '127.0.0.1', port: 1883 }]);
    expect(config.store).toEqual({ type: 'level', fsync: false });
    expect(config.dataDir).toBe('./data');
  });

  it('reads YAML and JSON files in the design vocabulary', async () => {
    const yaml = await file('midge.yaml', 'dataDir: /var/lib/midge\nstore: { fsync: true }\nlimits:\n  maxInflight: 8\n');
    expect(loadConfigFile(yaml)).toEqual({ dataDir: '/var/lib/midge', store: { fsync: true }, limits: { maxInflight: 8 } });
    const json = await file('midge.json', JSON.stringify({ listeners: [{ type: 'mqtt', host: '::1', port: 0 }] }));
    expect(loadConfigFile(json).listeners).toEqual([{ type: 'mqtt', host: '::1', port: 0 }]);
  });

  it.each([
    ['limits:\n  maxInflght: 3\n', 'limits.maxInflght: unknown key'],
    ['limits:\n  maxInflight: "3"\n', 'limits.maxInflight'],
    ['limits:\n  maxInflight: 0\n', 'limits.maxInflight'],
    ['store: { type: redis }\n', 'store.type'],
    ['listeners:\n  - { type: mqtts, host: 0.0.0.0, port: 8883 }\n', 'listeners[0].cert'],
    ['logLevel: loud\n', 'logLevel'],
  ])('an invalid file %j fails with one line naming the key path', async (text, key) => {
    const p = await file('bad.yaml', text);
    const error = (() => {
      try {
        loadConfigFile(p);
        return undefined;
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toContain(key);
    expect(error!.message).not.toContain('\n');
  });

  it('environment: MIDGE_* in SCREAMING_SNAKE_CASE, __ between levels, numbers and booleans typed', () => {
    expect(configFromEnv({ MIDGE_DATA_DIR: '/d', MIDGE_LIMITS__MAX_INFLIGHT: '7', MIDGE_STORE__FSYNC: 'true', MIDGE_PORT: '2883', PATH: '/bin' })).toEqual({
      dataDir: '/d',
      limits: { maxInflight: 7 },
      store: { fsync: true },
      listeners: [{ type: 'mqtt', host: '127.0.0.1', port: 2883 }],
    });
    expect(() => configFromEnv({ MIDGE_LIMITS__NOPE: '1' })).toThrow(/MIDGE_\* \(limits\.nope\): unknown key/);
  });

  it('precedence: flags > environment > file > defaults', async () => {
    const fileInput = loadConfigFile(await file('p.yaml', 'dataDir: from-file\nlogLevel: warn\nlimits: { maxInflight: 1, maxQueuedMessages: 5 }\n'));
    const envInput = configFromEnv({ MIDGE_LOG_LEVEL: 'error', MIDGE_LIMITS__MAX_INFLIGHT: '2' });
    const flagInput = parseFlags(['--log-level', 'debug']).config;
    const config = resolveConfig(mergeConfigInputs(fileInput, envInput, flagInput));
    expect(config.dataDir).toBe('from-file');
    expect(config.logLevel).toBe('debug');
    expect(config.limits.maxInflight).toBe(2);
    expect(config.limits.maxQueuedMessages).toBe(5);
    expect(config.limits.maxPacketSize).toBe(1_048_576);
  });

  it('sources merge key by key at every level; lists are replaced whole; a section may take a required key from another source', async () => {
    const fileInput = loadConfigFile(await file('m.yaml', 'auth: { lockout: { maxFailures: 3 } }\ncluster: { servers: ["nats://127.0.0.1:4333"] }\n'));
    const envInput = configFromEnv({ MIDGE_AUTH__LOCKOUT__WINDOW_MS: '5000', MIDGE_CLUSTER__NODE_ID: 'n7' });
    const config = resolveConfig(mergeConfigInputs(fileInput, envInput, parseFlags(['--port', '2000']).config));
    expect(config.auth.lockout).toEqual({ maxFailures: 3, windowMs: 5000, durationMs: 300_000 });
    expect(config.cluster).toEqual({ nodeId: 'n7', engine: 'nats', servers: ['nats://127.0.0.1:4333'], replicas: 3, ackTimeoutMs: 5000 });
    expect(config.listeners).toEqual([{ type: 'mqtt', host: '127.0.0.1', port: 2000 }]);
    // The file alone names no node: only the merge is checked for it.
    expect(() => resolveConfig(fileInput)).toThrow(/cluster\.nodeId/);
  });

  it('firstListener: the one MQTT listener the flags, MIDGE_HOST/MIDGE_PORT and createBroker shorthand build', () => {
    expect(firstListener(undefined, undefined)).toEqual({ type: 'mqtt', host: '127.0.0.1', port: 1883 });
    expect(parseFlags(['--host', '::1']).config.listeners).toEqual([firstListener('::1', undefined)]);
    expect(configFromEnv({ MIDGE_PORT: '0' }).listeners).toEqual([firstListener(undefined, 0)]);
    expect(() => configFromEnv({ MIDGE_PORT: 'x' })).toThrow(/MIDGE_\* \(listeners\[0\]\.port\)/);
  });

  it('createBroker takes injected objects apart from configuration, and says so when one is passed as configuration', () => {
    expect(() => createBroker({ store: { type: 'memory' }, logger: undefined } as never)).toThrow(/^logger: an object, not configuration/);
    expect(() => createBroker({ store: { type: 'memory' }, storeInstance: {} } as never)).toThrow(ConfigError);
  });

  it('listeners without a port get their type’s usual one: 1883, 8883, 8080, 8081', async () => {
    const input = loadConfigFile(
      await file('l.yaml', 'listeners:\n  - { type: mqtt, host: 127.0.0.1 }\n  - { type: mqtts, host: 0.0.0.0, cert: c.pem, key: k.pem }\n  - { type: ws, host: 127.0.0.1 }\n  - { type: wss, host: 127.0.0.1, cert: c.pem, key: k.pem }\n'),
    );
    expect(resolveConfig(input).listeners.map((l) => l.port)).toEqual([1883, 8883, 8080, 8081]);
  });

  it('redacts secret-looking values when printing', () => {
    expect(redactConfig({ a: { password: 'hunter2', token: 't', host: 'h' } })).toEqual({ a: { password: '***', token: '***', host: 'h' } });
  });

  it('the command: --print-config prints the effective config; a bad file exits 2 with one line', async () => {
    const good = await file('ok.yaml', 'limits: { maxInflight: 9 }\n');
    const printed = await runCli(['--config', good, '--print-config']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/maxInflight: 9/);
    const bad = await file('bad.yaml', 'limits: { maxInflght: 9 }\n');
    const failed = await runCli(['--config', bad]);
    expect(failed.code).toBe(2);
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed.stderr).toContain('limits.maxInflght: unknown key');
  });
});
